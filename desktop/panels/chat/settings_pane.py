"""``SettingsPane``: the Chat panel's side settings -- model, system prompt, sampling controls
(defaults, ranges and tooltips from ``chat.params``), chat template, and JSON mode with a JSON
Schema editor whose errors (the engine's words) show under it.

The pane holds no engine calls: it shows what the panel gives it and says what the user changed.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.elide_combo import ElidedCombo
from desktop.panels.chat.model_settings_box import ModelSettingsBox
from desktop.panels.models.table_model import REMOTE_COLOUR, server_of

SAMPLING = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens", "seed")
LABELS = {
    "temperature": "Temperature",
    "top_p": "Top-p",
    "top_k": "Top-k",
    "min_p": "Min-p",
    "repeat_penalty": "Repeat penalty",
    "max_tokens": "Max tokens",
    "seed": "Seed",
}
TEMPLATE_LABELS = {"auto": "Automatic", "model": "The model's own"}
SCHEMA_EXAMPLE = '{\n  "type": "object",\n  "properties": {"answer": {"type": "string"}},\n  "required": ["answer"]\n}'
INT_MAX = 2**31 - 1
STOP_HINT = "One per line: the reply ends before any of these"


class SettingsPane(QWidget):
    sig_changed = Signal()
    """The user changed the system prompt, a sampling control or JSON mode."""
    sig_model_changed = Signal(object)
    """The user picked another model (its id, or None for the default)."""
    sig_template_changed = Signal(str)
    """The user picked another chat template for the current model."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loading = False
        self.defaults: dict[str, Any] = {}
        self._default_row = 0
        self.model_combo = ElidedCombo()
        self.model_combo.setToolTip("The model that writes the replies of this conversation")
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_combo.setMinimumContentsLength(14)
        self.model_combo.activated.connect(lambda _i: self.sig_model_changed.emit(self.model_id()))
        self.model_combo.currentIndexChanged.connect(lambda _i: self._show_remote_badge())
        self._servers: dict[str, str] = {}  # model id -> the server it runs on
        self.remote_badge = QLabel()  # shown while the chosen model sends text off the machine
        self.remote_badge.setWordWrap(True)
        self.remote_badge.setStyleSheet(f"color: {REMOTE_COLOUR}; font-weight: 600;")
        self.remote_badge.hide()
        self.template_combo = ElidedCombo()
        self.template_combo.setToolTip(
            "How messages are laid out for the model. Automatic: the model's own template, or a "
            "plain transcript when it has none."
        )
        self.template_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.template_combo.setMinimumContentsLength(14)
        self.template_combo.activated.connect(
            lambda _i: self.sig_template_changed.emit(self.template_combo.currentData() or "auto")
        )
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setPlaceholderText(
            "System prompt (optional): how the model should behave"
        )
        self.system_prompt.setFixedHeight(90)
        self.system_prompt.textChanged.connect(self._emit_changed)

        self.spins: dict[str, QSpinBox | QDoubleSpinBox] = {}
        self.sampling_form = QFormLayout()
        self.stop_edit = QPlainTextEdit()
        self.stop_edit.setPlaceholderText(STOP_HINT)
        self.stop_edit.setToolTip(
            "Stop sequences: the reply ends where one of them would appear (the chat template's "
            "own end-of-turn markers always apply)."
        )
        self.stop_edit.setFixedHeight(self.stop_edit.fontMetrics().lineSpacing() * 3 + 12)
        self.stop_edit.textChanged.connect(self._emit_changed)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.clicked.connect(self.reset_sampling)
        sampling = QGroupBox("Sampling")
        box = QVBoxLayout(sampling)
        box.addLayout(self.sampling_form)
        box.addWidget(QLabel("Stop sequences"))
        box.addWidget(self.stop_edit)
        box.addWidget(self.reset_button)
        self.model_box = ModelSettingsBox()

        self.json_check = QCheckBox("JSON mode")
        self.json_check.setToolTip("The reply must be JSON matching the schema below")
        self.json_check.toggled.connect(self._json_toggled)
        self.schema_edit = QPlainTextEdit()
        self.schema_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.schema_edit.setPlaceholderText(SCHEMA_EXAMPLE)
        self.schema_edit.setFixedHeight(120)
        self.schema_edit.textChanged.connect(self._emit_changed)
        self.schema_error = QLabel()
        self.schema_error.setWordWrap(True)
        self.schema_error.setStyleSheet("color: #c62828;")
        self.schema_error.hide()
        json_box = QGroupBox("Structured output")
        jl = QVBoxLayout(json_box)
        jl.addWidget(self.json_check)
        hint = QLabel("The reply must be JSON matching this schema:")
        hint.setWordWrap(True)
        jl.addWidget(hint)
        jl.addWidget(self.schema_edit)
        jl.addWidget(self.schema_error)

        top = QFormLayout()
        top.addRow("Model", self.model_combo)
        top.addRow("", self.remote_badge)
        top.addRow("Template", self.template_combo)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(QLabel("System prompt"))
        layout.addWidget(self.system_prompt)
        layout.addWidget(sampling)
        layout.addWidget(self.model_box)
        layout.addWidget(json_box)
        layout.addStretch(1)
        self.set_descriptors([])  # the controls come with chat.params's answer
        self._json_toggled(False)

    # -- filling ----------------------------------------------------------------------------

    def set_descriptors(self, descriptors: list[dict[str, Any]]) -> None:
        """Build the sampling controls from ``chat.params``'s list."""
        values = self.sampling() if self.spins else {}
        while self.sampling_form.rowCount():
            self.sampling_form.removeRow(0)
        self.spins.clear()
        by_name = {d["name"]: d for d in descriptors}
        for name in SAMPLING:
            d = by_name.get(name)
            if d is None:
                continue
            low, high = (d.get("range") or [0, INT_MAX])[:2]
            default = d.get("default")
            if name == "seed" or isinstance(default, int):
                spin: QSpinBox | QDoubleSpinBox = QSpinBox()
                spin.setRange(-1 if name == "seed" else int(low), min(int(high), INT_MAX))
                if name == "seed":
                    spin.setSpecialValueText("random")
            else:
                spin = QDoubleSpinBox()
                spin.setDecimals(2)
                spin.setSingleStep(0.05)
                spin.setRange(float(low), float(high))
            spin.setToolTip(
                f"{d.get('help') or ''} (default: {'random' if default is None else default})"
            )
            spin.valueChanged.connect(self._emit_changed)
            self.spins[name] = spin
            self.defaults[name] = default
            self.sampling_form.addRow(LABELS[name], spin)
        self._loading = True
        self.set_sampling({**self.defaults, **values})
        self._loading = False

    def set_models(
        self, models: list[dict[str, Any]], selected: str | None, preferred: str | None = None
    ) -> None:
        """The chat models; ``selected`` is the conversation's, ``preferred`` the user's default
        model (Preferences) for conversations without one, else the bundled default."""
        self.model_combo.clear()
        self._servers = {m["id"]: m["remote"]["base"] for m in models if m.get("remote")}
        self._default_row = 0
        chat_models = [m for m in models if m.get("role") in ("llm", "adapter")]
        default_is_adapter = False  # the bundled starter adapter is the default where it is
        if not chat_models:
            self.model_combo.addItem("Default model", None)
        for m in chat_models:
            label = m.get("name") or m["id"]
            tip = ""
            if m.get("role") == "adapter":
                base = m.get("base_name") or m.get("base_model_id") or "?"
                if m.get("format") == "peft":
                    label += f" (prompt-tuned {base})"
                    tip = "Learned virtual tokens in front of its base model, in transformers (llama.cpp cannot run them)."  # fmt: skip
                else:
                    label += f" (LoRA on {base})"
                    tip = "A fine-tuned LoRA adapter, applied to its base model in llama.cpp."
            if m.get("remote"):
                label += f" (on {server_of(m)})"
                tip = f"Runs on {m['remote']['base']}: what you send it leaves this machine."
            if m.get("missing"):
                label += " (file missing)" if m.get("role") != "adapter" else " (unusable)"
                tip = m.get("missing_reason") or tip
            elif m.get("bundled"):
                label += " (bundled)"
                if m.get("role") == "adapter" or not default_is_adapter:
                    self._default_row = self.model_combo.count()  # the engine's default
                    default_is_adapter = m.get("role") == "adapter"
            self.model_combo.addItem(label, m["id"])
            if tip:
                self.model_combo.setItemData(
                    self.model_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole
                )
        row = self.model_combo.findData(preferred) if preferred else -1
        if row >= 0:
            self._default_row = row
        self.select_model(selected)

    def select_model(self, model_id: str | None) -> None:
        """Show ``model_id``; None (no model chosen yet) shows the default: the preferred model, else
        the bundled one."""
        row = self.model_combo.findData(model_id) if model_id else -1
        self.model_combo.setCurrentIndex(row if row >= 0 else self._default_row)

    def model_id(self) -> str | None:
        return self.model_combo.currentData()

    def _show_remote_badge(self) -> None:
        base = self._servers.get(self.model_id() or "")
        self.remote_badge.setText(f"⇄ Sent to {base}: leaves this machine" if base else "")
        self.remote_badge.setVisible(base is not None)

    def set_templates(self, info: dict[str, Any]) -> None:
        labels = {t["name"]: t.get("label") or t["name"] for t in info.get("templates") or []}
        current = (info.get("model") or {}).get("template") or "auto"
        effective = (info.get("model") or {}).get("effective")
        self.template_combo.clear()
        if (info.get("model") or {}).get("on_server"):
            self.template_combo.addItem("The server's own", "auto")
            self.template_combo.setEnabled(False)
            return
        for choice in info.get("choices") or ["auto"]:
            label = TEMPLATE_LABELS.get(choice) or labels.get(choice, choice)
            if choice == "auto" and current == "auto" and effective:
                label += f" (now: {labels.get(effective, effective)})"
            self.template_combo.addItem(label, choice)
        self.template_combo.setCurrentIndex(max(0, self.template_combo.findData(current)))
        self.template_combo.setEnabled(bool(info.get("model")))

    def set_conversation(self, conv: dict[str, Any] | None) -> None:
        """Show a conversation's system prompt, sampling and JSON mode (defaults for None)."""
        conv = conv or {}
        params = conv.get("params") or {}
        self._loading = True
        try:
            self.system_prompt.setPlainText(conv.get("system_prompt") or "")
            self.set_sampling(
                {**self.defaults, **{k: params.get(k) for k in SAMPLING if k in params}}
            )
            self.stop_edit.setPlainText("\n".join(params.get("stop") or []))
            schema = params.get("json_schema")
            self.json_check.setChecked(schema is not None)
            text = (
                schema
                if isinstance(schema, str)
                else json.dumps(schema, indent=2)
                if schema
                else ""
            )
            self.schema_edit.setPlainText(text)
            self.show_schema_error("")
        finally:
            self._loading = False

    def set_sampling(self, values: dict[str, Any]) -> None:
        for name, spin in self.spins.items():
            value = values.get(name)
            spin.setValue(spin.minimum() if value is None else value)

    def reset_sampling(self) -> None:
        self._loading = True
        try:
            self.set_sampling(self.defaults)
            self.stop_edit.clear()
        finally:
            self._loading = False
        self._emit_changed()

    # -- reading ----------------------------------------------------------------------------

    def sampling(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, spin in self.spins.items():
            value = spin.value()
            if name == "seed":
                out[name] = None if value < 0 else int(value)
            else:
                out[name] = round(value, 4) if isinstance(value, float) else int(value)
        return out

    def params(self) -> dict[str, Any]:
        """ChatParams for the engine: sampling, and the schema when JSON mode is on."""
        out = {k: v for k, v in self.sampling().items() if v is not None}
        stops = [line for line in self.stop_edit.toPlainText().splitlines() if line.strip()]
        if stops:
            out["stop"] = stops
        if self.json_check.isChecked():
            text = self.schema_edit.toPlainText().strip() or SCHEMA_EXAMPLE
            try:
                out["json_schema"] = json.loads(text)
            except ValueError:
                out["json_schema"] = text  # the engine answers why it is not valid JSON
        return out

    def system_prompt_text(self) -> str:
        return self.system_prompt.toPlainText()

    def show_schema_error(self, message: str) -> None:
        self.schema_error.setText(message)
        self.schema_error.setVisible(bool(message))

    def _json_toggled(self, on: bool) -> None:
        self.schema_edit.setEnabled(on)
        if not on:
            self.show_schema_error("")
        self._emit_changed()

    def _emit_changed(self, *_args: Any) -> None:
        if not self._loading:
            self.sig_changed.emit()
