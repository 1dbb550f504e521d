"""``JobsTableModel``: jobs as rows, updated in place from ``job.progress`` notifications;
``ProgressDelegate`` draws the progress column as a bar."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionProgressBar

from desktop.format import clock, human_duration
from desktop.table_model import RecordRole, RecordTableModel

COLUMNS = ("Job", "Kind", "State", "Progress", "Started", "Duration", "Message")
STATE_COLUMN = 2
PROGRESS_COLUMN = 3
DURATION_COLUMN = 5
ACTIVE = ("queued", "running")
_STATE_COLORS = {
    "failed": "#d9534f",
    "interrupted": "#c77c02",
    "cancelled": "#777777",
    "succeeded": "#2e7d32",
}


class JobsTableModel(RecordTableModel):
    COLUMNS = COLUMNS

    def set_jobs(self, jobs: list[dict[str, Any]]) -> None:
        self.set_records(jobs)

    def job_at(self, row: int) -> dict[str, Any] | None:
        return self.record_at(row)

    def apply_progress(self, params: dict[str, Any]) -> bool:
        """Update a job from a ``job.progress`` notification; False if the job is not listed."""
        row = self.row_of(params.get("job_id", ""))
        if row < 0:
            return False
        job = self._rows[row]
        job["state"] = params.get("state") or job["state"]
        if params.get("progress") is not None:
            job["progress"] = params["progress"]
        if params.get("message"):
            job["message"] = params["message"]
        if params.get("kind") == "begin":
            job["started_at"] = time.time()
        if params.get("kind") == "end":  # the outcome travels with the end
            job["finished_at"] = time.time()
            job["result"] = params.get("result")
            job["error"] = params.get("error") or (
                params.get("message") if job["state"] == "failed" else None
            )
        self.row_changed(row)
        return True

    def cell(self, job: dict[str, Any], col: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return job.get("title") or job.get("kind")
            if col == 1:
                return job.get("kind") or "–"
            if col == STATE_COLUMN:
                return job.get("state")
            if col == PROGRESS_COLUMN:
                p = job.get("progress")
                return None if p is None else f"{p * 100:.0f}%"
            if col == 4:
                return clock(job.get("started_at"))
            if col == DURATION_COLUMN:
                start = job.get("started_at")
                end = job.get("finished_at") or (
                    time.time() if job.get("state") == "running" else None
                )
                return human_duration(end - start) if start and end else "–"
            return (
                job.get("error")
                if job.get("state") == "failed" and job.get("error")
                else job.get("message") or ""
            )
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"{job.get('kind')} · {job.get('id')}"
                if col == 0
                else (job.get("error") or job.get("message"))
            )
        if (
            role == Qt.ItemDataRole.ForegroundRole
            and col == STATE_COLUMN
            and job.get("state") in _STATE_COLORS
        ):
            return QColor(_STATE_COLORS[job["state"]])
        return None


class ProgressDelegate(QStyledItemDelegate):
    """Draws a progress bar; an indeterminate (busy) one for running jobs with no fraction yet."""

    def paint(self, painter, option, index) -> None:
        job = index.data(RecordRole) or {}
        progress = job.get("progress")
        if progress is None and job.get("state") not in ACTIVE:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(4, 4, -4, -4)
        bar.minimum, bar.maximum = 0, 100
        bar.progress = int((progress or 0) * 100)
        bar.text = "" if progress is None else f"{bar.progress}%"
        bar.textVisible = progress is not None
        # without State_Horizontal the style draws a vertical bar: a sliver at the bottom
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)
