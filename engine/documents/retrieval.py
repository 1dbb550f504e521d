"""Retrieval: hybrid (dense + BM25) search with fusion, filters, a relevance threshold, optional
MMR diversity, and the semantic cache.

    search(services, "Handbook", "how many vacation days?", {"k": 5})

1. The question is embedded (the embedder keeps recent questions) and, unless bypassed, looked up
   in the semantic cache.
2. The store runs the dense and the BM25 search as one batch, ``max(4k, 20)`` candidates each
   (filters by file and type applied in the store).
3. Hybrid fuses the two rankings with reciprocal rank fusion, ``sum 1 / (60 + rank)``; ties go
   to the chunk that matched keywords. BM25 ranks scoring under a tenth of the best BM25 score
   (matches on words found nearly everywhere) earn no credit. Every candidate gets its dense
   similarity (BM25-only hits come with their vectors) so the threshold can judge it.
4. Keyword hits: with several query terms, hybrid mode also probes each term's posting list
   (in the same batch, no payloads) to find the terms that are *rare* -- in at most 0.2% of the
   chunks (at least one, at most 200). Chunks holding more rare query terms rank above chunks
   holding fewer (unless their dense similarity is more than 0.2 below the best candidate's: a
   paraphrased question can share a rare word with the wrong passage), in fused order among
   equals, and one missed by both candidate lists is fetched -- so an exact match on a part
   number or a name is not outvoted by chunks that only repeat the question's common words. With
   the threshold on, a rare-term chunk is always kept, so it never ranks below unrelated chunks.
5. The threshold: a chunk is relevant if its dense similarity reaches ``min_score``, or it holds
   a rare query term, or its BM25 score is as high as one rare term's. If nothing is relevant the
   answer says so (``nothing_found``) rather than returning the least bad chunks.
6. MMR, when asked, picks ``k`` of the candidates balancing relevance against similarity to the
   ones already picked.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.documents import bm25
from engine.documents.cache import SemanticCache
from engine.documents.manager import DocsManager
from engine.documents.settings import SearchOptions
from engine.documents.store.base import DENSE, SPARSE, Filters, Query

if TYPE_CHECKING:
    from engine.services import Services

RRF_K = 60
BM25_NOISE_FLOOR = 0.1  # of the best BM25 score among the candidates
RARE_MARGIN = 0.2  # a rare-term chunk is lifted if its dense score is within this of the best
MIN_CANDIDATES = 20


@dataclass
class Candidate:
    id: str
    payload: dict[str, Any]
    dense: float | None = None
    sparse: float = 0.0
    dense_rank: int | None = None
    sparse_rank: int | None = None
    vector: Any = None
    score: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def options_for(collection: dict[str, Any], options: dict[str, Any] | None) -> SearchOptions:
    """Search options: the request's, over the collection's defaults."""
    return SearchOptions.from_dict(options, base=collection["settings"])


def search(
    services: Services, collection_ref: str, query: str, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    docs = services.docs
    collection = docs.catalog.get(collection_ref)
    return Retriever(docs, collection).search(query, options_for(collection, options))


class Retriever:
    def __init__(self, docs: DocsManager, collection: dict[str, Any]) -> None:
        self.docs = docs
        self.collection = collection
        self.cid = collection["id"]
        self.store = docs.store(collection)
        self.embedder = docs.embedder(collection["embedder_id"])
        self.cache = SemanticCache(docs.services)

    def search(self, query: str, opts: SearchOptions) -> dict[str, Any]:
        if not isinstance(query, str) or not query.strip():
            raise UserError("Type a question or some words to search for.")
        query = query.strip()
        started = time.perf_counter()
        settings = self.collection["settings"]
        threshold = float(settings.get("cache_similarity", 0.95))
        use_cache = opts.cache and threshold < 1.0
        needs_vector = opts.mode != "bm25" or opts.mmr or use_cache or opts.min_score > 0
        vector = self.embedder.embed_query(query) if needs_vector else None
        generation = self.docs.catalog.generation(self.cid)
        key = opts.cache_key()
        if use_cache and vector is not None:
            hit = self.cache.lookup(self.cid, generation, key, vector, threshold)
            if hit is not None:
                result = hit.pop("result")
                return {
                    **result,
                    "query": query,
                    "cached": hit,
                    "took_ms": _ms(started),
                }
        if not self.store.exists():
            results: list[dict[str, Any]] = []
            empty = True
        else:
            results, empty = self._search(query, vector, opts, generation)
        result = {
            "collection": self.cid,
            "mode": opts.mode,
            "results": results,
            "nothing_found": not results,
            "message": _message(results, empty, self.collection["name"]),
        }
        if use_cache and vector is not None and not empty:
            self.cache.store(self.cid, generation, key, query, vector, result)
        return {**result, "query": query, "cached": None, "took_ms": _ms(started)}

    # ---- the search proper --------------------------------------------------------------------
    def _search(
        self, query: str, vector: Any, opts: SearchOptions, generation: int
    ) -> tuple[list[dict], bool]:
        n_docs = self.docs.point_count(self.collection, generation)
        if n_docs == 0:
            return [], True
        limit = max(opts.k * 4, MIN_CANDIDATES) if (opts.mode == "hybrid" or opts.mmr) else opts.k
        if opts.min_score > 0 and opts.mode != "hybrid":
            limit = max(limit, MIN_CANDIDATES)
        filters = _filters(opts)
        sparse_q = bm25.query_vector(query)
        queries: list[Query] = []
        if opts.mode in ("hybrid", "dense"):
            queries.append(Query(DENSE, vector.tolist(), limit, filters, opts.mmr))
        if opts.mode in ("hybrid", "bm25") and sparse_q:
            with_vec = vector is not None and (
                opts.mode == "hybrid" or opts.min_score > 0 or opts.mmr
            )
            queries.append(Query(SPARSE, sparse_q, limit, filters, with_vec))
        if not queries:
            return [], False
        rare_limit = rare_df(n_docs)
        term_queries = []
        if opts.mode == "hybrid" and len(sparse_q.indices) > 1:
            # one posting-list probe per query term: which chunks hold a *rare* term
            term_queries = [
                Query(SPARSE, bm25.Sparse([t], [1.0]), rare_limit + 1, filters, with_payload=False)
                for t in sparse_q.indices
            ]
        lists = self.store.search(queries + term_queries)
        lists, term_lists = lists[: len(queries)], lists[len(queries) :]
        by_id: dict[str, Candidate] = {}
        for q, hits in zip(queries, lists, strict=True):
            for rank, h in enumerate(hits, start=1):
                c = by_id.setdefault(h.id, Candidate(h.id, h.payload))
                if h.vector is not None:
                    c.vector = h.vector
                if q.using == DENSE:
                    c.dense, c.dense_rank = h.score, rank
                else:
                    c.sparse, c.sparse_rank = h.score, rank
        rare_hits: dict[str, int] = {}  # chunk id -> how many rare query terms it holds
        for hits in term_lists:
            if 0 < len(hits) <= rare_limit:
                for h in hits:
                    rare_hits[h.id] = rare_hits.get(h.id, 0) + 1
        missing = [i for i in rare_hits if i not in by_id]
        if missing:  # a rare-term chunk outscored on BM25 by common words: fetch it
            best = sorted(missing, key=lambda i: -rare_hits[i])[: opts.k * 2]
            for h in self.store.retrieve(best, with_vector=vector is not None):
                by_id[h.id] = Candidate(h.id, h.payload, vector=h.vector)
        candidates = list(by_id.values())
        self._fill_dense(candidates, vector)
        _score(candidates, opts.mode)
        strong = bm25.strong_match_score(n_docs)
        if opts.min_score > 0:
            candidates = [
                c
                for c in candidates
                if (c.dense is not None and c.dense >= opts.min_score)
                or c.sparse >= strong
                or c.id in rare_hits
            ]
        best_dense = max((c.dense for c in candidates if c.dense is not None), default=None)

        def rare_tier(c: Candidate) -> int:
            # a rare term lifts a chunk unless its meaning is far from the question's best match
            # (a paraphrased question can share a rare word with the wrong passage)
            if (
                best_dense is not None
                and c.dense is not None
                and c.dense < best_dense - RARE_MARGIN
            ):
                return 0
            return rare_hits.get(c.id, 0)

        candidates.sort(
            key=lambda c: (rare_tier(c), c.score, c.sparse > 0, c.dense or 0.0), reverse=True
        )
        if opts.mmr and len(candidates) > opts.k:
            candidates = _mmr(candidates, opts.k, opts.mmr_lambda)
        return [_public(c, i) for i, c in enumerate(candidates[: opts.k], start=1)], False

    def _fill_dense(self, candidates: list[Candidate], vector: Any) -> None:
        """Dense similarity for candidates found by BM25 alone (from their stored vectors)."""
        if vector is None:
            return
        missing = [c for c in candidates if c.dense is None and c.vector is not None]
        if not missing:
            return
        import numpy as np

        q = np.asarray(vector, dtype=np.float32)
        matrix = np.asarray([c.vector for c in missing], dtype=np.float32)  # (n, dim)
        sims = matrix @ q
        for c, s in zip(missing, sims, strict=True):
            c.dense = float(s)


def rare_df(n_docs: int) -> int:
    """A term in at most this many chunks is rare: 0.2% of the chunks (at least 1, at most 200)."""
    return max(1, min(200, int(0.002 * n_docs)))


def _score(candidates: list[Candidate], mode: str) -> None:
    # BM25 ranks below the noise floor are matches on common words only (a query term found in
    # almost every chunk scores near zero with IDF); they earn no fusion credit, so a chunk that
    # holds the query's rare term is not outvoted by chunks that merely share its filler words.
    top_sparse = max((c.sparse for c in candidates), default=0.0)
    floor = BM25_NOISE_FLOOR * top_sparse
    for c in candidates:
        if mode == "dense":
            c.score = c.dense or 0.0
        elif mode == "bm25":
            c.score = c.sparse
        else:
            sparse_rank = c.sparse_rank if c.sparse >= floor else None
            c.score = sum(1.0 / (RRF_K + r) for r in (c.dense_rank, sparse_rank) if r)


def _mmr(candidates: list[Candidate], k: int, lam: float) -> list[Candidate]:
    """Maximal marginal relevance over candidates that have vectors (the others keep their rank)."""
    import numpy as np

    usable = [c for c in candidates if c.vector is not None]
    if len(usable) <= k:
        return candidates
    top = max(c.score for c in usable) or 1.0
    relevance = np.asarray([c.score / top for c in usable], dtype=np.float32)
    vectors = np.asarray([c.vector for c in usable], dtype=np.float32)  # (n, dim)
    sim = vectors @ vectors.T  # (n, n)
    chosen: list[int] = [int(np.argmax(relevance))]
    while len(chosen) < k:
        redundancy = sim[:, chosen].max(axis=1)
        value = lam * relevance - (1 - lam) * redundancy
        value[chosen] = -np.inf
        chosen.append(int(np.argmax(value)))
    return [usable[i] for i in chosen]


def _filters(opts: SearchOptions) -> Filters | None:
    files, names = [], []
    for f in opts.files or []:
        (files if os.path.isabs(f) else names).append(f)
    flt = Filters(files=files, names=names, types=list(opts.types or []))
    return flt or None


def _public(c: Candidate, rank: int) -> dict[str, Any]:
    p = c.payload
    return {
        "rank": rank,
        "id": c.id,
        "score": round(c.score, 6),
        "dense_score": None if c.dense is None else round(c.dense, 4),
        "bm25_score": round(c.sparse, 4),
        **chunk_fields(p),
        "file": p.get("file"),
        "name": p.get("name"),
        "type": p.get("type"),
        "hash": p.get("hash"),
    }


def chunk_fields(p: dict[str, Any]) -> dict[str, Any]:
    """A stored chunk's text and where it sits (page, headings, character span, position)."""
    headings = list(p.get("headings") or [])
    return {
        "text": p.get("text", ""),
        "page": p.get("page"),
        "page_end": p.get("page_end"),
        "headings": headings,
        "heading": " > ".join(headings),
        "start": p.get("start"),
        "end": p.get("end"),
        "index": p.get("index"),
        "tokens": p.get("tokens"),
    }


def _message(results: list[dict], empty: bool, name: str) -> str:
    if results:
        return f"{len(results)} chunk{'s' if len(results) != 1 else ''} found."
    if empty:
        return f"The collection {name!r} has no indexed documents yet; ingest some files first."
    return f"Nothing relevant found in {name!r} for this question."


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
