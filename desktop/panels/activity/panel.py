"""``ActivityPanel``: the jobs table, the selected job's log and error, cancel and resume."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.engine_client import EngineClient
from desktop.errors import EngineError
from desktop.format import clock
from desktop.panels.activity.jobs_model import (
    ACTIVE,
    DURATION_COLUMN,
    PROGRESS_COLUMN,
    JobsTableModel,
    ProgressDelegate,
)
from desktop.widgets import HintTableView, MessageBar

RESUMABLE_STATES = ("failed", "cancelled", "interrupted")


class ActivityPanel(QWidget):
    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self._log_job: str | None = None
        self._log_seq = 0

        self.cancel_button = QPushButton("Cancel job")
        self.resume_button = QPushButton("Resume")
        self.refresh_button = QPushButton("Refresh")
        self.cancel_button.clicked.connect(self._cancel)
        self.resume_button.clicked.connect(self._resume)
        self.refresh_button.clicked.connect(self.refresh)
        toolbar = QHBoxLayout()
        toolbar.addWidget(QLabel("Long-running work: imports, conversions, training, ingestion…"))
        toolbar.addStretch(1)
        for b in (self.cancel_button, self.resume_button, self.refresh_button):
            toolbar.addWidget(b)

        self.jobs_model = JobsTableModel(self)
        self.table = HintTableView(
            "No jobs yet. Imports, conversions and other long work will show here."
        )
        self.table.follow_engine(client)
        self.table.setModel(self.jobs_model)
        self.table.setItemDelegateForColumn(PROGRESS_COLUMN, ProgressDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 280)
        header.setSectionResizeMode(PROGRESS_COLUMN, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(PROGRESS_COLUMN, 140)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("color:#b52a2a; font-weight:bold;")
        self.error_label.hide()
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(20000)
        self.log_view.setFont(QFont("monospace"))
        self.log_view.setPlaceholderText("Select a job to see its log.")
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        self.log_title = QLabel("<b>Log</b>")
        bottom_layout.addWidget(self.log_title)
        bottom_layout.addWidget(self.error_label)
        bottom_layout.addWidget(self.log_view, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        self.message = MessageBar()
        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)

        self._tick = QTimer(self)  # keeps running jobs' durations moving
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._refresh_durations)
        self._tick.start()

        client.sig_ready.connect(lambda _r: self.refresh())
        client.sig_job_progress.connect(self._on_progress)
        client.sig_job_log.connect(self._on_log)
        self._update_buttons()

    # -- data -----------------------------------------------------------------------------

    def on_shown(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        self.client.call("jobs.list", {"limit": 500}).on_success(self._show_jobs).on_failure(
            self._show_error
        )

    def _show_jobs(self, result: dict[str, Any]) -> None:
        selected = self.selected_job()
        self.jobs_model.set_jobs(result.get("jobs", []))
        if selected is not None and (row := self.jobs_model.row_of(selected["id"])) >= 0:
            self.table.selectRow(row)
        self._update_buttons()

    def selected_job(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self.jobs_model.job_at(rows[0].row()) if rows else None

    def _on_progress(self, params: dict[str, Any]) -> None:
        if not self.jobs_model.apply_progress(params):
            self.refresh()  # a job we have not listed yet
            return
        self._update_buttons()

    def _replace_job(self, job: dict[str, Any]) -> None:
        if self.jobs_model.replace_record(job):
            self._update_buttons()

    def _refresh_durations(self) -> None:
        for row in range(self.jobs_model.rowCount()):
            job = self.jobs_model.job_at(row)
            if job and job.get("state") == "running":
                cell = self.jobs_model.index(row, DURATION_COLUMN)
                self.jobs_model.dataChanged.emit(cell, cell)

    # -- selection and log ----------------------------------------------------------------

    def _selection_changed(self, *_args: Any) -> None:
        job = self.selected_job()
        self._update_buttons()
        job_id = job["id"] if job else None
        if job_id == self._log_job:
            return
        self._log_job, self._log_seq = job_id, 0
        self.log_view.clear()
        title = html.escape(str(job.get("title") or job.get("kind"))) if job else ""
        self.log_title.setText(f"<b>Log</b> — {title}" if job else "<b>Log</b>")
        if job_id:
            self._fetch_log()

    def _fetch_log(self) -> None:
        job_id = self._log_job
        if job_id is None:
            return
        self.client.call(
            "jobs.log", {"id": job_id, "after_seq": self._log_seq, "limit": 5000}
        ).on_success(lambda result, j=job_id: self._append_lines(j, result.get("lines", [])))

    def _append_lines(self, job_id: str, lines: list[dict[str, Any]]) -> None:
        if job_id != self._log_job:
            return
        fresh = [line for line in lines if line["seq"] > self._log_seq]
        for line in fresh:
            self.log_view.appendPlainText(
                f"{clock(line['ts'])}  {line['level']:<7} {line['message']}"
            )
        if fresh:
            self._log_seq = fresh[-1]["seq"]
            self.log_view.moveCursor(QTextCursor.MoveOperation.End)

    def _on_log(self, params: dict[str, Any]) -> None:
        if params.get("job_id") == self._log_job:
            self._fetch_log()  # fetch by sequence number so nothing is shown twice or lost

    def _update_buttons(self) -> None:
        job = self.selected_job()
        state = (job or {}).get("state")
        self.cancel_button.setEnabled(state in ACTIVE)
        self.resume_button.setEnabled(
            bool(job and job.get("resumable") and state in RESUMABLE_STATES)
        )
        error = (job or {}).get("error") if state == "failed" else None
        if error:
            self.error_label.setText(f"Failed: {error}")
        elif state == "interrupted":
            self.error_label.setText(
                "Interrupted: Hearth stopped while this job ran."
                + (" Resume it to go on." if job.get("resumable") else "")
            )
        self.error_label.setVisible(bool(error) or state == "interrupted")

    # -- actions --------------------------------------------------------------------------

    def _cancel(self) -> None:
        job = self.selected_job()
        if job:
            self.client.call("jobs.cancel", {"id": job["id"]}).on_success(
                self._replace_job
            ).on_failure(self._show_error)

    def _resume(self) -> None:
        job = self.selected_job()
        if job:
            self.client.call("jobs.resume", {"id": job["id"]}).on_success(
                self._replace_job
            ).on_failure(self._show_error)

    def _show_error(self, error: EngineError) -> None:
        self.message.show_message(error.message, "error")
