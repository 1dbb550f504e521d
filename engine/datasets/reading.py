"""Reading a dataset version: ``page`` for the lazy table (one seek per row), ``scan`` for search
and filters (bounded by a row budget, resumable from a cursor), ``row`` for one row. A mixin of
``DatasetLibrary``, which provides ``version_of``, ``reader`` and ``services``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from engine.core.errors import UserError
from engine.datasets import tokens
from engine.datasets.filters import make_matcher
from engine.datasets.versions import split_range


class RowReading:
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
        start, stop = split_range(ver, split)
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
        more = first + len(rows) < stop
        return _answer(ds, ver, stop - start, offset, rows, offset + len(rows) if more else None,
                       done=True, scanned=len(rows))  # fmt: skip

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
        start, stop = split_range(ver, split)
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
        return _answer(ds, ver, stop - start, int(offset), found,
                       pos - start if pos < stop else None, done=pos >= stop, scanned=scanned)  # fmt: skip

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


def _answer(ds: dict, ver: dict, total: int, offset: int, rows: list, next_offset: int | None,
            *, done: bool, scanned: int) -> dict[str, Any]:  # fmt: skip
    """What ``page`` and ``scan`` answer (``data.rows``)."""
    return {"dataset_id": ds["id"], "version": ver["version"], "format": ver["format"],
            "fields": ver["fields"], "total": total, "offset": offset, "rows": rows,
            "next_offset": next_offset, "done": done, "scanned": scanned}  # fmt: skip


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
