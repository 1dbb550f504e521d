"""Moving a collection between its embedded store and a Qdrant server, either way.

``run_move`` (the ``docs.move`` job) copies every chunk -- both vectors and the payload -- page
by page from the collection's current store to the other one, recording after each page where
it got to (``<collection>/move.json``), so a move that was cancelled or killed resumes from there.
Searches keep using the current store the whole time, and ingesting into the collection waits.

Only once the copy is verified does the collection switch: the same number of chunks, the same
chunks per file, and the same hits for a sample of searches (dense and BM25, by id and score).
Then the catalogue row changes its server URL -- the collection keeps its id, name, settings,
files and its place in conversations -- and the old copy is deleted. A copy that does not verify
is dropped and the collection stays where it was.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.core.paths import atomic_write_text
from engine.documents.store.base import DENSE, SPARSE, Query, VectorStore

if TYPE_CHECKING:
    from engine.services import Services

PAGE = 512
SAMPLE_SEARCHES = 8  # points whose vectors are searched with on both stores
SCORE_TOLERANCE = 1e-4


def api_key_from(variable: Any) -> str | None:
    if variable in (None, ""):
        return None
    if not isinstance(variable, str) or not os.environ.get(variable):
        raise UserError(f"The environment variable {variable} is not set (or empty) for the engine; set it, or leave the key out for a server without one.")  # fmt: skip
    return os.environ[variable]


def check(services: Services, ref: Any, to: Any) -> tuple[dict[str, Any], str | None]:
    """(the collection, the target URL or None for the embedded store), or a ``UserError``."""
    from engine.documents.store.server import check_url

    collection = services.docs.catalog.get(ref)
    target = None if to in (None, "", "embedded") else check_url(to)
    here = collection.get("server_url") or None
    if target == here:
        where = f"on {here}" if here else "embedded"
        raise UserError(f"{collection['name']} is already {where}; nothing to move.")
    running = services.docs.ingesting(collection["id"])
    if running is not None:
        raise UserError(f"{collection['name']} is being ingested (job {running}); wait for it or cancel it, then move it.")  # fmt: skip
    return collection, target


def _store_at(services: Services, collection: dict[str, Any], url: str | None, api_key: str | None) -> VectorStore:  # fmt: skip
    if url:
        from engine.documents.store.server import ServerStore

        return ServerStore(url, f"hearth-{collection['id']}", api_key=api_key)
    return services.docs._make_store({**collection, "server_url": None})


def run_move(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    docs = services.docs
    collection, to = check(services, params["collection"], params.get("to"))
    cid = collection["id"]
    api_key = api_key_from(params.get("api_key_env")) if to else None
    docs.begin_ingest(cid, ctx.job_id or "move")  # ingests wait while the chunks are copied
    try:
        source = docs.store(collection)
        target = _store_at(services, collection, to, api_key)
        state_file = docs.catalog.folder(cid) / "move.json"
        generation = docs.catalog.generation(cid)
        state = _read_state(state_file, to)
        if state is not None and (state.get("generation") != generation or not target.exists()):
            # the collection changed while the move was paused, or the copy is gone: start over
            if target.exists():
                target.drop()
            state = None
        total = source.count()
        if state is None:
            if target.exists():
                _refuse_existing(target, to)
            dim = source.dimension() or collection.get("dim")
            if not dim:
                raise UserError(f"{collection['name']} has no chunks to move yet; ingest files first, or create it on the server.")  # fmt: skip
            target.create(int(dim))
            state = {"to": to, "generation": generation, "offset": None, "copied": 0, "seconds": 0.0,
                     "copied_all": False}  # fmt: skip
        where = to or "the embedded store"
        started = time.perf_counter() - state["seconds"]
        while not state.get("copied_all"):
            ctx.check_cancelled()
            points, after = source.scroll(state["offset"], PAGE)
            target.upsert(points)
            target.flush()
            state.update(offset=after, copied=state["copied"] + len(points), seconds=time.perf_counter() - started)  # fmt: skip
            atomic_write_text(state_file, json.dumps(state, default=str))  # a UUID offset as text
            ctx.progress(0.9 * min(1.0, state["copied"] / max(1, total)),
                         f"Copied {state['copied']:,} of {total:,} chunks to {where}")  # fmt: skip
            if after is None or not points:
                state["copied_all"] = True  # a crash from here on resumes at the checks
                atomic_write_text(state_file, json.dumps(state, default=str))
        copy_s = time.perf_counter() - started
        ctx.progress(0.92, "Checking the copy: counts, chunks per file, searches")
        target.optimize()
        try:
            verified = verify(source, target)
        except UserError:
            target.drop()
            state_file.unlink(missing_ok=True)
            raise
        key_ref = f"env:{params['api_key_env']}" if to and api_key else None  # never the key itself
        docs.catalog.update(cid, server_url=to, api_key=key_ref)
        docs.forget_store(cid)
        source.drop()
        state_file.unlink(missing_ok=True)
        first = time.perf_counter()
        moved = docs.store(docs.catalog.get(cid))
        moved.search([Query(DENSE, verified["probe"], limit=5)])
        first_search_ms = (time.perf_counter() - first) * 1000
        ctx.progress(1.0, f"Moved {state['copied']:,} chunks to {where}")
        return {"collection": collection["name"], "id": cid, "to": to or "embedded",
                "chunks": state["copied"], "copy_seconds": round(copy_s, 2),
                "chunks_per_s": round(state["copied"] / copy_s, 1) if copy_s else None,
                "first_search_ms": round(first_search_ms, 2),
                "verified": {k: v for k, v in verified.items() if k != "probe"}}  # fmt: skip
    finally:
        docs.end_ingest(cid, ctx.job_id or "move")


def _refuse_existing(target: VectorStore, to: str | None) -> None:
    """A store this move did not start: an embedded shard left from before is this collection's
    own stale copy (it lives in its folder), but a server collection of that name may be the very
    copy being moved (the same server under another address) -- never dropped."""
    if to is None:
        target.drop()
        return
    n = target.count()
    if n:
        raise UserError(f"{to} already has a collection {target.info().get('collection', 'of this name')} with {n:,} chunks: perhaps this collection's own copy (the same server under another address). Nothing was changed; delete it on the server, or move to another one.")  # fmt: skip
    target.drop()


def _read_state(path: Any, to: str | None) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("to") == to else None


def verify(source: VectorStore, target: VectorStore) -> dict[str, Any]:
    """The same chunks on both sides, and the same hits for a sample of searches."""
    n_source, n_target = source.count(), target.count()
    if n_source != n_target:
        raise UserError(f"The copy has {n_target:,} chunks where the collection has {n_source:,}; nothing was switched. Move it again.")  # fmt: skip
    if source.file_counts() != target.file_counts():
        raise UserError("The copy's chunks per file differ from the collection's; nothing was switched. Move it again.")  # fmt: skip
    sample, _after = source.scroll(None, SAMPLE_SEARCHES)
    queries = [Query(DENSE, p.dense, limit=10) for p in sample]
    queries += [Query(SPARSE, p.sparse, limit=10) for p in sample if p.sparse]
    here, there = source.search(queries), target.search(queries)
    for q, a, b in zip(queries, here, there, strict=True):
        scores_a = {h.id: h.score for h in a}
        scores_b = {h.id: h.score for h in b}
        if set(scores_a) != set(scores_b) or any(abs(scores_a[i] - scores_b[i]) > SCORE_TOLERANCE for i in scores_a):  # fmt: skip
            raise UserError(f"A {q.using} search on the copy returned other chunks than on the collection; nothing was switched. Move it again.")  # fmt: skip
    return {"chunks": n_source, "files": len(source.file_counts()), "searches": len(queries),
            "probe": sample[0].dense if sample else [0.0]}  # fmt: skip
