"""``ImportDialog``: what ``data.inspect`` found in a file, and the choices before importing it.

It shows the source (type, encoding, splits), the detected format with its confidence, a column
mapping (one combo box per field of the chosen format; required fields marked), the first rows as
they would import (re-inspected with the chosen format and mapping), the malformed lines among
the first rows with their line numbers, and the choice between skipping bad lines and stopping at
the first one. ``params()`` is what ``data.import`` takes.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient
from desktop.format import human_bytes
from desktop.panels.datasets.rowtext import FORMATS, errors_text

NONE = "(none)"


class ImportDialog(QDialog):
    sig_previewed = Signal()
    """The preview was refreshed for the current format and mapping."""

    def __init__(
        self, client: EngineClient, inspected: dict[str, Any], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.client = client
        self.inspected = inspected
        self.base_params: dict[str, Any] = {}
        self.fields: dict[str, list[str]] = inspected.get("fields") or {}
        self.required: dict[str, list[str]] = inspected.get("required") or {}
        self.columns: list[str] = [str(c) for c in inspected.get("columns") or []]
        self.setWindowTitle("Import a dataset")
        self.resize(720, 640)
        source = inspected.get("source") or {}

        self.name_edit = QLineEdit(inspected.get("name") or "")
        self.format_combo = QComboBox()
        self.format_combo.addItems(list(inspected.get("formats") or FORMATS))
        self.split_combo = QComboBox()
        for split in source.get("splits") or []:
            self.split_combo.addItem(str(split))
        if source.get("split"):
            self.split_combo.setCurrentText(str(source["split"]))
        self.text_mode_combo = QComboBox()
        self.text_mode_combo.addItems(["paragraph", "line", "document"])
        self.text_mode_combo.setToolTip(
            "How plain text becomes rows: one per paragraph, line or file"
        )
        self.detect_label = QLabel(detection_text(inspected))
        self.detect_label.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Source", QLabel(source_text(source)))
        form.addRow("Name", self.name_edit)
        if self.split_combo.count() > 1:
            form.addRow("Split", self.split_combo)
        if source.get("kind") == "text":
            form.addRow("Rows from", self.text_mode_combo)
        form.addRow("Format", self.format_combo)
        form.addRow("", self.detect_label)

        self.mapping_box = QGroupBox("Columns for each field (* required)")
        self.mapping_form = QFormLayout(self.mapping_box)
        self.mapping_combos: dict[str, QComboBox] = {}

        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setFont(QFont("monospace"))
        self.preview.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.preview.setPlaceholderText("The first rows as they will be imported.")
        self.preview_errors = QLabel()
        self.preview_errors.setWordWrap(True)
        self.preview_errors.setStyleSheet("color:#b52a2a;")

        errors = inspected.get("errors") or []
        self.errors_box = QGroupBox(f"Malformed lines in the first rows ({len(errors)})")
        errors_layout = QVBoxLayout(self.errors_box)
        self.errors_label = QLabel(errors_text(errors) or "None found.")
        self.errors_label.setWordWrap(True)
        self.skip_radio = QRadioButton("Skip bad lines and import the rest (they are listed after)")
        self.abort_radio = QRadioButton("Stop at the first bad line (nothing is imported)")
        self.abort_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.skip_radio)
        group.addButton(self.abort_radio)
        errors_layout.addWidget(self.errors_label)
        errors_layout.addWidget(self.skip_radio)
        errors_layout.addWidget(self.abort_radio)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.mapping_box)
        layout.addWidget(QLabel("<b>Preview</b>"))
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.preview_errors)
        layout.addWidget(self.errors_box)
        layout.addWidget(buttons)

        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(250)
        self._refresh.timeout.connect(self._request_preview)
        fmt = inspected.get("format") or self._best_guess()
        self.format_combo.setCurrentText(fmt)
        self._build_mapping(fmt, inspected.get("mapping") or {})
        self.format_combo.currentTextChanged.connect(lambda f: self._build_mapping(f, {}))
        self.text_mode_combo.currentTextChanged.connect(lambda _t: self._refresh.start())
        self.split_combo.currentTextChanged.connect(lambda _t: self._refresh.start())
        self._show_preview(inspected)

    def _best_guess(self) -> str:
        candidates = self.inspected.get("candidates") or []
        return candidates[0]["format"] if candidates else "alpaca"

    def _build_mapping(self, fmt: str, mapping: dict[str, str]) -> None:
        while self.mapping_form.rowCount():
            self.mapping_form.removeRow(0)
        self.mapping_combos = {}
        if not mapping:
            mapping = next(
                (
                    c["mapping"]
                    for c in self.inspected.get("candidates") or []
                    if c["format"] == fmt
                ),
                {},
            )
        required = set(self.required.get(fmt, []))
        for field in self.fields.get(fmt, []):
            combo = QComboBox()
            combo.addItems([NONE, *self.columns])
            chosen = mapping.get(field) or (field if field in self.columns else NONE)
            combo.setCurrentText(chosen)
            combo.currentTextChanged.connect(lambda _t: self._refresh.start())
            self.mapping_combos[field] = combo
            self.mapping_form.addRow(f"{field}{' *' if field in required else ''}", combo)
        self._refresh.start()

    def mapping(self) -> dict[str, str]:
        return {
            f: c.currentText() for f, c in self.mapping_combos.items() if c.currentText() != NONE
        }

    def missing_fields(self) -> list[str]:
        fmt = self.format_combo.currentText()
        return [f for f in self.required.get(fmt, []) if f not in self.mapping()]

    def _source_params(self) -> dict[str, Any]:
        params = dict(self.base_params)
        if self.split_combo.count() > 1:
            params["split"] = self.split_combo.currentText()
        if (self.inspected.get("source") or {}).get("kind") == "text":
            params["text_mode"] = self.text_mode_combo.currentText()
        return params

    def _request_preview(self) -> None:
        missing = self.missing_fields()
        self.import_button.setEnabled(not missing)
        if missing:
            self.preview_errors.setText("Choose a column for: " + ", ".join(missing) + ".")
            self.preview.clear()
            return
        params = {
            **self._source_params(),
            "format": self.format_combo.currentText(),
            "mapping": self.mapping(),
        }
        request(self, self.client, "data.inspect", params, ok=self._show_preview,
                fail=lambda e: self.preview_errors.setText(e.message))  # fmt: skip

    def _show_preview(self, result: dict[str, Any]) -> None:
        rows = result.get("preview") or []
        self.preview.setPlainText(
            "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
            or "(no row could be read with this format and mapping)"
        )
        problems = result.get("preview_errors") or []
        self.preview_errors.setText(
            ("Rows that do not fit this mapping:\n" + errors_text(problems)) if problems else ""
        )
        self.sig_previewed.emit()

    def params(self) -> dict[str, Any]:
        """``data.import`` parameters for the choices made."""
        params = {
            **self._source_params(),
            "format": self.format_combo.currentText(),
            "mapping": self.mapping(),
            "on_error": "skip" if self.skip_radio.isChecked() else "abort",
        }
        name = self.name_edit.text().strip()
        if name and name != self.inspected.get("name"):
            params["name"] = name
        return params


def detection_text(inspected: dict[str, Any]) -> str:
    candidates = inspected.get("candidates") or []
    if not candidates:
        return "Hearth could not tell the format: choose one and map its fields to the columns."
    best = candidates[0]
    text = f"Detected {best['format']} (confidence {float(best['confidence']):.0%})."
    if inspected.get("needs_mapping"):
        text += " Not sure: check the format and the columns below."
    return text


def source_text(source: dict[str, Any]) -> str:
    parts = [str(source.get("path") or source.get("kind") or "")]
    if source.get("kind"):
        parts.append(str(source["kind"]))
    if source.get("encoding_note") or source.get("encoding"):
        parts.append(str(source.get("encoding_note") or source.get("encoding")))
    if source.get("size_bytes") is not None:
        parts.append(human_bytes(source["size_bytes"]))
    return " · ".join(p for p in parts if p)
