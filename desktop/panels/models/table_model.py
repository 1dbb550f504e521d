"""``ModelsTableModel``: the engine's Model dicts as table rows."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from desktop.format import human_bytes, human_count
from desktop.table_model import RecordTableModel

REMOTE_COLOUR = "#b35c00"  # models whose text leaves the machine: the same amber everywhere
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
    "chat_remote": "chat (on its server)",
    "train": "train",
    "prune": "prune",
    "embed": "embed",
    "convert": "convert",
}


def server_of(model: dict[str, Any]) -> str | None:
    """``host:port`` of a model on a server (None for a local one)."""
    from urllib.parse import urlsplit

    remote = model.get("remote")
    return urlsplit(remote["base"]).netloc if remote else None


def picker_label(model: dict[str, Any]) -> str:
    """A model's name in pickers; a model on a server says where its text goes."""
    name = model.get("name") or model["id"]
    return f"{name} (on {server_of(model)})" if model.get("remote") else name


def source_of(model: dict[str, Any]) -> str:
    if model.get("remote"):
        return f"server {server_of(model)}"
    if model.get("missing"):
        return "missing"
    if model.get("bundled"):
        return "bundled"
    lineage = model.get("lineage") or {}
    if lineage.get("method") == "quantize":
        return f"quantized ({lineage.get('quant')})"
    if lineage.get("method"):  # made in Hearth from another library model
        return "distilled" if lineage["method"] == "distill" else f"pruned ({lineage['method']})"
    return "copied" if model.get("managed") else "referenced"


def capabilities_text(model: dict[str, Any]) -> str:
    caps = model.get("capabilities") or {}
    return ", ".join(label for key, label in _CAPS.items() if caps.get(key)) or "–"


class ModelsTableModel(RecordTableModel):
    COLUMNS = COLUMNS

    def set_models(self, models: list[dict[str, Any]]) -> None:
        self.set_records(models)

    def model_at(self, row: int) -> dict[str, Any] | None:
        return self.record_at(row)

    def row_of_name(self, name: str) -> int:
        return next((i for i, m in enumerate(self._rows) if m.get("name") == name), -1)

    def cell(self, m: dict[str, Any], col: int, role: int) -> Any:
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
            if m.get("remote"):
                return f"Runs on {m['remote']['base']}: what you send it leaves this machine."
            return f"{m.get('path')}\nCan: {capabilities_text(m)}"
        if role == Qt.ItemDataRole.ForegroundRole and col == 7 and m.get("missing"):
            return QColor("#d9534f")
        if role == Qt.ItemDataRole.ForegroundRole and col in (0, 7) and m.get("remote"):
            return QColor(REMOTE_COLOUR)
        if role == Qt.ItemDataRole.DecorationRole and col == 0 and m.get("remote"):
            from PySide6.QtWidgets import QApplication, QStyle

            return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_DriveNetIcon)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (3, 5, 6):
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None
