"""An in-memory ``docs.*`` for the fake engine (tests/desktop/fake_engine.py), shaped like
docs/PROTOCOL.md; the state, the ingest job, search, answers and evaluation live in
fake_docs_core.py (what the test files steer is described there). This module answers requests:
collections, the ingest job and its ``jobs.*`` (ids ``di-…``), files, search with the query
cache, chunks, previews, passages, ``docs.ask`` (from a thread, streaming ``chat.delta``) and
``docs.eval``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from tests.desktop.engine_answers import real_answer

from .fake_docs_core import (
    SETTINGS,
    NotFound,
    UserError,
    ask,
    cache,
    chunks,
    collection,
    collections,
    evaluate,
    files,
    info,
    jobs,
    load,
    lock,
    search,
    sources,
    split,
    start_job,
    stop_flags,
    texts,
)


# ---- dispatch --------------------------------------------------------------------------------
def handle(method: str, rid, p: dict, send, cancelled: set) -> None:
    """Answer one ``docs.*`` request, or a ``jobs.*`` request about a fake ingest job."""
    try:
        with lock:
            result = _dispatch(method, rid, p, send, cancelled)
    except (UserError, NotFound) as exc:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": exc.code, "message": str(exc)}})
        return
    if result is not None:
        send({"jsonrpc": "2.0", "id": rid, "result": result})


def _changed(send) -> None:
    send({"jsonrpc": "2.0", "method": "docs.changed", "params": {}})


def _dispatch(method: str, rid, p: dict, send, cancelled: set) -> Any:
    if method == "docs.settings":
        return real_answer("docs.settings")
    if method == "docs.create":
        name = (p.get("name") or "").strip()
        if not name:
            raise UserError("name must be a non-empty string.")
        if any(c["name"].lower() == name.lower() for c in collections.values()):
            raise UserError(f"A collection named {name!r} already exists; pick another name.")
        url = p.get("server_url")
        if url and (":9" in url or "down" in url):
            raise UserError(
                f"Cannot reach the Qdrant server at {url} while checking the server (connection "
                "refused); check that it is running and the URL is right. Nothing local was changed."
            )
        cid = "col-" + re.sub(r"[^a-z0-9]+", "-", name.lower())
        now = time.time()
        collections[cid] = {
            "id": cid,
            "name": name,
            "embedder_id": p.get("embedder") or "all-minilm-l6-v2",
            "dim": 384,
            "settings": {**SETTINGS, **(p.get("settings") or {})},
            "server_url": url or None,
            "api_key_set": bool(p.get("api_key")),
            "generation": 0,
            "created_at": now,
            "updated_at": now,
            "backend": "server" if url else "edge",
            "path": f"/fake/collections/{cid}",
        }
        files[cid], chunks[cid], sources[cid], cache[cid] = {}, {}, [], {}
        _changed(send)
        return info(collections[cid])
    if method == "docs.list":
        return {
            "collections": [
                info(c) for c in sorted(collections.values(), key=lambda c: c["name"].lower())
            ]
        }
    if method == "docs.get":
        return info(collection(p["id"]))
    if method == "docs.rename":
        c = collection(p["id"])
        c["name"] = p["name"]
        _changed(send)
        return info(c)
    if method == "docs.update":
        c = collection(p["id"])
        settings = {**c["settings"], **(p.get("settings") or {})}
        if settings["chunk_tokens"] > 496:
            raise UserError(
                f"chunk_tokens ({settings['chunk_tokens']}) must leave room in the embedder's "
                "512-token input; use at most 496."
            )
        if "server_url" in p and info(c)["chunks"]:
            raise UserError("The store can change only while the collection is empty.")
        c["settings"] = settings
        c["updated_at"] = time.time()
        _changed(send)
        return info(c)
    if method == "docs.delete":
        c = collection(p["id"])
        if info(c)["ingesting"]:
            raise UserError("The collection is being ingested; cancel that job first.")
        del collections[c["id"]]
        _changed(send)
        return {"deleted": c["id"]}
    if method == "docs.ingest":
        c = collection(p["id"])
        paths = p.get("paths")
        if paths is not None:
            missing = [x for x in paths if not os.path.exists(x)]
            if len(missing) == len(paths):
                raise UserError(f"Not found: {', '.join(missing)}. Check the paths and try again.")
            sources[c["id"]] += [x for x in paths if x not in sources[c["id"]]]
        elif not sources[c["id"]]:
            raise UserError(
                "Nothing to ingest yet: give files or folders to add to the collection."
            )
        if info(c)["ingesting"]:
            raise UserError("This collection is already being ingested; wait for it or cancel it.")
        jid = f"di-{len(jobs) + 1}"
        jobs[jid] = {
            "id": jid,
            "kind": "docs.ingest",
            "title": f"Ingest into {c['name']}",
            "params": {"collection": c["id"], "name": c["name"], "paths": paths},
            "state": "queued",
            "progress": None,
            "message": "",
            "result": None,
            "error": None,
            "attempt": 1,
            "resumable": True,
            "created_at": time.time(),
            "started_at": None,
            "finished_at": None,
        }
        start_job(jobs[jid], send)
        return {"job": dict(jobs[jid])}
    if method == "jobs.get":
        return dict(jobs[p["id"]])
    if method == "jobs.cancel":
        stop_flags[p["id"]].set()
        return dict(jobs[p["id"]])
    if method == "jobs.resume":
        job = jobs[p["id"]]
        if job["state"] not in ("cancelled", "failed", "interrupted"):
            raise UserError("Only a cancelled, failed or interrupted job can be resumed.")
        job.update(state="queued", attempt=job["attempt"] + 1, result=None)
        start_job(job, send)
        return dict(job)
    if method == "docs.files":
        c = collection(p["id"])
        rows = sorted(files[c["id"]].values(), key=lambda f: f["name"])
        if p.get("status"):
            rows = [f for f in rows if f["status"] == p["status"]]
        i = info(c)
        return {
            "collection": c["id"],
            "files": rows,
            "sources": list(sources[c["id"]]),
            "counts": i["files"],
            "chunks": i["chunks"],
            "size_bytes": i["size_bytes"],
        }
    if method == "docs.remove_files":
        c = collection(p["id"])
        gone = [x for x in p["paths"] if files[c["id"]].pop(x, None) is not None]
        for x in gone:
            chunks[c["id"]].pop(x, None)
        _changed(send)
        return {"removed": gone, "sources_removed": []}
    if method == "docs.search":
        c = collection(p["id"])
        mode = p.get("mode") or c["settings"]["mode"]
        hits = search(
            c,
            p["query"],
            k=p.get("k") or c["settings"]["k"],
            mode=mode,
            files_filter=p.get("files"),
            types=p.get("types"),
        )
        seen = cache[c["id"]].get(p["query"].strip().lower()) if p.get("cache", True) else None
        cache[c["id"]][p["query"].strip().lower()] = time.time()
        cached = {"query": p["query"], "similarity": 1.0, "created_at": seen} if seen else None
        message = "" if hits else f"Nothing in {c['name']} is relevant to this query."
        return {
            "collection": c["id"],
            "mode": mode,
            "query": p["query"],
            "results": hits,
            "nothing_found": not hits,
            "message": message,
            "cached": cached,
            "took_ms": 1.5,
        }
    if method == "docs.cache_clear":
        c = collection(p["id"])
        n = len(cache[c["id"]])
        cache[c["id"]].clear()
        return {"cleared": n}
    if method == "docs.chunks":
        c = collection(p["id"])
        f = files[c["id"]].get(p["file"])
        if f is None or f["status"] != "indexed":
            raise UserError(f"{p['file']} is not an indexed file of {c['name']!r}.")
        offset, limit = p.get("offset", 0), p.get("limit", 50)
        stored = chunks[c["id"]][p["file"]]
        return {
            "file": p["file"],
            "total": len(stored),
            "offset": offset,
            "chunks": stored[offset : offset + limit],
        }
    if method == "docs.preview":
        path = Path(p["path"])
        status, reason, text = load(path)
        if status != "indexed":
            raise UserError(f"{path.name} cannot be indexed: {reason}.")
        s = {**SETTINGS, **(p.get("settings") or {})}
        made = split(
            text, size_words=max(2, s["chunk_tokens"] // 4), overlap_words=s["overlap_tokens"] // 4
        )
        return {
            "file": str(path),
            "type": path.suffix.lstrip("."),
            "pages": None,
            "notes": [],
            "total": len(made),
            "settings": {"chunk_tokens": s["chunk_tokens"], "overlap_tokens": s["overlap_tokens"]},
            "chunks": made[: p.get("limit", 200)],
        }
    if method == "docs.passage":
        c = collection(p["id"])
        if p["file"] not in files[c["id"]]:
            raise UserError(f"{p['file']} is not in {c['name']!r}.")
        text, a, b, ctx = texts[p["file"]], p["start"], p["end"], p.get("context", 400)
        lo = max(0, a - ctx)
        return {
            "file": p["file"],
            "name": Path(p["file"]).name,
            "start": a,
            "end": b,
            "before": text[lo:a],
            "text": text[a:b],
            "after": text[b : b + ctx],
        }
    if method == "docs.ask":
        threading.Thread(target=ask, args=(rid, p, send, cancelled), daemon=True).start()
        return None
    if method == "docs.eval":
        return evaluate(collection(p["id"]), p["qa"], int(p.get("k") or 10))
    raise UserError(f"The fake engine has no {method}.")
