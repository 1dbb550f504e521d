"""``OptionsForm``: every training option as an editor, built from ``train.options`` ``fields``.

Nothing here names an option: each field's ``type`` picks the editor (a spin box within its
``range``, a combo for ``choices``, a check box for a bool, one entry per line for a list, a line
edit for text), its ``group`` the collapsible box it sits in, its ``help`` the tooltip and the
grey line under it. A null default (``template``, ``target_modules``) reads as "auto".
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.labels import choice_label, field_label

AUTO = "auto"
GROUP_TITLES = {
    "lora": "LoRA adapter",
    "schedule": "Schedule",
    "data": "Data",
    "eval": "Evaluation",
    "preference": "Preference pairs (DPO, ORPO)",
    "prompt": "Prompt tuning",
}


MODEL_FIELDS = {"teacher": "None (no distillation)"}  # options whose value is a library model id


def decimals_for(default: float, low: float) -> int:
    """Enough decimals to show the default with two significant digits (5 for 2e-4)."""
    smallest = abs(default) or abs(low) or 1.0
    return max(2, min(8, 1 - math.floor(math.log10(smallest)) if smallest < 1 else 2))


class FieldEditor(QWidget):
    """One option: its editor and, below it, its help in small grey text."""

    sig_changed = Signal()
    """The user (or a preset) changed the value."""

    def __init__(self, field: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field = field
        self.name = field["name"]
        self.kind = field.get("type") or "str"
        help_text = field.get("help") or ""
        self.editor = self._make_editor(field)
        self.editor.setToolTip(help_text)
        self.help_label = QLabel(help_text)
        self.help_label.setWordWrap(True)
        self.help_label.setStyleSheet("color: palette(placeholder-text); font-size: 8pt;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 2)
        layout.setSpacing(1)
        layout.addWidget(self.editor)
        layout.addWidget(self.help_label)
        self.set_value(field.get("default"))

    def _make_editor(self, field: dict[str, Any]) -> QWidget:
        if self.name in MODEL_FIELDS:  # a library model, from the form's model list
            combo = QComboBox()
            combo.addItem(MODEL_FIELDS[self.name], None)
            combo.currentIndexChanged.connect(lambda _i: self.sig_changed.emit())
            return combo
        choices = field.get("choices")
        low, high = (field.get("range") or (None, None))[:2]
        if choices:
            combo = QComboBox()
            for choice in choices:
                combo.addItem(choice_label(choice), choice)
            combo.currentIndexChanged.connect(lambda _i: self.sig_changed.emit())
            return combo
        if self.kind == "bool":
            box = QCheckBox(field_label(self.name))
            box.toggled.connect(lambda _b: self.sig_changed.emit())
            return box
        if self.kind == "int":
            spin = QSpinBox()
            spin.setRange(
                int(low) if low is not None else -(2**31), int(min(high, 2**31 - 1)) if high is not None else 2**31 - 1
            )  # fmt: skip
            spin.setAccelerated(True)
            spin.valueChanged.connect(lambda _v: self.sig_changed.emit())
            return spin
        if self.kind == "float":
            spin = QDoubleSpinBox()
            spin.setDecimals(decimals_for(float(field.get("default") or 0), float(low or 0)))
            spin.setRange(
                float(low) if low is not None else -1e12, float(high) if high is not None else 1e12
            )
            span = (spin.maximum() - spin.minimum()) if high is not None and low is not None else 1
            spin.setSingleStep(
                10 ** -(spin.decimals() - 1) if span < 1 else 0.1 if span <= 10 else 1
            )
            spin.setAccelerated(True)
            spin.valueChanged.connect(lambda _v: self.sig_changed.emit())
            return spin
        if self.kind == "list":
            edit = QPlainTextEdit()
            edit.setPlaceholderText(
                "auto" if field.get("default") is None else "one entry per line (none yet)"
            )
            edit.setFixedHeight(60)
            edit.textChanged.connect(self.sig_changed.emit)
            return edit
        line = QLineEdit()
        line.setPlaceholderText(AUTO)
        line.textEdited.connect(lambda _t: self.sig_changed.emit())
        return line

    def value(self) -> Any:
        e = self.editor
        if isinstance(e, QComboBox):
            return e.currentData()
        if isinstance(e, QCheckBox):
            return e.isChecked()
        if isinstance(e, QSpinBox):
            return e.value()
        if isinstance(e, QDoubleSpinBox):
            return e.value()
        if isinstance(e, QPlainTextEdit):
            lines = [s.strip() for s in e.toPlainText().splitlines() if s.strip()]
            if not lines and self.field.get("default") is None:
                return None  # auto
            return lines
        text = e.text().strip()
        return text or None

    def set_value(self, value: Any) -> None:
        e = self.editor
        e.blockSignals(True)
        try:
            if isinstance(e, QComboBox):
                e.setCurrentIndex(max(0, e.findData(value)))
            elif isinstance(e, QCheckBox):
                e.setChecked(bool(value))
            elif isinstance(e, QSpinBox):
                e.setValue(int(value or 0))
            elif isinstance(e, QDoubleSpinBox):
                e.setValue(float(value or 0))
            elif isinstance(e, QPlainTextEdit):
                e.setPlainText("\n".join(str(v) for v in value or []))
            else:
                e.setText("" if value is None else str(value))
        finally:
            e.blockSignals(False)

    def is_default(self) -> bool:
        return self.value() == self.field.get("default")

    def set_models(self, models: list[dict[str, Any]]) -> None:
        """Offer these chat models (a model-id option), keeping the one chosen."""
        combo = self.editor
        current = combo.currentData()
        combo.blockSignals(True)
        while combo.count() > 1:
            combo.removeItem(1)
        for m in models:
            combo.addItem(m.get("name") or m["id"], m["id"])
        combo.setCurrentIndex(max(0, combo.findData(current)))
        combo.blockSignals(False)


class OptionsForm(QWidget):
    """All option editors, one group box per ``group``; ``values()`` holds what differs from
    the defaults (what the engine needs), ``all_values()`` every value shown."""

    sig_changed = Signal()
    """Any option changed."""

    def __init__(self, parent: QWidget | None = None, *, skip: tuple[str, ...] = ()) -> None:
        super().__init__(parent)
        self.skip = set(skip)
        self.editors: dict[str, FieldEditor] = {}
        self.groups: dict[str, QGroupBox] = {}
        self.models: list[dict[str, Any]] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addStretch(1)

    def set_fields(self, fields: list[dict[str, Any]]) -> None:
        for box in self.groups.values():
            box.deleteLater()
        self.editors.clear()
        self.groups.clear()
        forms: dict[str, QFormLayout] = {}
        for field in fields:
            if field["name"] in self.skip:
                continue
            group = field.get("group") or "other"
            if group not in forms:
                box = QGroupBox(GROUP_TITLES.get(group, field_label(group)))
                box.setCheckable(True)  # unchecking folds the group away
                box.setChecked(True)
                content = QWidget()
                forms[group] = QFormLayout(content)
                forms[group].setFieldGrowthPolicy(
                    QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow
                )
                box_layout = QVBoxLayout(box)
                box_layout.setContentsMargins(6, 4, 6, 4)
                box_layout.addWidget(content)
                box.toggled.connect(content.setVisible)
                self.groups[group] = box
                self._layout.insertWidget(self._layout.count() - 1, box)
            editor = FieldEditor(field)
            if editor.name in MODEL_FIELDS:
                editor.set_models(self.models)
            editor.sig_changed.connect(self.sig_changed.emit)
            self.editors[field["name"]] = editor
            label = QLabel("" if editor.kind == "bool" else field_label(field["name"]) + " ?")
            label.setToolTip(field.get("help") or "")
            forms[group].addRow(label, editor)

    def set_models(self, models: list[dict[str, Any]]) -> None:
        """The chat models the model-id options offer (the teacher of a distillation)."""
        self.models = [m for m in models if m.get("role", "llm") == "llm" and not m.get("missing")
                       and not m.get("remote")]  # a teacher's distributions are needed here  # fmt: skip
        for editor in self.editors.values():
            if editor.name in MODEL_FIELDS:
                editor.set_models(self.models)

    def values(self) -> dict[str, Any]:
        """The options that differ from the engine's defaults."""
        return {n: e.value() for n, e in self.editors.items() if not e.is_default()}

    def all_values(self) -> dict[str, Any]:
        return {n: e.value() for n, e in self.editors.items()}

    def set_values(self, values: dict[str, Any]) -> None:
        """Show ``values`` (a preset's or a suggestion's); one ``sig_changed`` for all of them."""
        for name, value in values.items():
            if name in self.editors:
                self.editors[name].set_value(value)
        self.sig_changed.emit()

    def reset(self) -> None:
        self.set_values({n: e.field.get("default") for n, e in self.editors.items()})
