"""``ThreadModel``: the messages of the conversation's current branch, as a Qt list model.

Rows are the engine's Message dicts (docs/PROTOCOL.md), root first. ``set_messages`` replaces the
branch by position, so rows that did not change keep their widgets; a reply that is streaming is a
row whose ``content`` grows through ``set_content`` (one ``dataChanged`` per frame, not per token).
Rows made on the GUI side before the engine answered carry ``"local": True``.
"""

from __future__ import annotations

import itertools
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from desktop.widgets import guarded_data

Index = QModelIndex | QPersistentModelIndex
MessageRole = Qt.ItemDataRole.UserRole
_local_ids = itertools.count(1)

STATE_LABELS = {
    "cancelled": "stopped",
    "interrupted": "interrupted",
    "error": "failed",
    "streaming": "writing…",
}


def local_message(role: str, content: str = "", *, state: str = "complete") -> dict[str, Any]:
    """A message shown before the engine confirmed it (a sent prompt, a reply on its way)."""
    return {
        "id": f"local-{next(_local_ids)}",
        "role": role,
        "content": content,
        "state": state,
        "partial": state != "complete",
        "interrupted": state == "interrupted",
        "metadata": {},
        "siblings": [],
        "sibling_index": 0,
        "local": True,
    }


class ThreadModel(QAbstractListModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []

    # -- reading --------------------------------------------------------------------------

    def messages(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def message_at(self, row: int) -> dict[str, Any] | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, message_id: str | None) -> int:
        return next((i for i, m in enumerate(self._rows) if m.get("id") == message_id), -1)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    @guarded_data
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        message = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return message.get("content", "")
        if role == Qt.ItemDataRole.ToolTipRole:
            return STATE_LABELS.get(message.get("state", ""), "")
        if role == MessageRole:
            return message
        return None

    # -- writing --------------------------------------------------------------------------

    def clear(self) -> None:
        self.set_messages([])

    def set_messages(self, messages: list[dict[str, Any]]) -> None:
        """Show ``messages``; rows are updated in place, then added or removed at the end."""
        new = [dict(m) for m in messages]
        common = min(len(new), len(self._rows))
        for row in range(common):
            if new[row] != self._rows[row]:
                self._rows[row] = new[row]
                self.dataChanged.emit(self.index(row), self.index(row))
        if len(new) > len(self._rows):
            self.beginInsertRows(QModelIndex(), len(self._rows), len(new) - 1)
            self._rows.extend(new[common:])
            self.endInsertRows()
        elif len(new) < len(self._rows):
            self.truncate(len(new))

    def append(self, message: dict[str, Any]) -> int:
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append(dict(message))
        self.endInsertRows()
        return row

    def truncate(self, row: int) -> None:
        """Drop ``row`` and everything after it."""
        if row >= len(self._rows):
            return
        self.beginRemoveRows(QModelIndex(), row, len(self._rows) - 1)
        del self._rows[row:]
        self.endRemoveRows()

    def update(self, row: int, **changes: Any) -> None:
        if not 0 <= row < len(self._rows):
            return
        message = self._rows[row]
        if all(message.get(k) == v for k, v in changes.items()):
            return
        message.update(changes)
        if "state" in changes:
            message["partial"] = changes["state"] != "complete"
            message["interrupted"] = changes["state"] == "interrupted"
        self.dataChanged.emit(self.index(row), self.index(row))

    def set_content(self, row: int, text: str) -> None:
        self.update(row, content=text)
