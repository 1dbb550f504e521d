"""The dataset library: datasets and their versions in ``hearth.db``, rows under ``datasets/<id>/``.

Every change makes a new version (``commit``) that records its operation, parameters and a summary
of what changed; the dataset's *current* version is what the table shows and the next step starts
from. Undo makes the parent version current again; ``checkout`` makes any version current. Versions
form a tree (a step after an undo branches), and none is ever deleted short of deleting the
dataset.

Reading: ``page`` for the lazy table (one seek per row), ``scan`` for search and filters (bounded
by a row budget, resumable from a cursor). Editing: ``edit`` applies updates, inserts and deletes
in one streaming pass over the parent index.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.core.errors import NotFoundError, UserError
from engine.datasets import formats, tokens
from engine.datasets.rowstore import RowReader, VersionWriter, remove_version_files

_NAME_MAX = 120
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
FILTER_OPS = ("contains", "not_contains", "equals", "regex", "empty", "not_empty", "tokens_gt",
              "tokens_lt", "too_long")  # fmt: skip


def dataset_lock(dataset_id: str) -> threading.Lock:
    """One writer per dataset in this process (version numbers come from the database)."""
    with _locks_guard:
        return _locks.setdefault(dataset_id, threading.Lock())


class DatasetLibrary:
    def __init__(self, services: Any) -> None:
        self.services = services
        self.base = Path(services.root) / "datasets"
        self.base.mkdir(parents=True, exist_ok=True)

    # -- lookup ---------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        return self.services.db()

    def folder(self, dataset_id: str) -> Path:
        return self.base / dataset_id

    def _row(self, ref: str) -> sqlite3.Row:
        if not isinstance(ref, str) or not ref:
            raise UserError("A dataset id or name is needed.")
        db = self._db()
        row = db.execute("SELECT * FROM datasets WHERE id = ?", (ref,)).fetchone()
        if row is None:
            row = db.execute("SELECT * FROM datasets WHERE name = ?", (ref,)).fetchone()
        if row is None:
            raise NotFoundError(f"No dataset {ref!r}; `hearth-engine data list` shows them.")
        return row

    def resolve(self, ref: str) -> str:
        return self._row(ref)["id"]

    def _version_row(self, dataset_id: str, version: int) -> sqlite3.Row:
        row = (
            self._db()
            .execute(
                "SELECT * FROM dataset_versions WHERE dataset_id = ? AND version = ?",
                (dataset_id, version),
            )
            .fetchone()
        )
        if row is None:
            raise NotFoundError(f"The dataset has no version {version}.")
        return row

    def version_of(
        self, ref: str, version: int | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(dataset, version)`` dicts; ``version`` None means the current one."""
        ds = self._row(ref)
        v = self._version_row(ds["id"], ds["current_version"] if version is None else int(version))
        return self._dataset_dict(ds), _version_dict(v)

    def reader(self, dataset_id: str, version: int) -> RowReader:
        return RowReader(self.folder(dataset_id), version)

    # -- listing --------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        rows = self._db().execute("SELECT * FROM datasets ORDER BY updated_at DESC").fetchall()
        return [self._dataset_dict(r) for r in rows]

    def get(self, ref: str) -> dict[str, Any]:
        return self._dataset_dict(self._row(ref))

    def _dataset_dict(self, row: sqlite3.Row) -> dict[str, Any]:
        v = (
            self._db()
            .execute(
                "SELECT * FROM dataset_versions WHERE dataset_id = ? AND version = ?",
                (row["id"], row["current_version"]),
            )
            .fetchone()
        )
        count = (
            self._db()
            .execute("SELECT COUNT(*) FROM dataset_versions WHERE dataset_id = ?", (row["id"],))
            .fetchone()[0]
        )
        version = _version_dict(v) if v else {}
        return {
            "id": row["id"],
            "name": row["name"],
            "format": version.get("format"),
            "rows": version.get("rows", 0),
            "fields": version.get("fields", []),
            "splits": version.get("splits"),
            "version": row["current_version"],
            "versions": count,
            "source": json.loads(row["source"] or "{}"),
            "path": str(self.folder(row["id"])),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    def history(self, ref: str) -> dict[str, Any]:
        ds = self._row(ref)
        rows = (
            self._db()
            .execute(
                "SELECT * FROM dataset_versions WHERE dataset_id = ? ORDER BY version", (ds["id"],)
            )
            .fetchall()
        )
        return {
            "dataset": self._dataset_dict(ds),
            "current": ds["current_version"],
            "versions": [_version_dict(r) for r in rows],
        }

    # -- names ----------------------------------------------------------------------------
    def unique_name(self, wanted: str) -> str:
        base = (wanted or "dataset").strip()[:_NAME_MAX] or "dataset"
        name, n = base, 1
        while self._db().execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone():
            n += 1
            name = f"{base}-{n}"
        return name

    def check_new_name(self, name: str) -> str:
        name = _check_name(name)
        if self._db().execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone():
            raise UserError(f"A dataset named {name!r} exists already; choose another name.")
        return name

    def rename(self, ref: str, name: str) -> dict[str, Any]:
        ds = self._row(ref)
        name = _check_name(name)
        other = self._db().execute("SELECT id FROM datasets WHERE name = ?", (name,)).fetchone()
        if other and other["id"] != ds["id"]:
            raise UserError(f"A dataset named {name!r} exists already; choose another name.")
        self._db().execute(
            "UPDATE datasets SET name = ?, updated_at = ? WHERE id = ?",
            (name, time.time(), ds["id"]),
        )
        return self.get(ds["id"])

    def delete(self, ref: str) -> dict[str, Any]:
        ds = self._row(ref)
        with dataset_lock(ds["id"]):
            self._db().execute("DELETE FROM datasets WHERE id = ?", (ds["id"],))
            shutil.rmtree(self.folder(ds["id"]), ignore_errors=True)
        return {"deleted": ds["id"], "name": ds["name"]}

    # -- creating datasets and versions ---------------------------------------------------
    def new_id(self) -> str:
        return uuid.uuid4().hex[:12]

    def create(
        self,
        dataset_id: str,
        name: str,
        writer: VersionWriter,
        *,
        fmt: str,
        source: dict[str, Any],
        operation: str,
        params: dict[str, Any],
        summary: dict[str, Any],
    ) -> dict[str, Any]:
        """Register a dataset whose first version ``writer`` built in ``folder(dataset_id)``."""
        if writer.count == 0:
            writer.abort()
            raise UserError("No rows to save; nothing was created.")
        now = time.time()
        params = _clean_params(params)
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            name = self.unique_name(name)
            writer.commit(1)
            db.execute(
                "INSERT INTO datasets (id, name, source, current_version, created_at, updated_at) "
                "VALUES (?, ?, ?, 1, ?, ?)",
                (dataset_id, name, json.dumps(source), now, now),
            )
            db.execute(
                "INSERT INTO dataset_versions (dataset_id, version, parent, operation, params, "
                "summary, format, rows, fields, splits, created_at) "
                "VALUES (?, 1, NULL, ?, ?, ?, ?, ?, ?, NULL, ?)",
                (
                    dataset_id,
                    operation,
                    json.dumps(params),
                    json.dumps(summary),
                    fmt,
                    writer.count,
                    json.dumps(list(writer.fields)),
                    now,
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            writer.abort()
            remove_version_files(self.folder(dataset_id), 1)
            raise
        return self.get(dataset_id)

    def commit(
        self,
        dataset_id: str,
        parent: int,
        writer: VersionWriter,
        *,
        operation: str,
        params: dict[str, Any],
        summary: dict[str, Any],
        fmt: str,
        fields: list[str],
        splits: list[dict[str, Any]] | None,
        empty_message: str,
    ) -> dict[str, Any]:
        """Make ``writer``'s rows a new, current version (child of ``parent``).

        A step that would leave no rows raises ``UserError(empty_message)`` and changes nothing.
        """
        if writer.count == 0:
            writer.abort()
            raise UserError(empty_message)
        for key in writer.fields:
            if key not in fields:
                fields = [*fields, key]
        now = time.time()
        params = _clean_params(params)
        committed = None
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            version = (
                1
                + db.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM dataset_versions WHERE dataset_id = ?",
                    (dataset_id,),
                ).fetchone()[0]
            )
            writer.commit(version)
            committed = version
            db.execute(
                "INSERT INTO dataset_versions (dataset_id, version, parent, operation, params, "
                "summary, format, rows, fields, splits, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    dataset_id,
                    version,
                    parent,
                    operation,
                    json.dumps(params),
                    json.dumps(summary),
                    fmt,
                    writer.count,
                    json.dumps(fields),
                    json.dumps(splits) if splits else None,
                    now,
                ),
            )
            db.execute(
                "UPDATE datasets SET current_version = ?, updated_at = ? WHERE id = ?",
                (version, now, dataset_id),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            if committed is not None:  # files in place but no record: remove them
                remove_version_files(self.folder(dataset_id), committed)
            else:
                writer.abort()
            raise
        return _version_dict(self._version_row(dataset_id, version))

    def checkout(self, ref: str, version: int) -> dict[str, Any]:
        """Make ``version`` current (undo, redo, or jump anywhere in the history)."""
        ds = self._row(ref)
        self._version_row(ds["id"], int(version))
        self._db().execute(
            "UPDATE datasets SET current_version = ?, updated_at = ? WHERE id = ?",
            (int(version), time.time(), ds["id"]),
        )
        return self.get(ds["id"])

    def undo(self, ref: str) -> dict[str, Any]:
        ds = self._row(ref)
        v = self._version_row(ds["id"], ds["current_version"])
        if v["parent"] is None:
            raise UserError(f"{ds['name']} is at its first version; there is nothing to undo.")
        return self.checkout(ds["id"], v["parent"])

    def redo(self, ref: str) -> dict[str, Any]:
        """Move to the newest child of the current version (what undo left)."""
        ds = self._row(ref)
        child = (
            self._db()
            .execute(
                "SELECT MAX(version) FROM dataset_versions WHERE dataset_id = ? AND parent = ?",
                (ds["id"], ds["current_version"]),
            )
            .fetchone()[0]
        )
        if child is None:
            raise UserError(f"{ds['name']} has no later version to redo.")
        return self.checkout(ds["id"], child)

    # -- reading --------------------------------------------------------------------------
    def page(
        self,
        ref: str,
        *,
        offset: int = 0,
        limit: int = 50,
        version: int | None = None,
        split: str | None = None,
    ) -> dict[str, Any]:
        ds, ver = self.version_of(ref, version)
        start, stop = _split_range(ver, split)
        offset = max(0, int(offset))
        limit = max(0, min(int(limit), 1000))
        first = start + offset
        last = min(stop, first + limit)
        too_long = tokens.max_library_context(self.services)
        with self.reader(ds["id"], ver["version"]) as reader:
            entries = reader.entries(first, last)
            counts = reader.tokens(first, last)
            rows = [
                _record(
                    first + i - start, json.loads(reader.read(e)), counts[i], too_long, first + i
                )
                for i, e in enumerate(entries)
            ]
        return {
            "dataset_id": ds["id"],
            "version": ver["version"],
            "format": ver["format"],
            "fields": ver["fields"],
            "total": stop - start,
            "offset": offset,
            "rows": rows,
            "next_offset": offset + len(rows) if first + len(rows) < stop else None,
            "done": True,
            "scanned": len(rows),
        }

    def scan(
        self,
        ref: str,
        *,
        query: str | None = None,
        regex: bool = False,
        case_sensitive: bool = False,
        field: str | None = None,
        filters: list[dict[str, Any]] | None = None,
        offset: int = 0,
        limit: int = 50,
        version: int | None = None,
        split: str | None = None,
        budget: int = 200_000,
        cancelled: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Rows matching a search and filters, from physical position ``offset`` on.

        Stops after ``limit`` matches or ``budget`` rows looked at; ``next_offset`` continues
        the scan (None when it reached the end). Indexes in the result are row positions.
        """
        ds, ver = self.version_of(ref, version)
        start, stop = _split_range(ver, split)
        match = make_matcher(
            ver["format"], query=query, regex=regex, case_sensitive=case_sensitive, field=field,
            filters=filters or [], too_long=tokens.max_library_context(self.services),
        )  # fmt: skip
        limit = max(0, min(int(limit), 1000))
        pos = start + max(0, int(offset))
        found: list[dict[str, Any]] = []
        scanned = 0
        too_long = tokens.max_library_context(self.services)
        with self.reader(ds["id"], ver["version"]) as reader:
            counts = reader.tokens(pos, min(stop, pos + budget))
            base = pos
            for p, _entry, raw in reader.iter_raw(pos, min(stop, pos + budget)):
                if len(found) >= limit:
                    break
                if cancelled is not None and scanned % 4096 == 0 and cancelled():
                    break
                scanned += 1
                pos = p + 1
                if match.quick(raw):
                    row = json.loads(raw)
                    if match(row, counts[p - base]):
                        found.append(_record(p - start, row, counts[p - base], too_long, p))
        return {
            "dataset_id": ds["id"],
            "version": ver["version"],
            "format": ver["format"],
            "fields": ver["fields"],
            "total": stop - start,
            "offset": int(offset),
            "rows": found,
            "next_offset": pos - start if pos < stop else None,
            "done": pos >= stop,
            "scanned": scanned,
        }

    def row(self, ref: str, index: int, *, version: int | None = None) -> dict[str, Any]:
        ds, ver = self.version_of(ref, version)
        with self.reader(ds["id"], ver["version"]) as reader:
            if not 0 <= int(index) < len(reader):
                raise UserError(f"Row {index} does not exist; the dataset has {len(reader)} rows.")
            return _record(
                int(index),
                reader.row(int(index)),
                reader.tokens(int(index), int(index) + 1)[0],
                tokens.max_library_context(self.services),
            )

    # -- editing --------------------------------------------------------------------------
    def edit(
        self,
        ref: str,
        *,
        update: list[dict[str, Any]] | None = None,
        add: list[dict[str, Any]] | None = None,
        insert: list[dict[str, Any]] | None = None,
        delete: list[int] | None = None,
        version: int | None = None,
        operation: str = "edit",
        description: str | None = None,
    ) -> dict[str, Any]:
        """Update, insert, append and delete rows as one new version. Rows are checked against the
        dataset's format. Indexes refer to the version edited."""
        ds, ver = self.version_of(ref, version)
        fmt = ver["format"]
        n = ver["rows"]
        updates: dict[int, dict[str, Any]] = {}
        for item in update or []:
            i = _index(item.get("index") if isinstance(item, dict) else None, n)
            updates[i] = _check_row(item.get("row"), fmt)
        inserts: dict[int, list[dict[str, Any]]] = {}
        for item in insert or []:
            at = item.get("at") if isinstance(item, dict) else None
            if not isinstance(at, int) or isinstance(at, bool) or not 0 <= at <= n:
                raise UserError(f"insert needs 'at' from 0 to {n}.")
            inserts.setdefault(at, []).append(_check_row(item.get("row"), fmt))
        for row in add or []:
            inserts.setdefault(n, []).append(_check_row(row, fmt))
        deletes = {_index(i, n) for i in delete or []}
        if not (updates or inserts or deletes):
            raise UserError("Nothing to change: give rows to update, add, insert or delete.")
        conflict = set(updates) & deletes
        if conflict:
            raise UserError(f"Row {min(conflict)} is both updated and deleted; choose one.")
        with dataset_lock(ds["id"]), self.reader(ds["id"], ver["version"]) as reader:
            writer = VersionWriter(self.folder(ds["id"]))
            kept: list[int] = []
            try:
                counts = reader.tokens()
                for pos, entry in reader.iter_entries():
                    for row in inserts.get(pos, ()):
                        writer.add_row(row, tokens.row_tokens(row, fmt))
                    if pos in deletes:
                        continue
                    kept.append(pos)
                    if pos in updates:
                        writer.add_row(updates[pos], tokens.row_tokens(updates[pos], fmt))
                    else:
                        writer.add_entry(entry, counts[pos])
                for row in inserts.get(n, ()):
                    writer.add_row(row, tokens.row_tokens(row, fmt))
            except BaseException:
                writer.abort()
                raise
            parts = []
            if updates:
                parts.append(f"edited {len(updates)}")
            if inserts:
                parts.append(f"added {sum(len(v) for v in inserts.values())}")
            if deletes:
                parts.append(f"deleted {len(deletes)}")
            splits = None if inserts else derive_splits(ver["splits"], kept)
            if inserts and ver["splits"]:
                parts.append("splits dropped (split again to assign the new rows)")
            summary = {
                "description": description or ("Rows " + ", ".join(parts) + "."),
                "updated": sorted(updates),
                "inserted": sum(len(v) for v in inserts.values()),
                "deleted": sorted(deletes)[:10000],
                "rows_before": n,
                "rows_after": writer.count,
            }
            new = self.commit(
                ds["id"],
                ver["version"],
                writer,
                operation=operation,
                params={},
                summary=summary,
                fmt=fmt,
                fields=ver["fields"],
                splits=splits,
                empty_message="Deleting every row would leave the dataset empty; nothing was "
                "changed. Delete the dataset instead.",
            )
        return {"dataset": self.get(ds["id"]), "version": new}

    def subset(
        self,
        ds: dict[str, Any],
        ver: dict[str, Any],
        keep: Callable[[int], bool] | Iterator[int] | list[int],
        *,
        operation: str,
        params: dict[str, Any],
        summary: dict[str, Any],
        empty_message: str,
        splits: list[dict[str, Any]] | str | None = "derive",
        check_cancelled: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """A new version holding the rows at positions for which ``keep(pos)`` is true (or the
        listed positions, in that order). No row data is copied."""
        with dataset_lock(ds["id"]), self.reader(ds["id"], ver["version"]) as reader:
            counts = reader.tokens()
            writer = VersionWriter(self.folder(ds["id"]))
            kept_positions: list[int] = []
            try:
                if callable(keep):
                    for pos, entry in reader.iter_entries():
                        if check_cancelled is not None and pos % 8192 == 0:
                            check_cancelled()
                        if keep(pos):
                            writer.add_entry(entry, counts[pos])
                            kept_positions.append(pos)
                else:
                    for pos in keep:
                        writer.add_entry(reader.entries(pos, pos + 1)[0], counts[pos])
                        kept_positions.append(pos)
            except BaseException:
                writer.abort()
                raise
            if splits == "derive":
                splits = derive_splits(ver.get("splits"), kept_positions)
            summary = {**summary, "rows_before": ver["rows"], "rows_after": writer.count}
            new = self.commit(
                ds["id"],
                ver["version"],
                writer,
                operation=operation,
                params=params,
                summary=summary,
                fmt=ver["format"],
                fields=ver["fields"],
                splits=splits,  # type: ignore[arg-type]
                empty_message=empty_message,
            )
        return {"dataset": self.get(ds["id"]), "version": new}

    def rewrite(
        self,
        ds: dict[str, Any],
        ver: dict[str, Any],
        transform: Callable[[int, dict[str, Any]], dict[str, Any] | None],
        *,
        fmt: str,
        operation: str,
        params: dict[str, Any],
        summary: Callable[[], dict[str, Any]],
        empty_message: str,
        count: Callable[[dict[str, Any]], int] | None = None,
        token_of: Callable[[int], int | None] | None = None,
        progress: Callable[[float], None] | None = None,
        check_cancelled: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """A new version whose rows are ``transform(pos, row)``: a new row, the same object
        (kept as is, no copy), or None (dropped). ``token_of(pos)`` may give a kept row a new
        token count (a filter that counted with a model's tokenizer)."""
        count = count or (lambda row: tokens.row_tokens(row, fmt))
        with dataset_lock(ds["id"]), self.reader(ds["id"], ver["version"]) as reader:
            counts = reader.tokens()
            writer = VersionWriter(self.folder(ds["id"]))
            kept: list[int] = []
            changed = False
            total = max(1, len(reader))
            try:
                for pos, entry, raw in reader.iter_raw():
                    if pos % 4096 == 0:
                        if check_cancelled is not None:
                            check_cancelled()
                        if progress is not None:
                            progress(pos / total)
                    row = json.loads(raw)
                    out = transform(pos, row)
                    if out is None:
                        continue
                    kept.append(pos)
                    if out is row and fmt == ver["format"]:
                        fresh = token_of(pos) if token_of is not None else None
                        writer.add_entry(entry, counts[pos] if fresh is None else fresh)
                    else:
                        changed = True
                        writer.add_row(out, count(out))
            except BaseException:
                writer.abort()
                raise
            if not changed and writer.count == ver["rows"] and fmt == ver["format"]:
                writer.abort()  # nothing changed: no new version
                return {"dataset": self.get(ds["id"]), "version": None}
            new = self.commit(
                ds["id"],
                ver["version"],
                writer,
                operation=operation,
                params=params,
                summary={**summary(), "rows_before": ver["rows"], "rows_after": writer.count},
                fmt=fmt,
                fields=[] if fmt != ver["format"] else ver["fields"],
                splits=derive_splits(ver.get("splits"), kept),
                empty_message=empty_message,
            )
        return {"dataset": self.get(ds["id"]), "version": new}


# -- helpers ----------------------------------------------------------------------------------


def _clean_params(params: dict[str, Any]) -> dict[str, Any]:
    """What a version records of a step's parameters (not the job's bookkeeping)."""
    return {k: v for k, v in params.items() if k not in ("dataset", "dataset_name")}


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise UserError("A dataset name must be a non-empty string.")
    name = name.strip()
    if len(name) > _NAME_MAX:
        raise UserError(f"A dataset name can be at most {_NAME_MAX} characters.")
    return name


def _index(value: Any, n: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < n:
        raise UserError(f"Row index {value!r} is out of range; the dataset has {n} rows.")
    return value


def _check_row(row: Any, fmt: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise UserError("A row must be a JSON object.")
    try:
        return formats.to_canonical(row, fmt, {})
    except formats.RowError as exc:
        raise UserError(f"The row is not valid {fmt}: {exc}.") from None


def _version_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "version": row["version"],
        "parent": row["parent"],
        "operation": row["operation"],
        "params": json.loads(row["params"] or "{}"),
        "summary": json.loads(row["summary"] or "{}"),
        "format": row["format"],
        "rows": row["rows"],
        "fields": json.loads(row["fields"] or "[]"),
        "splits": json.loads(row["splits"]) if row["splits"] else None,
        "created_at": row["created_at"],
    }


def _record(
    index: int, row: dict[str, Any], n_tokens: int, too_long: int, position: int | None = None
) -> dict[str, Any]:
    """A row for the table: ``index`` within the split shown, ``position`` in the whole version
    (what edits and removals take)."""
    flags = ["too_long"] if n_tokens > too_long else []
    return {
        "index": index,
        "position": index if position is None else position,
        "row": row,
        "tokens": int(n_tokens),
        "flags": flags,
    }


def _split_range(ver: dict[str, Any], split: str | None) -> tuple[int, int]:
    if not split:
        return 0, ver["rows"]
    for s in ver.get("splits") or []:
        if s["name"] == split:
            return s["start"], s["start"] + s["rows"]
    names = [s["name"] for s in ver.get("splits") or []]
    if not names:
        raise UserError("This version has no splits; split the dataset first.")
    raise UserError(f"No split {split!r}; this version has {', '.join(names)}.")


def derive_splits(
    splits: list[dict[str, Any]] | None, kept: list[int]
) -> list[dict[str, Any]] | None:
    """Split boundaries after keeping ``kept`` (ascending) positions of a split version."""
    if not splits:
        return None
    out = []
    i = 0
    start = 0
    for s in splits:
        end = s["start"] + s["rows"]
        n = 0
        while i < len(kept) and kept[i] < end:
            n += 1
            i += 1
        out.append({"name": s["name"], "start": start, "rows": n})
        start += n
    return out


class _Matcher:
    def __init__(self, quick: Callable[[bytes], bool], full: Callable[[dict, int], bool]) -> None:
        self.quick = quick
        self._full = full

    def __call__(self, row: dict[str, Any], n_tokens: int) -> bool:
        return self._full(row, n_tokens)


def make_matcher(
    fmt: str,
    *,
    query: str | None,
    regex: bool,
    case_sensitive: bool,
    field: str | None,
    filters: list[dict[str, Any]],
    too_long: int,
) -> _Matcher:
    """A row predicate for search and filters, with a cheap pre-check on the raw JSON line."""
    checks: list[Callable[[dict, int], bool]] = []
    quick: Callable[[bytes], bool] = lambda raw: True  # noqa: E731
    if query:
        pattern = _compile(query if regex else re.escape(query), case_sensitive)
        checks.append(lambda row, _n: bool(pattern.search(_field_text(row, fmt, field))))
        if not regex and query.isascii() and '"' not in query and "\\" not in query:
            needle = query.encode() if case_sensitive else query.lower().encode()
            quick = (
                (lambda raw: needle in raw)
                if case_sensitive
                else (lambda raw: needle in raw.lower())
            )
    for f in filters:
        checks.append(_filter_check(f, fmt, too_long))
    return _Matcher(quick, lambda row, n: all(c(row, n) for c in checks))


def _compile(pattern: str, case_sensitive: bool = True) -> re.Pattern:
    try:
        return re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
    except re.error as exc:
        raise UserError(f"The regular expression {pattern!r} is not valid: {exc}.") from None


def _field_text(row: dict[str, Any], fmt: str, field: str | None) -> str:
    if not field:
        return formats.row_text(row, fmt)
    value = formats.field_value(row, field)
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _filter_check(f: Any, fmt: str, too_long: int) -> Callable[[dict, int], bool]:
    if not isinstance(f, dict) or f.get("op") not in FILTER_OPS:
        raise UserError(f"A filter needs 'op', one of {', '.join(FILTER_OPS)}.")
    op, field, value = f["op"], f.get("field"), f.get("value")
    if op in ("tokens_gt", "tokens_lt"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise UserError(f"The {op} filter needs a number 'value'.")
        return (lambda _r, n: n > value) if op == "tokens_gt" else (lambda _r, n: n < value)
    if op == "too_long":
        return lambda _r, n: n > too_long
    if op in ("empty", "not_empty"):

        def is_empty(row: dict[str, Any]) -> bool:
            if field:
                v = formats.field_value(row, field)
                return (
                    v is None
                    or (isinstance(v, (str, list, dict)) and not v)
                    or (isinstance(v, str) and not v.strip())
                )
            return any(
                not t.strip() for t in formats.text_fields(row, fmt)
            ) or not formats.text_fields(row, fmt)

        return (lambda r, _n: is_empty(r)) if op == "empty" else (lambda r, _n: not is_empty(r))
    if not isinstance(value, str):
        raise UserError(f"The {op} filter needs a text 'value'.")
    if op == "regex":
        pattern = _compile(value)
        return lambda r, _n: bool(pattern.search(_field_text(r, fmt, field)))
    if op == "equals":
        return lambda r, _n: _field_text(r, fmt, field) == value
    low = value.lower()
    if op == "contains":
        return lambda r, _n: low in _field_text(r, fmt, field).lower()
    return lambda r, _n: low not in _field_text(r, fmt, field).lower()
