"""``PairSetDialog``: make a prompt pair set in the panel, from scratch or from a copy of another.

One row per pair: category, prompt A, prompt B, a note, and whether it is held out (only ever
measured, never used to choose neurons). The engine checks every row when the set is saved
(``bias.set.save``) and names the first bad one; the dialog stays open with the message.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient
from desktop.errors import EngineError

COLUMNS = ("category", "a", "b", "note")
HEADERS = ("Category", "Prompt A", "Prompt B", "Note", "Held out")


class PairSetDialog(QDialog):
    sig_saved = Signal(object)
    """The engine saved the set; the argument is its summary."""

    def __init__(self, client: EngineClient, pairs: list[dict[str, Any]] | None = None,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.client = client
        self.setWindowTitle("New prompt pair set")
        self.resize(900, 480)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("name (letters, digits, - _ .)")
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        header = self.table.horizontalHeader()
        for col, width in enumerate((120, 0, 0, 100, 70)):
            if width:
                self.table.setColumnWidth(col, width)
            else:
                header.setSectionResizeMode(col, header.ResizeMode.Stretch)  # the prompts
        self.add_button = QPushButton("Add pair")
        self.remove_button = QPushButton("Remove selected")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b3261e;")
        self.save_button = QPushButton("Save set")
        self.save_button.setDefault(True)
        cancel = QPushButton("Cancel")
        top = QHBoxLayout()
        top.addWidget(QLabel("Name"))
        top.addWidget(self.name_edit, 1)
        rows = QHBoxLayout()
        rows.addWidget(self.add_button)
        rows.addWidget(self.remove_button)
        rows.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.error, 1)
        bottom.addWidget(cancel)
        bottom.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(QLabel("Two prompts that differ only in the words naming a group; held-out "
                                "pairs are only measured, never used to choose what to prune."))  # fmt: skip
        layout.addWidget(self.table, 1)
        layout.addLayout(rows)
        layout.addLayout(bottom)
        self.add_button.clicked.connect(lambda: self.add_row())
        self.remove_button.clicked.connect(self.remove_selected)
        self.save_button.clicked.connect(self.save)
        cancel.clicked.connect(self.reject)
        for pair in pairs or [{}]:
            self.add_row(pair)

    def add_row(self, pair: dict[str, Any] | None = None) -> None:
        pair = pair or {}
        row = self.table.rowCount()
        self.table.insertRow(row)
        for col, key in enumerate(COLUMNS):
            self.table.setItem(row, col, QTableWidgetItem(str(pair.get(key) or "")))
        check = QTableWidgetItem()
        check.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
        check.setCheckState(
            Qt.CheckState.Checked if pair.get("heldout") else Qt.CheckState.Unchecked
        )
        self.table.setItem(row, len(COLUMNS), check)

    def remove_selected(self) -> None:
        for row in sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True):
            self.table.removeRow(row)

    def pairs(self) -> list[dict[str, Any]]:
        out = []
        for row in range(self.table.rowCount()):
            values = {key: (self.table.item(row, col).text().strip() if self.table.item(row, col) else "")
                      for col, key in enumerate(COLUMNS)}  # fmt: skip
            if not any(values.values()):
                continue  # an empty row is not a pair
            checked = self.table.item(row, len(COLUMNS)).checkState() == Qt.CheckState.Checked
            out.append(
                {**{k: v for k, v in values.items() if v or k != "note"}, "heldout": checked}
            )
        return out

    def save(self) -> None:
        self.error.clear()

        def saved(summary: dict[str, Any]) -> None:
            self.sig_saved.emit(summary)
            self.accept()

        def refused(error: EngineError) -> None:
            self.error.setText(error.message)

        request(self, self.client, "bias.set.save", {"name": self.name_edit.text().strip(),
                                                     "pairs": self.pairs()}, ok=saved, fail=refused)  # fmt: skip
