"""An in-memory ``data.*`` for the fake engine (tests/desktop/fake_engine.py), shaped like
docs/PROTOCOL.md: datasets with versions (undo, redo, checkout), paged and searched rows, edits,
rendering, statistics, import with malformed-line handling, and the steps as jobs with
``job.progress`` notifications, ``jobs.get``/``jobs.cancel``/``jobs.resume`` (ids ``dj-…``).

Seeded datasets: ``big`` -- 1,000,000 alpaca rows made on the fly per page (nothing stored), to
prove the table pages lazily; ``small`` -- 6 alpaca rows, two of them duplicates; ``chats`` -- 3
messages rows. ``fake.data_requests`` answers the ``data.rows`` calls seen so far.
Steps live in fake_data_steps.py.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from tests.desktop.engine_answers import formats

CONTEXT = 4096
BIG_ROWS = 1_000_000
lock = threading.RLock()
REQUESTS: list[dict[str, Any]] = []
FORMATS = formats()


class UserError(Exception):
    code = -32001


def big_row(i: int) -> dict[str, Any]:
    return {"instruction": f"Task {i}", "input": "", "output": f"Answer number {i} " * (1 + i % 3)}


class VirtualRows:
    """A million rows that exist only when asked for."""

    def __len__(self) -> int:
        return BIG_ROWS

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < BIG_ROWS:
            raise IndexError(i)
        return big_row(i)


def text_of(row: dict[str, Any]) -> str:
    parts = []
    for value in row.values():
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts += [
                str(t.get("content", t.get("value", ""))) for t in value if isinstance(t, dict)
            ]
    return "\n".join(parts)


def tokens_of(row: dict[str, Any]) -> int:
    return len(text_of(row).split()) + 2


class Store:
    def __init__(self) -> None:
        self.datasets: dict[str, dict[str, Any]] = {}
        self.counter = 0
        if os.environ.get("FAKE_ENGINE_EMPTY") != "1":
            self.add("big", "alpaca", VirtualRows(), fields=["instruction", "input", "output"])
            small = [
                {"instruction": "Say hi", "input": "", "output": "Hi"},
                {"instruction": "Add 2 and 2", "input": "", "output": "4"},
                {"instruction": "Say hi", "input": "", "output": "Hi"},
                {"instruction": "Mail bob@example.com", "input": "", "output": "Sent"},
                {"instruction": "Name a colour", "input": "", "output": "Blue"},
                {"instruction": "Capital of France?", "input": "", "output": "Paris"},
            ]
            self.add("small", "alpaca", small)
            chats = [
                {
                    "messages": [
                        {"role": "user", "content": f"Q{i}"},
                        {"role": "assistant", "content": f"A{i}"},
                    ]
                }
                for i in range(3)
            ]
            self.add("chats", "messages", chats)

    def add(self, name: str, fmt: str, rows: Any, *, fields: list[str] | None = None,
            source: dict | None = None, operation: str = "import") -> dict[str, Any]:  # fmt: skip
        self.counter += 1
        ds_id = f"ds{self.counter}"
        now = time.time() + self.counter * 1e-3
        ds = {"id": ds_id, "name": name, "source": source or {"kind": "fake"}, "current": 1,
              "created_at": now, "updated_at": now, "versions": {}}  # fmt: skip
        self.datasets[ds_id] = ds
        self._version(ds, 1, None, operation, rows, fmt, {"description": f"Made {name}."}, fields)
        return self.info(ds)

    def _version(self, ds, n, parent, operation, rows, fmt, summary, fields=None, splits=None):
        if fields is None:
            fields = []
            for row in rows:
                fields += [k for k in row if k not in fields]
        ds["versions"][n] = {"version": n, "parent": parent, "operation": operation, "params": {},
                             "summary": summary, "format": fmt, "rows": len(rows),
                             "fields": fields, "splits": splits, "created_at": time.time(),
                             "data": rows}  # fmt: skip

    def get(self, ref: str) -> dict[str, Any]:
        for ds in self.datasets.values():
            if ref in (ds["id"], ds["name"]):
                return ds
        raise UserError(f"No dataset {ref!r}.")

    def version(self, ds: dict[str, Any], n: int | None = None) -> dict[str, Any]:
        n = ds["current"] if n is None else n
        if n not in ds["versions"]:
            raise UserError(f"The dataset has no version {n}.")
        return ds["versions"][n]

    def info(self, ds: dict[str, Any]) -> dict[str, Any]:
        v = self.version(ds)
        return {"id": ds["id"], "name": ds["name"], "format": v["format"], "rows": v["rows"],
                "fields": v["fields"], "splits": v["splits"], "version": ds["current"],
                "versions": len(ds["versions"]), "source": ds["source"], "path": "/fake",
                "created_at": ds["created_at"], "updated_at": ds["updated_at"]}  # fmt: skip

    def commit(self, ds, rows, operation, summary, *, fmt=None, splits=None, empty=""):
        """A new current version holding ``rows`` (a list)."""
        if not rows:
            raise UserError(empty or "That would leave no rows; nothing was changed.")
        parent = self.version(ds)
        n = max(ds["versions"]) + 1
        summary = {**summary, "rows_before": parent["rows"], "rows_after": len(rows)}
        self._version(ds, n, ds["current"], operation, rows, fmt or parent["format"], summary,
                      None if fmt else parent["fields"], splits)  # fmt: skip
        ds["current"] = n
        ds["updated_at"] = time.time()
        return self.version(ds)


store: Store | None = None


def record(index: int, row: dict[str, Any], position: int | None = None) -> dict[str, Any]:
    n = tokens_of(row)
    return {"index": index, "position": index if position is None else position, "row": row,
            "tokens": n, "flags": ["too_long"] if n > CONTEXT else []}  # fmt: skip


def split_range(v: dict[str, Any], split: str | None) -> tuple[int, int]:
    if not split:
        return 0, v["rows"]
    for s in v["splits"] or []:
        if s["name"] == split:
            return s["start"], s["start"] + s["rows"]
    raise UserError(f"No split {split!r}.")


def matcher(p: dict[str, Any]):
    query, filters = p.get("query"), p.get("filters") or []
    flags = 0 if p.get("case_sensitive") else re.IGNORECASE
    try:
        pattern = (
            re.compile(query if p.get("regex") else re.escape(query), flags) if query else None
        )
    except re.error as exc:
        raise UserError(f"The regular expression {query!r} is not valid: {exc}.") from None

    def match(row: dict[str, Any]) -> bool:
        field = p.get("field")
        text = str(row.get(field, "")) if field else text_of(row)
        if pattern is not None and not pattern.search(text):
            return False
        for f in filters:
            if f.get("op") == "too_long" and tokens_of(row) <= CONTEXT:
                return False
            if f.get("op") == "empty" and all(str(v).strip() for v in row.values()):
                return False
        return True

    return match


def rows_page(p: dict[str, Any]) -> dict[str, Any]:
    ds = store.get(p["id"])
    v = store.version(ds, p.get("version"))
    lo, hi = split_range(v, p.get("split"))
    offset, limit = int(p.get("offset") or 0), min(int(p.get("limit") or 50), 1000)
    REQUESTS.append({"offset": offset, "limit": limit, "query": p.get("query"),
                     "filters": p.get("filters")})  # fmt: skip
    data = v["data"]
    base = {"dataset_id": ds["id"], "version": v["version"], "format": v["format"],
            "fields": v["fields"], "total": hi - lo, "offset": offset}  # fmt: skip
    if not p.get("query") and not p.get("filters"):
        first, last = lo + offset, min(hi, lo + offset + limit)
        rows = [record(i - lo, data[i], i) for i in range(first, last)]
        return {**base, "rows": rows, "next_offset": offset + len(rows) if last < hi else None,
                "done": True, "scanned": len(rows)}  # fmt: skip
    match, found, pos = matcher(p), [], lo + offset
    stop = min(hi, pos + int(p.get("budget") or 200_000))
    while pos < stop and len(found) < limit:
        if match(data[pos]):
            found.append(record(pos - lo, data[pos], pos))
        pos += 1
    return {**base, "rows": found, "next_offset": pos - lo if pos < hi else None,
            "done": pos >= hi, "scanned": pos - lo - offset}  # fmt: skip


def inspect(p: dict[str, Any]) -> dict[str, Any]:
    if p.get("source") == "conversations":
        rows, errors = [{"messages": [{"role": "user", "content": "hi"}]}], []
        name = "conversations"
    else:
        path = Path(p.get("path") or "")
        if not path.is_file():
            raise UserError(f"No file {path}; check the path.")
        rows, errors = read_jsonl(path)
        name = path.stem
    columns = list(dict.fromkeys(k for r in rows for k in r))
    candidates = detect(columns)
    fmt, mapping = p.get("format"), p.get("mapping") or {}
    if fmt is None and candidates:
        fmt, mapping = candidates[0]["format"], candidates[0]["mapping"]
    preview = [convert(r, fmt, mapping) for r in rows[:5]] if fmt else []
    sure = bool(candidates) and candidates[0]["confidence"] >= 0.9
    return {"source": {"path": p.get("path"), "kind": "jsonl", "encoding": "utf-8",
                       "encoding_note": "utf-8", "splits": [], "split": None, "size_bytes": 100},
            "name": name, "columns": columns, "sample": rows[:20], "candidates": candidates,
            "format": fmt, "mapping": mapping, "needs_mapping": not sure and not p.get("format"),
            "errors": errors[:50], "preview": [r for r in preview if r],
            "preview_errors": [], "formats": list(FORMATS),
            "fields": {f: [*req, *opt] for f, (req, opt) in FORMATS.items()},
            "required": {f: req for f, (req, _o) in FORMATS.items()}}  # fmt: skip


def read_jsonl(path: Path) -> tuple[list[dict], list[dict]]:
    rows, errors = [], []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            errors.append({"line": n, "reason": "not valid JSON"})
    return rows, errors


def detect(columns: list[str]) -> list[dict[str, Any]]:
    cols = set(columns)
    for fmt, (required, _opt) in FORMATS.items():
        if set(required) <= cols:
            return [{"format": fmt, "confidence": 1.0, "mapping": {f: f for f in required}}]
    if {"question", "answer"} <= cols:
        return [{"format": "alpaca", "confidence": 0.6,
                 "mapping": {"instruction": "question", "output": "answer"}}]  # fmt: skip
    return []


def convert(raw: dict[str, Any], fmt: str, mapping: dict[str, str]) -> dict[str, Any] | None:
    required, optional = FORMATS[fmt]
    out = {}
    for field in [*required, *optional]:
        column = mapping.get(field, field)
        if column in raw:
            out[field] = raw[column]
        elif field in required:
            return None
    if fmt == "alpaca":
        out.setdefault("input", "")
    return out


def handle(method: str, rid, p: dict, send, cancelled: set) -> None:
    """Answer one ``data.*`` request, or a ``jobs.*`` request about a fake data job."""
    global store
    from datasets import fake_data_steps as steps  # tests/desktop/datasets/ (see fake_engine.py)

    try:
        with lock:
            if store is None:
                store = Store()
            result = steps.dispatch(method, p, send) if method not in QUICK else QUICK[method](p)
    except UserError as exc:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32001, "message": str(exc)}})
        return
    except KeyError as exc:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": f"{exc}"}})
        return
    if method in ("data.undo", "data.redo", "data.checkout"):
        changed(send)
    send({"jsonrpc": "2.0", "id": rid, "result": result})


def changed(send) -> None:
    send({"jsonrpc": "2.0", "method": "data.changed", "params": {}})


def _move(p: dict[str, Any], to) -> dict[str, Any]:
    ds = store.get(p["id"])
    target = to(ds)
    if target is None:
        raise UserError(f"{ds['name']} has nothing to {'undo' if to is _parent else 'redo'}.")
    store.version(ds, target)
    ds["current"] = target
    return store.info(ds)


def _parent(ds):
    return store.version(ds)["parent"]


def _child(ds):
    kids = [n for n, v in ds["versions"].items() if v["parent"] == ds["current"]]
    return max(kids) if kids else None


QUICK = {
    "data.list": lambda p: {
        "datasets": sorted(
            (store.info(d) for d in store.datasets.values()), key=lambda d: -d["updated_at"]
        )
    },
    "data.get": lambda p: store.info(store.get(p["id"])),
    "data.history": lambda p: {
        "dataset": store.info(store.get(p["id"])),
        "current": store.get(p["id"])["current"],
        "versions": [
            {k: v for k, v in ver.items() if k != "data"}
            for ver in store.get(p["id"])["versions"].values()
        ],
    },
    "data.rows": rows_page,
    "data.inspect": inspect,
    "data.undo": lambda p: _move(p, _parent),
    "data.redo": lambda p: _move(p, _child),
    "data.checkout": lambda p: _move(p, lambda ds: int(p["version"])),
    "fake.data_requests": lambda p: {"requests": list(REQUESTS)},
}
