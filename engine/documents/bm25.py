"""The keyword side of retrieval: a tokenizer, hashed term ids, and BM25 sparse vectors.

A document (chunk) becomes a sparse vector of BM25 term-frequency weights
``tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))``; a query becomes its distinct terms
with weight 1. The inverse document frequency is left to the vector store (Qdrant's ``Idf``
modifier on the sparse vector), which keeps it right as files are added, changed and removed --
so the dot product the store computes is exactly the BM25 score.

Terms: NFKC-normalised, case-folded words and numbers (any script), English stop words dropped,
plural and common suffixes lightly stemmed, hashed to 32-bit ids with BLAKE2b (stable across
processes and machines, unlike ``hash()``).

Why a six-rule stemmer of our own rather than Snowball: ``benchmarks/bench_docs_quality.py`` runs
both on every run (each on its own collection from the same files), and Snowball English
(snowballstemmer 3.1.1) scores exactly the same there -- BM25 hit@1 0.91, hit@5 0.97, MRR 0.93;
hybrid 0.94 / 0.98 / 0.96 over 64 questions. Changing the stemmer changes the term ids of every
collection already indexed, so BM25 would quietly get worse for each until it is re-indexed; with
no measured gain that is not worth it. The light rules also leave part numbers, identifiers and
short words alone. Revisit when the benchmark shows Snowball ahead.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

K1 = 1.2
B = 0.75
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    """A light suffix stripper: enough to match plural/verb forms, conservative on short words."""
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, repl, min_stem in (
        ("ies", "y", 3),
        ("sses", "ss", 2),
        ("ing", "", 4),
        ("ed", "", 4),
        ("es", "", 2),
        ("s", "", 3),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= min_stem:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            if suffix == "es" and not word.endswith(("sses", "xes", "ches", "shes", "zes")):
                continue
            return word[: len(word) - len(suffix)] + repl
    return word


def tokenize(text: str) -> list[str]:
    """Index terms of ``text`` in order (stop words removed, stemmed)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return [_stem(w) for w in _WORD.findall(text) if w not in STOPWORDS and len(w) < 64]


@lru_cache(maxsize=500_000)
def term_id(term: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little")


@dataclass(frozen=True)
class Sparse:
    indices: list[int]
    values: list[float]

    def __bool__(self) -> bool:
        return bool(self.indices)


def document_vector(text: str, *, avg_len: float, k1: float = K1, b: float = B) -> Sparse:
    """BM25 term weights of one chunk (IDF applied by the store)."""
    terms = tokenize(text)
    if not terms:
        return Sparse([], [])
    counts = Counter(term_id(t) for t in terms)
    norm = k1 * (1 - b + b * len(terms) / max(avg_len, 1.0))
    items = sorted(counts.items())
    return Sparse([i for i, _ in items], [tf * (k1 + 1) / (tf + norm) for _, tf in items])


def query_vector(text: str) -> Sparse:
    """Distinct query terms with weight 1: the store's IDF makes the score BM25."""
    ids = sorted({term_id(t) for t in tokenize(text)})
    return Sparse(ids, [1.0] * len(ids))


def idf(n_docs: int, df: int) -> float:
    """The IDF Qdrant uses: ln(1 + (N - n + 0.5) / (n + 0.5))."""
    return math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))


def strong_match_score(n_docs: int) -> float:
    """A BM25 score at least this high means a rare query term occurs in the chunk.

    Rare = found in at most 2% of the chunks; one occurrence in a chunk of average length weighs
    about 1, so the score is about the term's IDF (0.8 leaves room for longer chunks).
    """
    rare_df = max(1, round(0.02 * n_docs))
    return 0.8 * idf(max(n_docs, 1), rare_df)
