"""JSON-RPC methods ``docs.*`` (see docs/PROTOCOL.md): collections, ingestion, files, search,
chunk previews, passages, grounded answers, evaluation and the semantic cache.

Handlers check their input and answer ``UserError``/``NotFoundError`` at once; ingestion is a job
(``{"job": Job}``). This module imports nothing heavy: numpy, torch and the Qdrant libraries load
when a collection is first searched or ingested.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import Cancelled, UserError
from engine.documents.settings import CollectionSettings, SearchOptions
from engine.documents.store.server import check_url
from engine.rpc.registry import RequestContext, method

if TYPE_CHECKING:
    from engine.services import Services

_ACTIVE = ("queued", "running")


def _docs(ctx: RequestContext):
    return ctx.services.docs


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{what} must be a non-empty string.")
    return value


def _paths(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise UserError("paths must be a list of file or folder paths.")
    return value


def collection_info(ctx_or_services: Services, collection: dict[str, Any]) -> dict[str, Any]:
    """A Collection object: the catalogue row plus file statistics and state."""
    services = getattr(ctx_or_services, "services", ctx_or_services)
    docs = services.docs
    stats = docs.catalog.file_stats(collection["id"])
    folder = docs.catalog.folder(collection["id"])
    return {
        **collection,
        "backend": "server" if collection.get("server_url") else "edge",
        "path": str(folder),
        **stats,
        "ingesting": _running_ingest(services, collection["id"]),
    }


def _running_ingest(services: Services, collection_id: str, kinds: tuple[str, ...] = ("docs.ingest",)) -> str | None:  # fmt: skip
    for job in services.jobs.list(states=list(_ACTIVE), limit=500):
        if job["kind"] in kinds and job["params"].get("collection") == collection_id:
            return job["id"]
    return None


def _busy(services: Services, collection_id: str) -> str | None:
    """A running ingest or move of the collection: changes to it wait for either."""
    return _running_ingest(services, collection_id, ("docs.ingest", "docs.move"))


# ---- collections ----------------------------------------------------------------------------
@method("docs.settings")
def docs_settings(ctx: RequestContext) -> dict[str, Any]:
    """Every collection setting and search option with its default and help, for forms."""
    from engine.documents.loaders import TYPES

    return {
        "collection": CollectionSettings.describe(),
        "search": SearchOptions.describe(),
        "types": list(TYPES),
    }


@method("docs.create")
def docs_create(
    ctx: RequestContext,
    name: str,
    embedder: str | None = None,
    settings: dict | None = None,
    server_url: str | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    from engine.documents.embedder import resolve_model

    docs = _docs(ctx)
    values = CollectionSettings.from_dict(settings)
    model = resolve_model(ctx.services, embedder)
    _check_chunk_limit(model, values)
    url = check_url(server_url)
    if api_key is not None and not isinstance(api_key, str):
        raise UserError("api_key must be text.")
    if url:
        from engine.documents.store.server import ServerStore

        ServerStore(url, "check", api_key=api_key).check()  # fail now, not at the first ingest
    from engine.core.space import require_free

    require_free(ctx.services.root)  # the store's first segments are written at once
    collection = docs.catalog.create(
        name, embedder_id=model["id"], settings=values, server_url=url, api_key=api_key or None
    )
    ctx.notify("docs.changed", {})
    return collection_info(ctx, collection)


@method("docs.list")
def docs_list(ctx: RequestContext) -> dict[str, Any]:
    return {"collections": [collection_info(ctx, c) for c in _docs(ctx).catalog.list()]}


@method("docs.get")
def docs_get(ctx: RequestContext, id: str) -> dict[str, Any]:
    return collection_info(ctx, _docs(ctx).catalog.get(id))


@method("docs.rename")
def docs_rename(ctx: RequestContext, id: str, name: str) -> dict[str, Any]:
    docs = _docs(ctx)
    collection = docs.catalog.get(id)
    renamed = docs.catalog.rename(collection["id"], name)
    ctx.notify("docs.changed", {})
    return collection_info(ctx, renamed)


def _check_chunk_limit(model: dict[str, Any], values: CollectionSettings) -> None:
    from engine.documents.embedder import open_embedder

    limit = open_embedder(model).max_seq_length
    if values.chunk_tokens > limit - 16:
        raise UserError(
            f"chunk_tokens ({values.chunk_tokens}) must leave room in the embedder's "
            f"{limit}-token input; use at most {limit - 16}."
        )


@method("docs.update")
def docs_update(
    ctx: RequestContext,
    id: str,
    settings: dict | None = None,
    server_url: str | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    """Change settings (chunking changes re-split files at the next ingest), or the server."""
    docs = _docs(ctx)
    collection = docs.catalog.get(id)
    fields: dict[str, Any] = {}
    if settings is not None:
        fields["settings"] = CollectionSettings.from_dict(settings, base=collection["settings"])
        from engine.documents.embedder import resolve_model

        _check_chunk_limit(
            resolve_model(ctx.services, collection["embedder_id"]), fields["settings"]
        )
    if server_url is not None:
        url = check_url(server_url)
        if url != collection["server_url"]:
            if docs.catalog.file_stats(collection["id"])["chunks"]:
                raise UserError(
                    "This collection already has indexed chunks in its current store; create a "
                    "new collection to use another store."
                )
            fields["server_url"] = url
    if api_key is not None:
        if not isinstance(api_key, str):
            raise UserError("api_key must be text.")
        fields["api_key"] = api_key or None
    if not fields:
        return collection_info(ctx, collection)
    if _busy(ctx.services, collection["id"]):
        raise UserError("Wait for the running ingest or move to finish (or cancel it) first.")
    updated = docs.catalog.update(collection["id"], **fields)
    if "server_url" in fields or "api_key" in fields:
        docs.forget_store(collection["id"])
    ctx.notify("docs.changed", {})
    return collection_info(ctx, updated)


@method("docs.delete")
def docs_delete(ctx: RequestContext, id: str) -> dict[str, Any]:
    """Delete a collection: its chunks (on the server too), its folder and its catalogue rows.

    The user's own files are never touched."""
    import shutil

    docs = _docs(ctx)
    collection = docs.catalog.get(id)
    if _busy(ctx.services, collection["id"]):
        raise UserError("The collection is being ingested or moved; cancel that job first.")
    store = docs.store(collection)
    store.drop()
    docs.forget_store(collection["id"])
    shutil.rmtree(docs.catalog.folder(collection["id"]), ignore_errors=True)
    docs.catalog.delete(collection["id"])
    ctx.notify("docs.changed", {})
    return {"deleted": collection["id"]}


# ---- ingestion and files --------------------------------------------------------------------
@method("docs.ingest")
def docs_ingest(ctx: RequestContext, id: str, paths: list | None = None) -> dict[str, Any]:
    """Start indexing files/folders (none: re-read every source); answers ``{job}``."""
    docs = _docs(ctx)
    collection = docs.catalog.get(id)
    clean = _paths(paths) if paths is not None else None
    if clean:
        absolute = [os.path.abspath(os.path.expanduser(p)) for p in clean]
        known = {f["path"] for f in docs.catalog.files(collection["id"])}
        if not any(os.path.exists(p) for p in absolute) and not any(
            k == p or k.startswith(p.rstrip(os.sep) + os.sep) for p in absolute for k in known
        ):
            listed = ", ".join(clean[:3]) + ("…" if len(clean) > 3 else "")
            raise UserError(f"Not found: {listed}. Check the paths and try again.")
        clean = absolute
    elif not docs.catalog.sources(collection["id"]):
        raise UserError("Nothing to ingest yet: give files or folders to add to the collection.")
    running = _busy(ctx.services, collection["id"])
    if running:
        raise UserError(
            f"This collection is already being ingested or moved (job {running}); wait for it or cancel it."
        )
    job = ctx.services.jobs.start(
        "docs.ingest", {"collection": collection["id"], "name": collection["name"], "paths": clean}
    )
    return {"job": job}


@method("docs.move")
def docs_move(ctx: RequestContext, id: str, to: str, api_key_env: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Move a collection to a Qdrant server (``to`` its URL) or back (``to`` "embedded"): a
    resumable job that copies, verifies, then switches; answers ``{job}``."""
    from engine.documents.move import api_key_from, check

    collection, target = check(ctx.services, id, to)
    if target:
        api_key_from(api_key_env)
    params = {"collection": collection["id"], "name": collection["name"], "to": target,
              "api_key_env": api_key_env or None}  # fmt: skip
    return {"job": ctx.services.jobs.start("docs.move", params)}


@method("docs.files")
def docs_files(
    ctx: RequestContext, id: str, status: str | None = None, limit: int = 1000, offset: int = 0
) -> dict[str, Any]:
    from engine.documents.catalog import STATUSES

    if status is not None and status not in STATUSES:
        raise UserError(f"status must be one of {', '.join(STATUSES)}.")
    docs = _docs(ctx)
    collection = docs.catalog.get(id)
    files = docs.catalog.files(collection["id"], status=status, limit=limit, offset=offset)
    stats = docs.catalog.file_stats(collection["id"])
    return {
        "collection": collection["id"],
        "files": files,
        "sources": docs.catalog.sources(collection["id"]),
        "counts": stats["files"],
        "chunks": stats["chunks"],
        "size_bytes": stats["size_bytes"],
    }


@method("docs.remove_files")
def docs_remove_files(ctx: RequestContext, id: str, paths: list) -> dict[str, Any]:
    """Take files (or everything under folders) out of a collection; the files stay on disk."""
    docs = _docs(ctx)
    collection = docs.catalog.get(id)
    if _busy(ctx.services, collection["id"]):
        raise UserError(
            "The collection is being ingested or moved; wait for it or cancel it first."
        )
    targets = [os.path.abspath(os.path.expanduser(p)) for p in _paths(paths)]
    rows = docs.catalog.files(collection["id"])
    doomed = [
        r["path"]
        for r in rows
        if any(r["path"] == t or r["path"].startswith(t.rstrip(os.sep) + os.sep) for t in targets)
    ]
    sources = [
        s
        for s in docs.catalog.sources(collection["id"])
        if any(s == t or s.startswith(t.rstrip(os.sep) + os.sep) for t in targets)
    ]
    if not doomed and not sources:
        raise UserError("None of those paths are in the collection.")
    if doomed:
        docs.store(collection).delete_files(doomed)
        docs.catalog.delete_files(collection["id"], doomed)
    docs.catalog.remove_sources(collection["id"], sources)
    docs.catalog.bump_generation(collection["id"])
    ctx.notify("docs.changed", {})
    return {"removed": doomed, "sources_removed": sources}


# ---- search, previews, passages --------------------------------------------------------------
@method("docs.search")
def docs_search(
    ctx: RequestContext,
    id: str,
    query: str,
    k: int | None = None,
    mode: str | None = None,
    min_score: float | None = None,
    mmr: bool | None = None,
    mmr_lambda: float | None = None,
    files: list | None = None,
    types: list | None = None,
    cache: bool | None = None,
) -> dict[str, Any]:
    from engine.documents.retrieval import search

    options = {
        "k": k,
        "mode": mode,
        "min_score": min_score,
        "mmr": mmr,
        "mmr_lambda": mmr_lambda,
        "files": files,
        "types": types,
        "cache": cache,
    }
    return search(ctx.services, _text(id, "id"), query, options)


@method("docs.chunks")
def docs_chunks(
    ctx: RequestContext, id: str, file: str, offset: int = 0, limit: int = 50
) -> dict[str, Any]:
    from engine.documents.retrieval import chunk_fields

    """The stored chunks of one indexed file, in order (for checking the splitter)."""
    from engine.documents.store import point_id

    docs = _docs(ctx)
    collection = docs.catalog.get(id)
    row = docs.catalog.file(collection["id"], os.path.abspath(_text(file, "file")))
    if row is None or row["status"] != "indexed":
        raise UserError(f"{file} is not an indexed file of {collection['name']!r}.")
    offset, limit = max(0, int(offset)), max(1, min(int(limit), 500))
    indices = range(offset, min(row["chunks"], offset + limit))
    ids = [point_id(row["path"], row["hash"], i) for i in indices]
    hits = docs.store(collection).retrieve(ids)
    chunks = sorted((chunk_fields(h.payload) for h in hits), key=lambda c: c["index"])
    return {"file": row["path"], "total": row["chunks"], "offset": offset, "chunks": chunks}


@method("docs.preview")
def docs_preview(
    ctx: RequestContext,
    path: str,
    id: str | None = None,
    settings: dict | None = None,
    limit: int = 200,
) -> dict[str, Any]:
    """Split a file without indexing it: what chunks the current settings would make."""
    from engine.documents.loaders import BadFile, open_document
    from engine.documents.retrieval import chunk_fields
    from engine.documents.splitter import Splitter

    docs = _docs(ctx)
    collection = docs.catalog.get(id) if id else None
    values = CollectionSettings.from_dict(
        settings, base=collection["settings"] if collection else None
    )
    embedder = docs.embedder(collection["embedder_id"] if collection else None)
    source = Path(os.path.abspath(os.path.expanduser(_text(path, "path"))))
    if not source.is_file():
        raise UserError(f"{source} is not a file.")
    try:
        doc = open_document(source, values.limits())
        splitter = Splitter(
            embedder.counter(), max_tokens=values.chunk_tokens, overlap_tokens=values.overlap_tokens
        )
        chunks, total = [], 0
        for chunk in splitter.split(doc.blocks()):
            total += 1
            if len(chunks) < max(1, min(int(limit), 2000)):
                chunks.append(chunk_fields({**chunk.__dict__, "headings": list(chunk.headings)}))
    except BadFile as exc:
        raise UserError(f"{source.name} cannot be indexed: {exc.reason}.") from None
    return {
        "file": str(source),
        "type": doc.type,
        "pages": doc.pages,
        "notes": doc.notes,
        "total": total,
        "settings": {"chunk_tokens": values.chunk_tokens, "overlap_tokens": values.overlap_tokens},
        "chunks": chunks,
    }


@method("docs.passage")
def docs_passage(
    ctx: RequestContext, id: str, file: str, start: int, end: int, context: int = 400
) -> dict[str, Any]:
    """A cited span with the text around it (from the extracted text kept at ingest)."""
    docs = _docs(ctx)
    collection = docs.catalog.get(id)
    row = docs.catalog.file(collection["id"], os.path.abspath(_text(file, "file")))
    if row is None or not row["hash"]:
        raise UserError(f"{file} is not in {collection['name']!r}.")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end, context)):
        raise UserError("start, end and context must be whole numbers.")
    if start < 0 or end < start:
        raise UserError("The span must have 0 <= start <= end.")
    context = max(0, min(context, 20_000))
    lo = max(0, start - context)
    text = docs.read_span(collection["id"], row["hash"], lo, end + context)
    if text is None:
        raise UserError(f"The text of {row['name']} is not available; ingest it again.")
    return {
        "file": row["path"],
        "name": row["name"],
        "start": start,
        "end": end,
        "before": text[: start - lo],
        "text": text[start - lo : end - lo],
        "after": text[end - lo :],
    }


# ---- answers, evaluation, cache --------------------------------------------------------------
@method("docs.prepare")
def docs_prepare(
    ctx: RequestContext, collections: list | str, question: str, options: dict | None = None
) -> dict[str, Any]:
    """The grounded messages and citations for a question (what Chat sends to the model)."""
    from engine.documents.answer import prepare

    return prepare(ctx.services, question, collections, options).to_dict()


@method("docs.ask")
def docs_ask(
    ctx: RequestContext,
    collections: list | str,
    question: str,
    model: str | None = None,
    params: dict | None = None,
    options: dict | None = None,
) -> dict[str, Any]:
    """Answer from documents with citations; streams ``chat.delta`` like ``chat.generate``."""
    from engine.documents.answer import ask

    rid = ctx.request_id
    result = ask(
        ctx.services,
        question,
        collections,
        model_id=model,
        params=params,
        options=options,
        on_delta=lambda text: ctx.notify("chat.delta", {"id": rid, "text": text}),
        cancelled=ctx.cancelled,
    )
    if result.get("finish_reason") == "cancelled":
        raise Cancelled(result)
    return result


@method("docs.eval")
def docs_eval(
    ctx: RequestContext,
    id: str,
    qa: str | None = None,
    questions: list | None = None,
    k: int = 10,
    details: bool = False,
) -> dict[str, Any]:
    """hit@1/3/5 and MRR for hybrid, dense and BM25 on a QA file (or inline questions)."""
    from engine.documents.evaluation import check_item, evaluate, load_qa

    if (qa is None) == (questions is None):
        raise UserError("Give either qa (a JSONL file) or questions (a list), not both.")
    if qa is not None:
        items = load_qa(_text(qa, "qa"))
    else:
        if not isinstance(questions, list) or not questions:
            raise UserError("questions must be a non-empty list.")
        items = [check_item(q, f"question {i + 1}") for i, q in enumerate(questions)]
    return evaluate(
        ctx.services, _text(id, "id"), items, k=k, details=bool(details), cancelled=ctx.cancelled
    )


@method("docs.cache_clear")
def docs_cache_clear(ctx: RequestContext, id: str) -> dict[str, Any]:
    from engine.documents.cache import SemanticCache

    collection = _docs(ctx).catalog.get(id)
    return {"cleared": SemanticCache(ctx.services).clear(collection["id"])}
