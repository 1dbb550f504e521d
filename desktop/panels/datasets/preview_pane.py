"""``PreviewPane``: the selected row as a model will see it in training -- rendered with the chosen
model's chat template (``data.render``) -- and its token count in that model's tokenizer.

Without a model the engine estimates the count and uses a plain transcript. Preference rows show
the chosen and the rejected variant. Only the newest request's answer is shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient

TEMPLATES = ("chatml", "llama3", "gemma", "mistral", "alpaca", "plain")
ESTIMATE = "Estimate (no model)"


class PreviewPane(QWidget):
    sig_rendered = Signal(object)
    """A row was rendered; the argument is the ``data.render`` result."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.target: dict[str, Any] | None = None
        self._serial = 0
        self.model_combo = QComboBox()
        self.model_combo.addItem(ESTIMATE, None)
        self.model_combo.setToolTip("Whose chat template and tokenizer to use")
        self.template_combo = QComboBox()
        self.template_combo.addItem("The model's own", None)
        for name in TEMPLATES:
            self.template_combo.addItem(name, name)
        self.tokens_label = QLabel("Select a row to preview it.")
        self.tokens_label.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QFont("monospace"))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("Template", self.template_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.tokens_label)
        layout.addWidget(self.text, 1)
        self.model_combo.currentIndexChanged.connect(lambda _i: self.render())
        self.template_combo.currentIndexChanged.connect(lambda _i: self.render())

    def set_models(self, models: list[dict[str, Any]]) -> None:
        """Fill the model picker with the library's language models, keeping the choice."""
        chosen = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItem(ESTIMATE, None)
        for m in models:
            if m.get("role", "llm") == "llm" and not m.get("missing") and not m.get("remote"):
                self.model_combo.addItem(m.get("name") or m["id"], m["id"])  # its tokenizer
        index = self.model_combo.findData(chosen)
        self.model_combo.setCurrentIndex(max(0, index))
        self.model_combo.blockSignals(False)

    def show_row(self, dataset_id: str | None, position: int | None, version: int | None) -> None:
        self.target = (
            {"id": dataset_id, "index": position, "version": version}
            if dataset_id is not None and position is not None
            else None
        )
        self.render()

    def render(self) -> None:
        self._serial += 1
        if self.target is None:
            self.text.clear()
            self.tokens_label.setText("Select a row to preview it.")
            return
        serial = self._serial
        params = {k: v for k, v in self.target.items() if v is not None}
        if self.model_combo.currentData():
            params["model_id"] = self.model_combo.currentData()
        if self.template_combo.currentData():
            params["template"] = self.template_combo.currentData()
        self.tokens_label.setText("Rendering…")
        request(self, self.client, "data.render", params, ok=lambda r: self._show(serial, r),
                fail=lambda e: self._show_error(serial, e.message))  # fmt: skip

    def _show(self, serial: int, result: dict[str, Any]) -> None:
        if serial != self._serial:
            return
        variants = result.get("variants") or []
        if variants:
            self.text.setPlainText(
                "\n\n".join(
                    f"── {v['name']} ({v['tokens']:,} tokens) ──\n{v['text']}" for v in variants
                )
            )
        else:
            self.text.setPlainText(result.get("text") or "")
        self.tokens_label.setText(render_summary(result))
        self.sig_rendered.emit(result)

    def _show_error(self, serial: int, message: str) -> None:
        if serial == self._serial:
            self.tokens_label.setText(f"<span style='color:#b52a2a'>{message}</span>")


def render_summary(result: dict[str, Any]) -> str:
    """``123 tokens (exact, gemma tokenizer) · template gemma · fits in 32,768``."""
    tokens = int(result.get("tokens") or 0)
    if result.get("exact"):
        head = f"<b>{tokens:,} tokens</b> (exact, {result.get('tokenizer')} tokenizer)"
    else:
        head = f"<b>≈{tokens:,} tokens</b> (estimate; pick a model for an exact count)"
    parts = [head]
    if result.get("template"):
        parts.append(f"template {result['template']}")
    context = result.get("context_length")
    if context:
        fits = result.get("fits")
        parts.append(
            f"fits in {int(context):,}"
            if fits
            else f"<span style='color:#b52a2a'>longer than the {int(context):,}-token context</span>"
        )
    return " · ".join(parts)
