"""``EvalPane``: measure the selected collection's retrieval on a QA file (``docs.eval``) and show
hit@1, hit@3, hit@5 and MRR for hybrid, dense-only and BM25-only search, the best of each column
in bold. The run can be cancelled (the request is cancelled; the engine stops between questions).

A QA file is JSON Lines: ``{"question": …, "answer": …}`` (a hit is a chunk containing the answer
text) and/or ``{"question": …, "source": "file name"}`` (a hit is a chunk of that file).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import Call, EngineClient
from desktop.errors import CancelledError, EngineError
from desktop.panels.documents.item_models import EvalModel
from desktop.widgets import HintTableView

HELP = (
    'A QA file has one JSON object per line: <code>{"question": …, "answer": …}</code> '
    '(a hit is a retrieved chunk containing the answer) or <code>{"question": …, "source": '
    '"file.pdf"}</code> (a hit is a chunk of that file). Searches run without threshold, MMR '
    "or cache, so the figures measure ranking."
)


class EvalPane(QWidget):
    sig_finished = Signal(object)
    """An evaluation ended; the argument is the ``docs.eval`` report."""
    sig_error = Signal(object)
    """The evaluation failed; the argument is the ``EngineError``."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.collection: dict[str, Any] | None = None
        self.report: dict[str, Any] | None = None
        self.call: Call | None = None
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("QA file (.jsonl)")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.choose_file)
        self.k_spin = QSpinBox()
        self.k_spin.setRange(5, 100)
        self.k_spin.setValue(10)
        self.k_spin.setPrefix("MRR over top ")
        self.k_spin.setToolTip("Rank cut-off for MRR (hit@k uses 1, 3 and 5)")
        self.run_button = QPushButton("Run evaluation")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        row.addWidget(self.k_spin)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        help_label = QLabel(HELP)
        help_label.setWordWrap(True)
        help_label.setStyleSheet("color: palette(placeholder-text);")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.model = EvalModel(self)
        self.table = HintTableView("Run an evaluation to compare hybrid, dense and BM25 search.")
        self.table.setModel(self.model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMaximumHeight(170)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(row)
        layout.addWidget(help_label)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        layout.addStretch(1)
        self._update_enabled()

    def show_collection(self, collection: dict[str, Any] | None) -> None:
        if (collection or {}).get("id") != (self.collection or {}).get("id"):
            self.cancel()
            self.model.set_report(None)
            self.status.clear()
            self.report = None
        self.collection = collection
        self._update_enabled()

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a QA file", str(Path.home()), "JSON Lines (*.jsonl *.json);;All files (*)"
        )
        if path:
            self.path_edit.setText(path)

    def _update_enabled(self) -> None:
        running = self.call is not None
        self.run_button.setEnabled(self.collection is not None and not running)
        self.cancel_button.setVisible(running)

    def run(self) -> None:
        path = self.path_edit.text().strip()
        if self.collection is None or self.call is not None:
            return
        if not path:
            self.status.setText("Choose a QA file first (Browse…).")
            return
        params = {"id": self.collection["id"], "qa": path, "k": self.k_spin.value()}
        self.status.setText(f"Evaluating {html.escape(Path(path).name)}…")
        self.call = request(
            self, self.client, "docs.eval", params, ok=self._done, fail=self._failed
        )
        self._update_enabled()

    def cancel(self) -> None:
        if self.call is not None:
            self.call.cancel()
            self.status.setText("Cancelling…")

    def _done(self, report: dict[str, Any]) -> None:
        self.call = None
        self.report = report
        self.model.set_report(report)
        self.status.setText(
            f"{int(report.get('questions') or 0)} questions · MRR over the top {report.get('k')} "
            "· best figure of each column in bold"
        )
        self._update_enabled()
        self.sig_finished.emit(report)

    def _failed(self, error: EngineError) -> None:
        self.call = None
        self._update_enabled()
        if isinstance(error, CancelledError):
            self.status.setText("Evaluation cancelled.")
            return
        self.status.setText(f"<span style='color:#c62828'>{html.escape(error.message)}</span>")
        self.sig_error.emit(error)
