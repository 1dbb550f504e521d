"""``LazyRowsModel``: the rows of one dataset version, paged from the engine as they are shown.

Browsing (no search): the row count is the version's total; ``data()`` asks for the page holding
a row the view paints, at most ``MAX_INFLIGHT`` pages at a time (the newest wants first, so a
fast scroll does not queue every page it passed), and keeps the ``MAX_PAGES`` most recently used
pages, so a million-row dataset shows its first rows at once and memory stays bounded.

Searching (a query or filters): the engine scans from a cursor and returns matches; the model
grows through ``canFetchMore``/``fetchMore`` as the view scrolls, up to ``MAX_MATCHES`` rows.
"""

from __future__ import annotations

import collections
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor

from desktop.calls import request
from desktop.engine_client import Call, EngineClient
from desktop.errors import CancelledError, EngineError
from desktop.panels.datasets.rowtext import cell_text, columns_for, tooltip_text
from desktop.table_model import guarded_data

Index = QModelIndex | QPersistentModelIndex
RecordRole = Qt.ItemDataRole.UserRole
LOADING = "…"


class LazyRowsModel(QAbstractTableModel):
    sig_loaded = Signal(object)
    """A reply arrived: ``{total, version, format, fields, searching, done, scanned, matches}``."""
    sig_failed = Signal(str)
    """Paging or searching failed; the argument is the engine's message."""

    PAGE = 100
    MAX_PAGES = 30
    MAX_INFLIGHT = 3
    MAX_WANTED = 8
    SEARCH_LIMIT = 200
    MAX_MATCHES = 50_000

    def __init__(self, client: EngineClient, parent=None) -> None:
        super().__init__(parent)
        self.client = client
        self.dataset_id: str | None = None
        self.columns: list[str] = []
        self.fmt: str | None = None
        self.version: int | None = None
        self.total = 0
        self.split: str | None = None
        self.split_start = 0
        self.search: dict[str, Any] = {}
        self.pages: collections.OrderedDict[int, list[dict]] = collections.OrderedDict()
        self.matches: list[dict[str, Any]] = []
        self.next_offset: int | None = 0
        self.requests = 0  # data.rows calls made since the last reset (tests, status)
        self._generation = 0
        self._inflight: dict[int, Call] = {}
        self._broken: set[int] = set()  # pages that failed: not asked again until a reset
        self._wanted: collections.OrderedDict[int, None] = collections.OrderedDict()
        self._search_call: Call | None = None
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(0)
        self._flush.timeout.connect(self._request_wanted)

    # -- source ---------------------------------------------------------------------------

    @property
    def searching(self) -> bool:
        return bool(self.search)

    def set_source(
        self,
        dataset_id: str | None,
        *,
        split: str | None = None,
        split_start: int = 0,
        search: dict[str, Any] | None = None,
    ) -> None:
        """Show ``dataset_id`` (its current version), optionally one split and a search:
        ``{query, regex, case_sensitive, field, filters}``; None clears the table."""
        self._cancel_requests()
        self.beginResetModel()
        self._generation += 1
        self.dataset_id, self.split, self.split_start = dataset_id, split, split_start
        self.search = {k: v for k, v in (search or {}).items() if v not in (None, "", [], False)}
        self.pages.clear()
        self.matches = []
        self.total = 0
        self.next_offset = 0
        self.requests = 0
        self.endResetModel()
        if dataset_id is None:
            return
        if self.searching:
            self._search_more()
        else:
            self._request_page(0)

    def reload(self) -> None:
        """Page again from the start (the dataset's current version changed)."""
        self.set_source(
            self.dataset_id, split=self.split, split_start=self.split_start, search=self.search
        )

    def _params(self, offset: int, limit: int) -> dict[str, Any]:
        params: dict[str, Any] = {"id": self.dataset_id, "offset": offset, "limit": limit}
        if self.split:
            params["split"] = self.split
        params.update(self.search)
        return params

    def _cancel_requests(self) -> None:
        for call in self._inflight.values():
            call.cancel()
        self._inflight.clear()
        self._wanted.clear()
        self._broken.clear()
        if self._search_call is not None:
            self._search_call.cancel()
            self._search_call = None

    # -- browsing: a block cache of pages -------------------------------------------------

    def _want(self, page: int) -> None:
        if page in self._inflight or page in self._broken:
            return
        self._wanted.pop(page, None)
        self._wanted[page] = None
        while len(self._wanted) > self.MAX_WANTED:
            self._wanted.popitem(last=False)
        self._flush.start()

    def _request_wanted(self) -> None:
        while self._wanted and len(self._inflight) < self.MAX_INFLIGHT:
            page, _ = self._wanted.popitem(last=True)
            if page not in self.pages:
                self._request_page(page)

    def _request_page(self, page: int) -> None:
        generation = self._generation
        self.requests += 1
        self._inflight[page] = request(
            self, self.client, "data.rows", self._params(page * self.PAGE, self.PAGE),
            ok=lambda r: self._page_arrived(generation, page, r),
            fail=lambda e: self._failed(generation, page, e),
        )  # fmt: skip

    def _page_arrived(self, generation: int, page: int, result: dict[str, Any]) -> None:
        if generation != self._generation:
            return
        self._inflight.pop(page, None)
        if (
            self.total != result["total"]
            or self.version != result.get("version")
            or not self.columns
        ):
            self._take_shape(result)
        self.pages[page] = result.get("rows") or []
        self.pages.move_to_end(page)
        while len(self.pages) > self.MAX_PAGES:
            self.pages.popitem(last=False)
        first, last = page * self.PAGE, min(self.total, (page + 1) * self.PAGE) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, self.columnCount() - 1))
        self.sig_loaded.emit(self._status(result))
        self._request_wanted()

    def _take_shape(self, result: dict[str, Any]) -> None:
        self.beginResetModel()
        self.total = int(result.get("total") or 0)
        self.version = result.get("version")
        self.fmt = result.get("format")
        self.columns = columns_for(self.fmt, result.get("fields"))
        self.pages.clear()
        self.endResetModel()

    def _failed(self, generation: int, page: int | None, error: EngineError) -> None:
        if generation != self._generation:
            return
        if page is not None:
            self._inflight.pop(page, None)
            self._broken.add(page)
        else:
            self._search_call = None
        if not isinstance(error, CancelledError):
            self.sig_failed.emit(error.message)

    # -- searching: grows with fetchMore --------------------------------------------------

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008 - Qt's signature
        return (
            not parent.isValid()
            and self.searching
            and self.next_offset is not None
            and self._search_call is None
            and len(self.matches) < self.MAX_MATCHES
        )

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self._search_more()

    def _search_more(self) -> None:
        generation = self._generation
        self.requests += 1
        self._search_call = request(
            self, self.client, "data.rows", self._params(self.next_offset or 0, self.SEARCH_LIMIT),
            ok=lambda r: self._matches_arrived(generation, r),
            fail=lambda e: self._failed(generation, None, e),
        )  # fmt: skip

    def _matches_arrived(self, generation: int, result: dict[str, Any]) -> None:
        if generation != self._generation:
            return
        self._search_call = None
        if not self.columns or self.version != result.get("version"):
            self.beginResetModel()
            self.version, self.fmt = result.get("version"), result.get("format")
            self.columns = columns_for(self.fmt, result.get("fields"))
            self.endResetModel()
        self.total = int(result.get("total") or 0)
        rows = result.get("rows") or []
        if rows:
            first = len(self.matches)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self.matches.extend(rows)
            self.endInsertRows()
        self.next_offset = result.get("next_offset")
        self.sig_loaded.emit(self._status(result))
        # nothing found in this stretch, or too few to fill a screen: keep scanning
        more = self.next_offset is not None and len(self.matches) < self.MAX_MATCHES
        if more and (not rows or len(self.matches) < self.PAGE):
            self._search_more()

    def _status(self, result: dict[str, Any]) -> dict[str, Any]:
        return {
            "total": self.total,
            "version": self.version,
            "format": self.fmt,
            "fields": result.get("fields"),
            "searching": self.searching,
            "done": self.next_offset is None if self.searching else True,
            "scanned_to": (self.next_offset if self.next_offset is not None else self.total),
            "matches": len(self.matches),
            "capped": len(self.matches) >= self.MAX_MATCHES,
        }

    # -- rows -----------------------------------------------------------------------------

    def record_at(self, row: int) -> dict[str, Any] | None:
        """The engine's Row at a table row (``{index, position, row, tokens, flags}``), or None
        while its page is not loaded."""
        if self.searching:
            return self.matches[row] if 0 <= row < len(self.matches) else None
        page = self.pages.get(row // self.PAGE)
        if page is None:
            return None
        offset = row % self.PAGE
        return page[offset] if offset < len(page) else None

    def position_at(self, row: int) -> int:
        """The row's position in the whole version (what edits and removals take)."""
        record = self.record_at(row)
        if record is not None:
            return int(record.get("position", record.get("index", row)))
        return self.split_start + row

    def column_names(self) -> list[str]:
        return ["#", *self.columns, "tokens"]

    # -- Qt -------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid():
            return 0
        return len(self.matches) if self.searching else self.total

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or not self.columns else len(self.columns) + 2

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        names = self.column_names()
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(names):
            if role == Qt.ItemDataRole.DisplayRole:
                return names[section]
            if role == Qt.ItemDataRole.ToolTipRole and section == len(names) - 1:
                return "Tokens per row (an estimate unless a filter counted with a model)"
        return None

    @guarded_data
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        record = self.record_at(row)
        if record is None:
            if not self.searching and role == Qt.ItemDataRole.DisplayRole:
                self._want(row // self.PAGE)
                return LOADING if column else str(row)
            return None
        if role == RecordRole:
            return record
        last = len(self.columns) + 1
        too_long = "too_long" in (record.get("flags") or [])
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return str(record.get("index", row))
            if column == last:
                return f"{int(record.get('tokens') or 0):,}"
            return cell_text((record.get("row") or {}).get(self.columns[column - 1]))
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == last:
                return "Longer than every model's context window" if too_long else None
            if 0 < column < last:
                return tooltip_text((record.get("row") or {}).get(self.columns[column - 1])) or None
        if role == Qt.ItemDataRole.ForegroundRole and column == last and too_long:
            return QBrush(QColor("#c62828"))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, last):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
