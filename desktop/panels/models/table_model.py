"""``ModelsTableModel``: the engine's Model dicts as table rows."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from desktop.format import human_bytes, human_count
from desktop.widgets import guarded_data

COLUMNS = (
    "Name",
    "Format",
    "Architecture",
    "Parameters",
    "Quantization",
    "Context",
    "Size",
    "Source",
)
_CAPS = {
    "chat_llama_cpp": "chat",
    "chat_transformers": "torch chat",
    "train": "train",
    "prune": "prune",
    "embed": "embed",
    "convert": "convert",
}

Index = QModelIndex | QPersistentModelIndex


def source_of(model: dict[str, Any]) -> str:
    if model.get("missing"):
        return "missing"
    if model.get("bundled"):
        return "bundled"
    return "copied" if model.get("managed") else "referenced"


def capabilities_text(model: dict[str, Any]) -> str:
    caps = model.get("capabilities") or {}
    return ", ".join(label for key, label in _CAPS.items() if caps.get(key)) or "–"


class ModelsTableModel(QAbstractTableModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []

    def set_models(self, models: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._rows = list(models)
        self.endResetModel()

    def model_at(self, row: int) -> dict[str, Any] | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, model_id: str) -> int:
        return next((i for i, m in enumerate(self._rows) if m["id"] == model_id), -1)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    @guarded_data
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        m = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                m.get("name"),
                (m.get("format") or "").upper(),
                m.get("arch") or "–",
                human_count(m.get("params")),
                m.get("quant") or "–",
                f"{m['context_length']:,}" if m.get("context_length") else "–",
                human_bytes(m.get("size_bytes")),
                source_of(m),
            )[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{m.get('path')}\nCan: {capabilities_text(m)}"
        if role == Qt.ItemDataRole.ForegroundRole and col == 7 and m.get("missing"):
            return QColor("#d9534f")
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (3, 5, 6):
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        if role == Qt.ItemDataRole.UserRole:
            return m
        return None
