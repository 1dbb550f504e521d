"""Editing a dataset: ``edit`` applies updates, inserts and deletes in one streaming pass over the
parent index; ``subset`` keeps chosen rows; ``rewrite`` maps every row through a function. Each
makes a new version. A mixin of ``DatasetLibrary`` (``version_of``, ``reader``, ``commit``...).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from engine.core.errors import UserError
from engine.datasets import formats, tokens
from engine.datasets.rowstore import VersionWriter
from engine.datasets.versions import dataset_lock, derive_splits


class RowEditing:
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
