"""``InjectionTestDialog``: runs the prompt-injection test set (``chat.presets.run_injection_tests``)
against the conversation's model and system prompt, filling a row per attempt as its verdict
streams in (``chat.presets.injection_result``), with the total at the end. Stop cancels the run
between two replies.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.engine_client import Call, EngineClient
from desktop.errors import CancelledError, EngineError

COLUMNS = ("Result", "Attempt", "Category", "Why", "Reply")


class InjectionTestDialog(QDialog):
    sig_finished = Signal(object)
    """The run ended: the report (possibly partial), or the ``EngineError``."""

    def __init__(
        self, client: EngineClient, request: dict[str, Any], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Prompt-injection tests")
        self.resize(900, 520)
        self.client = client
        self.request = dict(request)
        self.call: Call | None = None
        self.report: dict[str, Any] | None = None
        self.rows: dict[str, int] = {}
        self.summary = QLabel("Sending each attempt to the model under the guarded system prompt…")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.run_button = QPushButton("Run again")
        self.run_button.clicked.connect(self.run)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.stop_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.run_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        client.call("chat.presets.injection_tests").on_success(self._list_attempts)

    def _list_attempts(self, result: dict[str, Any]) -> None:
        if self.rows:
            return
        for attempt in result.get("attempts") or []:
            row = self.table.rowCount()
            self.table.insertRow(row)
            self.rows[attempt["id"]] = row
            self._set(row, 0, "…")
            self._set(row, 1, attempt["title"], attempt.get("message"))
            self._set(row, 2, attempt["category"])

    def run(self) -> None:
        if self.call is not None:
            return
        for row in range(self.table.rowCount()):
            for col in (0, 3, 4):
                self._set(row, col, "…" if col == 0 else "")
        self.report = None
        self.summary.setText("Sending each attempt to the model under the guarded system prompt…")
        self.stop_button.setEnabled(True)
        self.run_button.setEnabled(False)
        call = self.client.call("chat.presets.run_injection_tests", self.request)
        call.on_progress(self._on_result).on_success(self._done).on_failure(self._failed)
        self.call = call

    def stop(self) -> None:
        if self.call is not None:
            self.call.cancel()
            self.summary.setText("Stopping after the current reply…")

    def done(self, result: int) -> None:
        """Closing the dialog stops a run that is still going."""
        self.stop()
        super().done(result)

    def _on_result(self, params: dict[str, Any]) -> None:
        result = params.get("result") or {}
        row = self.rows.get(result.get("id"))
        if row is None:
            return
        self._show_result(row, result)
        self.summary.setText(f"{params.get('done')} of {params.get('total')} attempts done…")

    def _show_result(self, row: int, result: dict[str, Any]) -> None:
        passed = bool(result.get("passed"))
        item = self._set(row, 0, "resisted" if passed else "FAILED")
        item.setForeground(QColor("#2e7d32" if passed else "#c62828"))
        self._set(row, 3, "; ".join(result.get("reasons") or []) or "—")
        reply = " ".join((result.get("reply") or "").split())
        self._set(row, 4, reply[:160], result.get("reply"))

    def _done(self, report: dict[str, Any]) -> None:
        self.call = None
        self._show_report(report)
        self.sig_finished.emit(report)

    def _failed(self, error: EngineError) -> None:
        self.call = None
        self.stop_button.setEnabled(False)
        self.run_button.setEnabled(True)
        if isinstance(error, CancelledError) and isinstance(error.data, dict):
            self._show_report(error.data, stopped=True)
        else:
            self.summary.setText(f"The run failed: {error.message}")
        self.sig_finished.emit(error)

    def _show_report(self, report: dict[str, Any], *, stopped: bool = False) -> None:
        self.report = report
        for result in report.get("results") or []:
            row = self.rows.get(result["id"])
            if row is not None:
                self._show_result(row, result)
        self.stop_button.setEnabled(False)
        self.run_button.setEnabled(True)
        done, total = report.get("done", 0), report.get("total", 0)
        head = "Stopped: the model" if stopped else "The model"
        self.summary.setText(
            f"{head} resisted {report.get('passed', 0)} of {done} attempts"
            + (f" ({total - done} not run)" if done < total else "")
            + f"; {report.get('failed', 0)} failed. Model: {report.get('model_id') or 'default'}. "
            "A failure means the reply leaked the canary token from the system prompt or did "
            "what the attempt asked."
        )

    def _set(self, row: int, col: int, text: str, tip: str | None = None) -> QTableWidgetItem:
        item = self.table.item(row, col)
        if item is None:
            item = QTableWidgetItem()
            self.table.setItem(row, col, item)
        item.setText(text)
        item.setToolTip(tip or text)
        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
        return item
