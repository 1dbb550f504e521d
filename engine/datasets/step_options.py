"""The options of the dataset steps that have tunable numbers, declared once
(``engine.core.options``): the RPC methods, the CLI flags, the jobs and the GUI's dialogs
(``data.step_options``) all take their defaults and limits from here. Kept free of heavy imports
so the CLI can build its flags from it at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.core.errors import UserError
from engine.core.options import Options, option


def _max_tokens(value: Any) -> int | str:
    if value == "context":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UserError('max_tokens must be a whole number of tokens (0 or more) or "context".')
    return value


def _regex(value: Any) -> str:
    from engine.datasets.filters import compile_pattern

    if not isinstance(value, str) or not value:
        raise UserError("include and exclude must be regular expressions.")
    compile_pattern(value)
    return value


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise UserError(f"A split fraction is a share of the rows from 0 to 1, not {value!r}.")
    return float(value)


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


@dataclass
class FilterOptions(Options):
    WHAT = "filter option"

    min_tokens: int | None = option(None, "drop rows shorter than this many tokens",
                                    range=(0, 10_000_000))  # fmt: skip
    max_tokens: int | str | None = option(
        None, 'drop rows longer than this many tokens, or "context": longer than the model\'s '
        "context window", check=_max_tokens,
    )  # fmt: skip
    model_id: str | None = option(None, "count tokens with this model's tokenizer and template "
                                  "(default: an estimate)")  # fmt: skip
    include: str | None = option(None, "keep only rows matching this regular expression",
                                 check=_regex)  # fmt: skip
    exclude: str | None = option(None, "drop rows matching this regular expression", check=_regex)
    field: str | None = option(None, "apply the regular expressions to this field only")
    drop_empty: bool = option(False, "drop rows with an empty or missing field")
    empty_fields: list[str] | None = option(None, "the fields checked for emptiness (default: "
                                            "the format's required ones)")  # fmt: skip

    def validate(self) -> None:
        if self.max_tokens == "context" and not self.model_id:
            raise UserError('max_tokens="context" needs a model whose context window to use.')
        chosen = (self.min_tokens, self.max_tokens, self.include, self.exclude, self.empty_fields)
        if not self.drop_empty and all(v in (None, []) for v in chosen):
            raise UserError("Choose at least one filter: min_tokens, max_tokens, include, "
                            "exclude, drop_empty or empty_fields.")  # fmt: skip


SPLITS = ("train", "validation", "test")


@dataclass
class SplitOptions(Options):
    WHAT = "split option"

    train: float = option(0.8, "share of the rows for training", check=_fraction)
    validation: float = option(0.1, "share of the rows for validation", check=_fraction)
    test: float = option(0.1, "share of the rows for the test split", check=_fraction)
    seed: int = option(0, "shuffle seed: the same seed gives the same split", range=(0, 2**31 - 1))
    stratify_by: str | None = option(None, "keep this field's values in the same proportions in "
                                     "every split")  # fmt: skip

    @classmethod
    def ratios_of(cls, params: dict[str, Any]) -> dict[str, float]:
        """The shares to cut: the defaults when none is given, else only the ones given."""
        opts = cls.from_params(params)
        names = [n for n in SPLITS if params.get(n) is not None] or list(SPLITS)
        ratios = {n: getattr(opts, n) for n in names}
        total = sum(ratios.values())
        if total <= 0 or total > 1.0001:
            raise UserError(
                f"The split fractions add up to {total:g}; they must add up to at most 1."
            )
        return {k: v for k, v in ratios.items() if v > 0}


STEP_OPTIONS: dict[str, type[Options]] = {
    "dedup": DedupOptions,
    "contamination": ContaminationOptions,
    "filter": FilterOptions,
    "split": SplitOptions,
}
