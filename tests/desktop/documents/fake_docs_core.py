"""The state and behaviour behind the fake engine's ``docs.*`` (see fake_docs.py), shaped like
docs/PROTOCOL.md: collections, an ingest job (``di-…`` ids; ``job.progress`` with begin, a report
per file and end, ``job.metrics`` with files/s) that can be cancelled and resumed, files with their
status, word-overlap search with dense/BM25/hybrid scores and a query cache, stored and previewed
chunks, passages, ``docs.ask`` streaming ``chat.delta`` with citations, and ``docs.eval``.
``answer`` is the grounded reply: ``docs.ask`` streams it, and the fake ``chat.send``
(tests/desktop/chat/fake_chat.py) stores it for a conversation with collections attached.

Files are real files the tests write. What they are steers the outcome: an empty file fails
("empty file"), a ``.pdf`` whose name holds ``scan`` fails as a scanned PDF, an unknown extension
is skipped; a name holding ``slow`` takes 0.4 s to index (time to cancel). Form feeds in a text
make pages. A server URL holding ``:9`` or ``down`` does not answer.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

from engine.jobs.events import progress_event
from tests.desktop.engine_answers import collection_defaults, real_answer

TYPES = tuple(real_answer("docs.settings")["types"])
SUFFIX = {".markdown": "md", ".htm": "html"}
SETTINGS = collection_defaults()
SCANNED = (
    "scanned PDF with no text layer (1 page); run OCR on it first (e.g. ocrmypdf) and ingest "
    "the result"
)
lock = threading.RLock()
collections: dict[str, dict] = {}
files: dict[str, dict[str, dict]] = {}  # collection id -> path -> DocFile
chunks: dict[str, dict[str, list[dict]]] = {}  # collection id -> path -> chunks
texts: dict[str, str] = {}  # path -> extracted text
sources: dict[str, list[str]] = {}
cache: dict[str, dict[str, float]] = {}
jobs: dict[str, dict] = {}
stop_flags: dict[str, threading.Event] = {}


class UserError(Exception):
    code = -32001


class NotFound(Exception):
    code = -32002


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def collection(ref: Any) -> dict:
    for c in collections.values():
        if ref in (c["id"], c["name"]) or str(ref).lower() == c["name"].lower():
            return c
    raise NotFound(f"No document collection {ref!r}.")


def info(c: dict) -> dict:
    fs = files.get(c["id"], {}).values()
    counts = {
        s: sum(f["status"] == s for f in fs) for s in ("indexed", "indexing", "failed", "skipped")
    }
    ingesting = next(
        (
            j["id"]
            for j in jobs.values()
            if j["params"]["collection"] == c["id"] and j["state"] in ("queued", "running")
        ),
        None,
    )
    return {
        **c,
        "files": counts,
        "chunks": sum(f["chunks"] for f in fs),
        "size_bytes": sum(f["size"] for f in fs if f["status"] == "indexed"),
        "ingesting": ingesting,
    }


# ---- splitting -------------------------------------------------------------------------------
def split(text: str, *, size_words: int = 0, overlap_words: int = 0) -> list[dict]:
    """Paragraph chunks (or word windows when ``size_words``) with headings, pages, spans."""
    out: list[dict] = []
    heading: list[str] = []
    pieces = [(m.start(), m.group()) for m in re.finditer(r"[^\n]+(?:\n(?!\n)[^\n]*)*", text)]
    for start, para in pieces:
        stripped = para.strip().strip("\f")
        if not stripped:
            continue
        if stripped.startswith("#"):
            heading = [stripped.lstrip("# ").strip()]
            continue
        spans = [(start, start + len(para))]
        if size_words:
            found = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", para)]
            step = max(1, size_words - overlap_words)
            spans = [
                (found[i][0], found[min(i + size_words, len(found)) - 1][1])
                for i in range(0, len(found), step)
            ]
        for a, b in spans:
            while a < b and text[a] in "\f \t":  # a page break opens the chunk's page
                a += 1
            page = text.count("\f", 0, a) + 1 if "\f" in text else None
            body = text[a:b]
            out.append(
                {
                    "index": len(out),
                    "text": body.strip("\f"),
                    "tokens": len(words(body)) + 2,
                    "page": page,
                    "page_end": page,
                    "headings": list(heading),
                    "heading": " > ".join(heading),
                    "start": a,
                    "end": b,
                }
            )
    return out


def load(path: Path) -> tuple[str, str | None, str]:
    """(status, reason, text) for one file."""
    kind = SUFFIX.get(path.suffix.lower(), path.suffix.lower().lstrip("."))
    if kind not in TYPES:
        return "skipped", f"unsupported file type {path.suffix or '(no extension)'}", ""
    if path.stat().st_size == 0:
        return "failed", "empty file: nothing to index", ""
    if kind == "pdf" and "scan" in path.name.lower():
        return "failed", SCANNED, ""
    return "indexed", None, path.read_text(encoding="utf-8", errors="replace")


# ---- ingest job ------------------------------------------------------------------------------
def progress(send, job: dict, kind: str, fraction, message: str) -> None:
    job.update(progress=fraction, message=message)
    params = progress_event(job["id"], "docs.ingest", kind, job["state"], fraction, message,
                            result=job.get("result"), error=job.get("error"))  # fmt: skip
    send({"jsonrpc": "2.0", "method": "job.progress", "params": params})


def discover(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*") if q.is_file())
        elif p.exists():
            found.append(p)
    return found


def run_ingest(job: dict, send) -> None:
    cid = job["params"]["collection"]
    flag = stop_flags[job["id"]]
    with lock:
        job.update(state="running", started_at=time.time())
    progress(send, job, "begin", None, "Looking for files…")
    todo = discover(sources[cid] if job["params"]["paths"] is None else job["params"]["paths"])
    summary = {
        "collection": cid,
        "name": collections[cid]["name"],
        "indexed": [],
        "skipped": [],
        "failed": [],
        "removed": [],
        "chunks_added": 0,
    }
    started = time.monotonic()
    for i, path in enumerate(todo):
        if flag.is_set():
            finish(job, send, "cancelled", {**summary, "cancelled": True}, "Cancelled.")
            return
        time.sleep(0.4 if "slow" in path.name else 0.03)
        key = str(path)
        with lock:
            old = files[cid].get(key)
            if old and old["status"] == "indexed" and old["size"] == path.stat().st_size:
                summary["skipped"].append({"file": key, "reason": "unchanged"})
            else:
                status, reason, text = load(path)
                made = split(text) if status == "indexed" else []
                texts[key] = text
                chunks[cid][key] = made
                files[cid][key] = {
                    "path": key,
                    "name": path.name,
                    "type": SUFFIX.get(path.suffix, path.suffix.lstrip(".")),
                    "status": status,
                    "reason": reason,
                    "hash": f"h{len(text)}",
                    "chunks": len(made),
                    "size": path.stat().st_size,
                    "pages": max((c["page"] or 0 for c in made), default=0) or None,
                    "notes": [],
                    "chunking": "t200-o32",
                    "updated_at": time.time(),
                }
                bucket = {"indexed": "indexed", "failed": "failed", "skipped": "skipped"}[status]
                summary[bucket].append(
                    key if status == "indexed" else {"file": key, "reason": reason}
                )
                summary["chunks_added"] += len(made)
        elapsed = max(time.monotonic() - started, 1e-3)
        done = i + 1
        n_chunks = summary["chunks_added"]
        eta = elapsed * (len(todo) - done) / done
        progress(
            send,
            job,
            "report",
            done / len(todo),
            f"{done}/{len(todo)} files · {n_chunks} chunks · {done / elapsed:.1f} files/s · ETA {eta:.0f} s",
        )
        metrics = {
            "files_done": float(done),
            "chunks": float(n_chunks),
            "files_per_s": done / elapsed,
            "chunks_per_s": n_chunks / elapsed,
        }
        send(
            {
                "jsonrpc": "2.0",
                "method": "job.metrics",
                "params": {"job_id": job["id"], "step": done, "values": metrics},
            }
        )
    summary["chunks"] = sum(len(v) for v in chunks[cid].values())
    summary["seconds"] = round(time.monotonic() - started, 3)
    finish(job, send, "succeeded", summary, f"{len(summary['indexed'])} indexed")


def finish(job: dict, send, state: str, result: dict, message: str) -> None:
    with lock:
        job.update(state=state, result=result, finished_at=time.time())
        collections[job["params"]["collection"]]["generation"] += 1
    progress(send, job, "end", 1.0 if state == "succeeded" else job["progress"], message)
    send({"jsonrpc": "2.0", "method": "docs.changed", "params": {}})


def start_job(job: dict, send) -> None:
    stop_flags[job["id"]] = threading.Event()
    threading.Thread(target=run_ingest, args=(job, send), daemon=True).start()


# ---- search ----------------------------------------------------------------------------------
def search(c: dict, query: str, *, k: int, mode: str, files_filter=None, types=None) -> list[dict]:
    q = set(words(query))
    scored = []
    for path, cs in chunks[c["id"]].items():
        f = files[c["id"]][path]
        if files_filter and not ({path, f["name"]} & set(files_filter)):
            continue
        if types and f["type"] not in types:
            continue
        for ch in cs:
            w = words(ch["text"])
            bm25 = float(sum(w.count(t) for t in q))
            dense = len(q & set(w)) / max(1, len(q | set(w)))
            if bm25:
                scored.append(
                    {
                        **ch,
                        "file": path,
                        "name": f["name"],
                        "type": f["type"],
                        "hash": f["hash"],
                        "dense_score": round(dense, 4),
                        "bm25_score": bm25,
                        "id": f"{path}#{ch['index']}",
                    }
                )
    for key in ("dense_score", "bm25_score"):
        for rank, hit in enumerate(sorted(scored, key=lambda h: -h[key]), start=1):
            hit[key + "_rank"] = rank
    for hit in scored:
        rrf = 1 / (60 + hit["dense_score_rank"]) + 1 / (60 + hit["bm25_score_rank"])
        hit["score"] = {"dense": hit["dense_score"], "bm25": hit["bm25_score"]}.get(
            mode, round(rrf, 6)
        )
    hits = sorted(scored, key=lambda h: (-h["score"], h["file"], h["index"]))[:k]
    return [{**h, "rank": i + 1} for i, h in enumerate(hits)]


def answer(refs: list, question: str) -> dict:
    """The reply, citations and retrieval summary for ``question`` from collections ``refs``:
    what ``docs.ask`` answers, and what the fake ``chat.send`` stores for a conversation with
    collections attached."""
    hits: list[dict] = []
    names = []
    with lock:
        for ref in refs:
            c = collection(ref)
            names.append(c["name"])
            hits += [
                {**h, "collection": c["id"]}
                for h in search(c, question, k=c["settings"]["k"], mode="hybrid")
            ]
    hits = sorted(hits, key=lambda h: -h["score"])[:3]
    if not hits:
        text = f"I found nothing relevant to this question in {', '.join(names)}."
    else:
        first = [re.split(r"(?<=[.!?])\s", h["text"].strip())[0].rstrip(".") for h in hits[:2]]
        text = f"According to the documents, {first[0]} [1]."
        if len(first) > 1:
            text += f" Also, {first[1]} [2]."
    cited = [n for n in (1, 2, 3) if f"[{n}]" in text]
    citations = [
        {
            "n": i + 1,
            "collection": h["collection"],
            "file": h["file"],
            "name": h["name"],
            "type": h["type"],
            "page": h["page"],
            "page_end": h["page_end"],
            "heading": h["heading"],
            "headings": h["headings"],
            "start": h["start"],
            "end": h["end"],
            "index": h["index"],
            "hash": h["hash"],
            "text": h["text"],
            "score": h["score"],
            "cited": i + 1 in cited,
        }
        for i, h in enumerate(hits)
    ]
    retrieval = {
        "collections": list(refs),
        "names": names,
        "took_ms": 1.0,
        "cached": [],
        "nothing_found": not hits,
        "cited": cited,
    }
    return {"text": text, "citations": citations, "cited": cited, "retrieval": retrieval}


def ask(rid, p: dict, send, cancelled: set) -> None:
    refs = p["collections"] if isinstance(p["collections"], list) else [p["collections"]]
    grounded = answer(refs, p["question"])
    text = grounded["text"]
    for piece in re.findall(r"\S+\s*", text):
        if rid in cancelled:
            send(
                {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "error": {
                        "code": -32800,
                        "message": "Request cancelled.",
                        "data": {"text": text},
                    },
                }
            )
            return
        send({"jsonrpc": "2.0", "method": "chat.delta", "params": {"id": rid, "text": piece}})
        time.sleep(0.005)
    found = bool(grounded["citations"])
    usage = {
        "prompt_tokens": 120,
        "completion_tokens": len(text.split()),
        "total_tokens": 120 + len(text.split()),
    }
    result = {
        "text": text,
        "finish_reason": "stop",
        "model_id": "gemma-1" if found else None,
        "usage": usage,
        "timings": {"ttft_ms": 20.0, "tokens_per_s": 80.0},
        "question": p["question"],
        "citations": grounded["citations"],
        "cited": grounded["cited"],
        "nothing_found": not found,
        "retrieval": grounded["retrieval"],
    }
    send({"jsonrpc": "2.0", "id": rid, "result": result})


def evaluate(c: dict, qa: str, k: int) -> dict:
    path = Path(qa)
    if not path.is_file():
        raise UserError(f"QA file {path} not found.")
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    report: dict[str, Any] = {"questions": len(items), "k": k}
    for mode in ("hybrid", "dense", "bm25"):
        ranks = []
        for item in items:
            hits = search(c, item["question"], k=k, mode=mode)
            rank = next(
                (
                    h["rank"]
                    for h in hits
                    if (item.get("answer") or "\0").lower() in h["text"].lower()
                    or item.get("source") in (h["name"], h["file"])
                ),
                None,
            )
            ranks.append(rank)
        n = max(1, len(items))
        report[mode] = {f"hit@{x}": sum(1 for r in ranks if r and r <= x) / n for x in (1, 3, 5)}
        report[mode]["mrr"] = sum(1 / r for r in ranks if r) / n
    return report
