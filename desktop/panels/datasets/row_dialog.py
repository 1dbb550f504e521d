"""``RowEditDialog``: edit one row, or fill in a new one, field by field.

Text fields get a text box each; conversations (``messages``, ``conversations``, ``history``) and
other structured fields are edited as JSON. The engine checks the row against the dataset's
format when ``data.edit`` saves it (one new version), and its message says what is wrong.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.panels.datasets.rowtext import FIELD_ORDER


class RowEditDialog(QDialog):
    sig_submitted = Signal(object)
    """Save was pressed with a row that parses; the argument is the row. The dialog stays open
    until ``saved()`` (the engine took it) or ``show_error()`` (it did not)."""

    def __init__(
        self,
        row: dict[str, Any],
        *,
        fmt: str | None,
        title: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(640, 560)
        self.fmt = fmt
        self.editors: dict[str, QPlainTextEdit] = {}
        self.structured: set[str] = set()
        order = [f for f in FIELD_ORDER.get(fmt or "", ()) if f in row]
        order += [f for f in row if f not in order]

        inner = QWidget()
        self.form = QFormLayout(inner)
        for field in order:
            self._add_editor(field, row[field])
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)

        self.new_field = QLineEdit()
        self.new_field.setPlaceholderText("another field, e.g. system")
        add_field = QPushButton("Add field")
        add_field.clicked.connect(self._add_field)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color:#b52a2a;")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)

        extra = QFormLayout()
        extra.addRow(self.new_field, add_field)
        layout = QVBoxLayout(self)
        hint = "Saving makes a new version; undo brings the old row back."
        layout.addWidget(QLabel(f"<span style='color:gray'>{hint}</span>"))
        layout.addWidget(scroll, 1)
        layout.addLayout(extra)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    def _add_editor(self, field: str, value: Any) -> None:
        editor = QPlainTextEdit()
        if isinstance(value, str):
            editor.setPlainText(value)
            lines = value.count("\n") + 1
        else:
            self.structured.add(field)
            text = json.dumps(value, ensure_ascii=False, indent=2)
            editor.setPlainText(text)
            editor.setFont(QFont("monospace"))
            editor.setToolTip("JSON: keep the brackets and quotes")
            lines = text.count("\n") + 1
        editor.setMinimumHeight(min(260, max(56, 20 * lines)))
        editor.setObjectName(f"field_{field}")
        self.editors[field] = editor
        self.form.addRow(field, editor)

    def _add_field(self) -> None:
        name = self.new_field.text().strip()
        if name and name not in self.editors:
            self._add_editor(name, "")
            self.new_field.clear()

    def row(self) -> dict[str, Any]:
        """The edited row; raises ``ValueError`` naming a field whose JSON does not parse."""
        out: dict[str, Any] = {}
        for field, editor in self.editors.items():
            text = editor.toPlainText()
            if field in self.structured:
                try:
                    out[field] = json.loads(text) if text.strip() else None
                except ValueError as exc:
                    raise ValueError(f"{field} is not valid JSON: {exc}") from None
            else:
                out[field] = text
        return out

    def accept(self) -> None:
        try:
            row = self.row()
        except ValueError as exc:
            self.error_label.setText(str(exc))
            return
        self.error_label.setText("Saving…")
        self.save_button.setEnabled(False)
        self.sig_submitted.emit(row)

    def saved(self) -> None:
        super().accept()

    def show_error(self, message: str) -> None:
        """The engine refused the row: say why and keep the dialog open for a fix."""
        self.error_label.setText(message)
        self.save_button.setEnabled(True)
