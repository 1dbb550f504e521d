"""Reference metrics per row and over a set, with bootstrap confidence intervals.

Each metric comes from the library that defines it, so a figure here equals the one a paper
reports with that library:

- ``exact_match`` and ``f1``: SQuAD v1.1's answer normalisation (lower case, no punctuation, no
  articles, single spaces) and token-overlap F1, as in its official evaluation script;
- ``bleu`` and ``chrf``: sacrebleu's corpus BLEU (13a tokenizer) and chrF over the set; per row,
  its sentence scores;
- ``rouge1``, ``rouge2``, ``rougeL``: Google's ``rouge-score`` F-measures with the Porter stemmer;
- ``similarity``: cosine of the bundled sentence embedder's vectors of prediction and reference.

Aggregates are means of the row scores, except BLEU and chrF, which are corpus statistics (their
per-row n-gram counts summed, as sacrebleu does). Confidence intervals are the 2.5th and 97.5th
percentiles of 1,000 bootstrap resamples of the rows (seeded: the same rows give the same
interval); for BLEU and chrF each resample recomputes the corpus score from the summed counts.
"""

from __future__ import annotations

import functools
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from engine.core.errors import UserError

METRICS = ("exact_match", "f1", "bleu", "chrf", "rouge", "similarity")
ROUGE = ("rouge1", "rouge2", "rougeL")
RESAMPLES = 1000
SEED = 1234


def expand(names: Sequence[str]) -> list[str]:
    """Metric names as stored: ``rouge`` stands for its three F-measures."""
    unknown = [n for n in names if n not in METRICS and n not in ROUGE]
    if unknown:
        raise UserError(f"Unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}.")
    out: list[str] = []
    for n in names:
        for m in ROUGE if n == "rouge" else (n,):
            if m not in out:
                out.append(m)
    return out


# -- SQuAD -------------------------------------------------------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(reference).split()
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if not pred or not ref:
        return float(pred == ref)
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


# -- sacrebleu ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _sacre(name: str) -> Any:
    from sacrebleu.metrics import BLEU, CHRF

    return BLEU(effective_order=True) if name == "bleu" else CHRF()


def corpus_stats(name: str, predictions: Sequence[str], references: Sequence[str]) -> Any:
    """Per-row sufficient statistics (numpy [rows, k]) whose sum gives the corpus score."""
    import numpy as np

    metric = _sacre(name)
    return np.asarray(metric._extract_corpus_statistics(list(predictions), [list(references)]))


def corpus_score(name: str, stats: Any) -> float:
    metric = _sacre(name)
    if name == "bleu":
        metric = _corpus_bleu()
    return float(metric._compute_score_from_stats(list(stats.sum(0))).score)


def _corpus_bleu() -> Any:
    from sacrebleu.metrics import BLEU

    return BLEU()  # corpus BLEU: effective order is for single sentences


def sentence_score(name: str, prediction: str, reference: str) -> float:
    return float(_sacre(name).sentence_score(prediction, [reference]).score)


# -- rouge-score -------------------------------------------------------------------------------
def rouge_rows(predictions: Sequence[str], references: Sequence[str]) -> dict[str, list[float]]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(ROUGE), use_stemmer=True)
    out: dict[str, list[float]] = {m: [] for m in ROUGE}
    for p, r in zip(predictions, references, strict=True):
        scores = scorer.score(r, p)  # (target, prediction)
        for m in ROUGE:
            out[m].append(float(scores[m].fmeasure))
    return out


# -- all of them -------------------------------------------------------------------------------
def score_rows(names: Sequence[str], predictions: Sequence[str], references: Sequence[str],
               embed: Callable[[list[str]], Any] | None = None) -> dict[str, list[float]]:  # fmt: skip
    """Per-row scores of each metric (0..1 for EM, F1, ROUGE, similarity; 0..100 for BLEU, chrF)."""
    out: dict[str, list[float]] = {}
    wanted = expand(names)
    if "exact_match" in wanted:
        out["exact_match"] = [exact_match(p, r) for p, r in zip(predictions, references, strict=True)]  # fmt: skip
    if "f1" in wanted:
        out["f1"] = [token_f1(p, r) for p, r in zip(predictions, references, strict=True)]
    for name in ("bleu", "chrf"):
        if name in wanted:
            out[name] = [sentence_score(name, p, r) for p, r in zip(predictions, references, strict=True)]  # fmt: skip
    if any(m in wanted for m in ROUGE):
        rouge = rouge_rows(predictions, references)
        out.update({m: rouge[m] for m in ROUGE if m in wanted})
    if "similarity" in wanted:
        if embed is None:
            raise UserError("The similarity metric needs the embedding model.")
        out["similarity"] = similarity_rows(embed, predictions, references)
    return out


def similarity_rows(embed: Callable[[list[str]], Any], predictions: Sequence[str], references: Sequence[str]) -> list[float]:  # fmt: skip
    import numpy as np

    a = np.asarray(embed([p or " " for p in predictions]), dtype=np.float64)
    b = np.asarray(embed([r or " " for r in references]), dtype=np.float64)
    a /= np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    b /= np.clip(np.linalg.norm(b, axis=1, keepdims=True), 1e-12, None)
    return [float(x) for x in (a * b).sum(1)]


def aggregate(names: Sequence[str], rows: dict[str, list[float]], predictions: Sequence[str],
              references: Sequence[str], *, resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, dict[str, float]]:  # fmt: skip
    """``{metric: {value, ci_low, ci_high}}`` over the rows."""
    import numpy as np

    n = len(predictions)
    if n == 0:
        raise UserError("There are no rows to score.")
    out: dict[str, dict[str, float]] = {}
    for name in expand(names):
        if name in ("bleu", "chrf"):
            stats = corpus_stats(name, predictions, references)
            out[name] = interval(stats, lambda s, _n=name: corpus_score(_n, s), resamples=resamples, seed=seed)  # fmt: skip
        else:
            out[name] = interval(np.asarray(rows[name], dtype=np.float64), resamples=resamples, seed=seed)  # fmt: skip
    return out


def interval(values: Any, statistic: Callable[[Any], float] | None = None, *,
             resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, float]:  # fmt: skip
    """``{value, ci_low, ci_high}``: the statistic (default the mean) of the rows of ``values``
    and its 95% percentile bootstrap interval."""
    import numpy as np

    n = len(values)
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    if statistic is None:
        value, samples = float(values.mean()), values[picks].mean(1)
    else:
        value, samples = statistic(values), np.array([statistic(values[idx]) for idx in picks])
    low, high = np.percentile(samples, [2.5, 97.5])
    return {
        "value": round(float(value), 6),
        "ci_low": round(float(low), 6),
        "ci_high": round(float(high), 6),
    }
