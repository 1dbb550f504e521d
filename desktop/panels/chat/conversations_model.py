"""``ConversationsModel``: the stored conversations (or search hits) as a Qt list model.

Rows are the engine's Conversation dicts, pinned first, then most recently updated (the order
``chat.list`` answers in, kept when rows change locally). A search hit also carries the matching
message's snippet, shown under the title.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont

from desktop.format import clock
from desktop.widgets import guarded_data

Index = QModelIndex | QPersistentModelIndex
ConversationRole = Qt.ItemDataRole.UserRole
PIN = "★ "


def _order(conv: dict[str, Any]) -> tuple[bool, float]:
    return (not conv.get("pinned"), -float(conv.get("updated_at") or 0))


class ConversationsModel(QAbstractListModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []
        self._snippets: dict[str, str] = {}

    def set_conversations(
        self, conversations: list[dict[str, Any]], snippets: dict[str, str] | None = None
    ) -> None:
        self.beginResetModel()
        self._rows = [dict(c) for c in conversations]
        self._snippets = dict(snippets or {})
        self.endResetModel()

    def set_search_results(self, results: list[dict[str, Any]]) -> None:
        snippets = {}
        for hit in results:
            match = hit.get("match") or {}
            if match.get("snippet"):
                snippets[hit["conversation"]["id"]] = " ".join(match["snippet"].split())
        self.set_conversations([hit["conversation"] for hit in results], snippets)

    def conversation_at(self, row: int) -> dict[str, Any] | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, conv_id: str | None) -> int:
        return next((i for i, c in enumerate(self._rows) if c["id"] == conv_id), -1)

    def upsert(self, conv: dict[str, Any]) -> int:
        """Add or replace one conversation, keep the order; returns its row."""
        row = self.row_of(conv["id"])
        merged = {**(self._rows[row] if row >= 0 else {}), **conv}
        rows = [c for c in self._rows if c["id"] != conv["id"]] + [merged]
        rows.sort(key=_order)
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()
        return self.row_of(conv["id"])

    def remove(self, conv_id: str) -> None:
        row = self.row_of(conv_id)
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    @guarded_data
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        conv = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            title = (PIN if conv.get("pinned") else "") + str(conv.get("title") or "Untitled")
            snippet = self._snippets.get(conv["id"])
            if snippet:
                return f"{title}\n  {snippet[:70]}{'…' if len(snippet) > 70 else ''}"
            return title
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [str(conv.get("title") or ""), f"Updated {clock(conv.get('updated_at'))}"]
            if conv.get("message_count") is not None:
                lines.append(f"{conv['message_count']} messages")
            if conv.get("pinned"):
                lines.append("Pinned")
            return "\n".join(lines)
        if role == Qt.ItemDataRole.FontRole and conv.get("pinned"):
            font = QFont()
            font.setBold(True)
            return font
        if role == ConversationRole:
            return conv
        return None
