"""``RecordTableModel``: a table over a list of engine records (dicts with an ``id``).

Subclasses name their ``COLUMNS`` and implement ``cell(record, column, role)``; this class owns
the rows, lookups by id, Qt's counting and header methods, in-place updates, and the guard that
keeps an exception in ``cell`` from reaching Qt's painting (which crashes the binding).
"""

from __future__ import annotations

import functools
import logging
from typing import Any, ClassVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

log = logging.getLogger(__name__)
Index = QModelIndex | QPersistentModelIndex
RecordRole = Qt.ItemDataRole.UserRole


def guarded_data(method):
    """Wrap a Qt model's ``data()`` so an exception is logged and the cell left empty, for item
    models that do not derive from ``RecordTableModel``."""

    @functools.wraps(method)
    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        try:
            return method(self, index, role)
        except Exception:
            log.exception(
                "%s.data failed at row %s, column %s",
                type(self).__name__,
                index.row(),
                index.column(),
            )
            return None

    return data


class RecordTableModel(QAbstractTableModel):
    COLUMNS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []

    # -- records --------------------------------------------------------------------------
    def set_records(self, records: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._rows = list(records)
        self.endResetModel()

    def records(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def record_at(self, row: int) -> dict[str, Any] | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, record_id: str) -> int:
        return next((i for i, r in enumerate(self._rows) if r.get("id") == record_id), -1)

    def replace_record(self, record: dict[str, Any]) -> bool:
        """Swap in a fresher copy of a listed record; False if it is not listed."""
        row = self.row_of(record.get("id", ""))
        if row < 0:
            return False
        self._rows[row] = record
        self.row_changed(row)
        return True

    def row_changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))

    # -- Qt -------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(self.COLUMNS)
        ):
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        record = self._rows[index.row()]
        if role == RecordRole:
            return record
        try:
            return self.cell(record, index.column(), role)
        except Exception:
            log.exception(
                "%s: no %s for column %d of %r",
                type(self).__name__,
                role,
                index.column(),
                record.get("id"),
            )
            return None

    def cell(self, record: dict[str, Any], column: int, role: int) -> Any:
        raise NotImplementedError
