"""``StatsPane``: a dataset's token-length histogram and role counts, drawn with matplotlib in
this process from the numbers ``data.stats`` returns (``StatsCanvas``; the engine sends figures,
not pictures), with the summary figures above them and Save plot… for PNG or SVG.

Token counts are the engine's estimates, or exact for a chosen model's tokenizer and template.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import Call, EngineClient
from desktop.errors import CancelledError

ESTIMATE = "Estimated tokens"


class StatsPane(QWidget):
    sig_stats = Signal(object)
    """Statistics arrived and were drawn; the argument is the ``data.stats`` result."""
    sig_message = Signal(str, str)
    """Something to tell the user: text, kind (info, success, error)."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.dataset_id: str | None = None
        self.split: str | None = None
        self.stats: dict[str, Any] | None = None
        self._call: Call | None = None
        self._stale = True
        self.model_combo = QComboBox()
        self.model_combo.addItem(ESTIMATE, None)
        self.model_combo.setToolTip("Count tokens exactly with a model's tokenizer and template")
        self.refresh_button = QPushButton("Refresh")
        self.save_button = QPushButton("Save plot…")
        self.save_button.setEnabled(False)
        self.summary = QLabel("Select a dataset to see its statistics.")
        self.summary.setWordWrap(True)
        self.canvas: Any = None  # a StatsCanvas, made when there is something to draw
        top = QHBoxLayout()
        top.addWidget(self.model_combo, 1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addStretch(1)
        self._layout = layout
        self.refresh_button.clicked.connect(self.refresh)
        self.save_button.clicked.connect(self.save_plot)
        self.model_combo.currentIndexChanged.connect(lambda _i: self.refresh())

    def set_models(self, models: list[dict[str, Any]]) -> None:
        chosen = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItem(ESTIMATE, None)
        for m in models:
            if m.get("role", "llm") == "llm" and not m.get("missing") and not m.get("remote"):
                self.model_combo.addItem(f"Tokens of {m.get('name') or m['id']}", m["id"])
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(chosen)))
        self.model_combo.blockSignals(False)

    def show_dataset(self, dataset_id: str | None, split: str | None = None) -> None:
        """Remember what to describe; computed when the pane is visible (``refresh_if_stale``)."""
        self.dataset_id, self.split = dataset_id, split
        self._stale = True
        if self.isVisible():
            self.refresh()

    def refresh_if_stale(self) -> None:
        if self._stale:
            self.refresh()

    def refresh(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None
        if self.dataset_id is None:
            self.stats = None
            self.summary.setText("Select a dataset to see its statistics.")
            if self.canvas is not None:
                self.canvas.plot(None, self.palette())
            return
        self._stale = False
        params: dict[str, Any] = {"id": self.dataset_id, "plots": False}
        if self.split:
            params["split"] = self.split
        if self.model_combo.currentData():
            params["model_id"] = self.model_combo.currentData()
        self.summary.setText("Counting…")
        self._call = request(self, self.client, "data.stats", params,
                             ok=lambda s: self._show(s), fail=self._failed)  # fmt: skip

    def _show(self, stats: dict[str, Any]) -> None:
        if stats.get("dataset_id") != self.dataset_id:
            return  # an answer for a dataset no longer shown
        self._call = None
        self.stats = stats
        self.summary.setText(summary_text(stats))
        self._ensure_canvas().plot(stats, self.palette())
        self.save_button.setEnabled(True)
        self.sig_stats.emit(stats)

    def _failed(self, error: Any) -> None:
        self._call = None
        if not isinstance(error, CancelledError):
            self.summary.setText(f"<span style='color:#b52a2a'>{error.message}</span>")

    def _ensure_canvas(self) -> Any:
        """matplotlib is imported on first use, so opening Hearth does not wait for it."""
        if self.canvas is None:
            from desktop.panels.datasets.stats_canvas import StatsCanvas

            self.canvas = StatsCanvas(self)
            self._layout.insertWidget(self._layout.count() - 1, self.canvas, 1)
            self._layout.setStretch(self._layout.count() - 1, 0)
        return self.canvas

    def save_plot(self, path: str | None = None) -> None:
        if not path:
            name = (self.stats or {}).get("name") or "dataset"
            path, _ = QFileDialog.getSaveFileName(
                self, "Save plot", f"{name}-stats.png", "PNG image (*.png);;SVG drawing (*.svg)"
            )
        if path:
            self.canvas.figure.savefig(path)
            self.sig_message.emit(f"Saved the plot to {path}.", "success")


def summary_text(stats: dict[str, Any]) -> str:
    t = stats.get("tokens") or {}
    how = f"{stats.get('tokenizer')} tokenizer" if stats.get("exact_tokens") else "estimated"
    parts = [
        f"<b>{int(stats.get('rows') or 0):,} rows</b> · {stats.get('format')}",
        f"tokens ({how}): min {t.get('min', 0):,} · median {float(t.get('median') or 0):,.0f} · "
        f"mean {float(t.get('mean') or 0):,.1f} · p95 {float(t.get('p95') or 0):,.0f} · "
        f"max {t.get('max', 0):,} · total {int(t.get('total') or 0):,}",
    ]
    if stats.get("too_long"):
        parts.append(
            f"<span style='color:#c62828'>{stats['too_long']:,} rows longer than "
            f"{int(stats.get('context_limit') or 0):,} tokens</span>"
        )
    turns = stats.get("turns") or {}
    if turns:
        parts.append("user turns: " + ", ".join(f"{k}: {v:,}" for k, v in turns.items()))
    return "<br>".join(parts)
