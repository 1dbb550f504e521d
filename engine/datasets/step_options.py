"""The options of the dataset steps that have tunable numbers, declared once
(``engine.core.options``): the RPC methods, the CLI flags, the jobs and the GUI's dialogs
(``data.step_options``) all take their defaults and limits from here. Kept free of heavy imports
so the CLI can build its flags from it at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.options import Options, option


@dataclass
class DedupOptions(Options):
    WHAT = "dedup option"

    near: bool = option(False, "near duplicates (MinHash + LSH) instead of exact ones")
    threshold: float = option(0.8, "Jaccard similarity of word 3-grams at which two rows count "
                              "as near duplicates; lower finds more", range=(0.05, 1.0))  # fmt: skip
    num_perm: int = option(128, "MinHash permutations (more = a closer estimate, slower)",
                           range=(16, 1024))  # fmt: skip
    ngram: int = option(3, "words per shingle", range=(1, 20))
    field: str | None = option(None, "compare this field only (default: the whole row's text)")
    dry_run: bool = option(False, "list the clusters, remove nothing")
    seed: int = option(1, "MinHash seed", range=(0, 2**31 - 1))


@dataclass
class ContaminationOptions(Options):
    WHAT = "contamination option"

    eval_id: str | None = option(None, "the evaluation dataset (default: this one's splits)")
    split: str | None = option(None, "the training split (default: train)")
    eval_split: str | None = option(None, "the evaluation split (default: every other split)")
    ngram: int = option(8, "words per n-gram (8 or 13 are usual)", range=(3, 50))
    min_overlap: float = option(
        0.0, "share of a row's n-grams found in the evaluation rows above which it leaks",
        range=(0.0, 1.0),
    )  # fmt: skip
    remove: bool = option(False, "remove the leaking rows")


STEP_OPTIONS: dict[str, type[Options]] = {
    "dedup": DedupOptions,
    "contamination": ContaminationOptions,
}
