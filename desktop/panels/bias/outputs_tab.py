"""The Bias panel's Outputs tab: both prompts' greedy continuations side by side, and how much
likelier each given continuation is after prompt B than after prompt A."""

from __future__ import annotations

import csv
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


class OutputsTab(QWidget):
    sig_generate = Signal(object)
    """Generate was clicked; the argument is the list of continuations to score."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[list[Any]] = []
        self.continuations = QLineEdit()
        self.continuations.setPlaceholderText("continuations to score, separated by ';' — e.g. was a criminal; was a doctor")  # fmt: skip
        self.continuations.setToolTip("For each pair, the log-probability of each after prompt A and after prompt B")  # fmt: skip
        self.button = QPushButton("Generate and score")
        self.button.setToolTip("Greedy continuations of both prompts of every pair of the capture")
        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        self.csv_button = QPushButton("Save numbers (CSV)…")
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.continuations, 1)
        row.addWidget(self.button)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.csv_button)
        layout.addLayout(bottom)
        self.button.clicked.connect(lambda: self.sig_generate.emit(self.texts()))
        self.csv_button.clicked.connect(self._save)

    def texts(self) -> list[str]:
        return [t.strip() for t in self.continuations.text().split(";") if t.strip()]

    def show_outputs(self, result: dict[str, Any]) -> None:
        texts = result["continuations"]
        header = ["pair", "A continues", "B continues", *[f"log P({t}) B − A" for t in texts]]
        self.rows = [header]
        for r in result["pairs"]:
            self.rows.append([f"{r['a']}  |  {r['b']}", r["continuation_a"], r["continuation_b"],
                              *[f"{lp['difference']:+.3f}" for lp in r["logprobs"]]])  # fmt: skip
        self.table.clear()
        self.table.setColumnCount(len(header))
        self.table.setRowCount(len(self.rows) - 1)
        self.table.setHorizontalHeaderLabels(header)
        for i, row in enumerate(self.rows[1:]):
            for j, value in enumerate(row):
                self.table.setItem(i, j, QTableWidgetItem(str(value)))
        self.table.resizeColumnsToContents()

    def export_csv(self, path: str) -> None:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(self.rows)

    def _save(self) -> None:
        if len(self.rows) > 1:
            path, _ = QFileDialog.getSaveFileName(self, "Save numbers", "bias-outputs.csv", "CSV (*.csv)")  # fmt: skip
            if path:
                self.export_csv(path)
