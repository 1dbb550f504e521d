"""Dataset steps run as engine jobs: ``DataJobs`` starts one, follows its ``job.progress``
notifications through a ``JobHandle`` (which also keeps the ones that arrive before the start
call answers, and carries the result or error of the end), and cancels or resumes it;
``JobStrip`` shows the panel's running job with a progress bar and Cancel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from desktop.engine_client import EngineClient, JobFailure, JobHandle


@dataclass
class TrackedJob:
    title: str
    on_success: Callable[[Any], None] | None
    on_failure: Callable[[str], None] | None
    on_cancel: Callable[[dict], None] | None
    job_id: str = ""
    progress: float | None = None
    message: str = ""
    resumable: bool = False


class DataJobs(QObject):
    sig_changed = Signal()
    """A job started, reported progress or ended (the strip redraws)."""
    sig_ended = Signal(object)
    """A tracked job ended; the argument is ``{"id", "state", "result", "error"}``."""

    def __init__(self, client: EngineClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.jobs: dict[str, TrackedJob] = {}  # running, in start order
        self.resumable: TrackedJob | None = None  # the last resumable job that stopped early

    def start(
        self,
        method: str,
        params: dict[str, Any],
        *,
        title: str,
        on_success: Callable[[Any], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
        on_cancel: Callable[[dict], None] | None = None,
    ) -> None:
        """Call a job-starting method; exactly one of the callbacks runs when the job is over
        (``on_failure`` also when the engine refuses the parameters)."""
        tracked = TrackedJob(title, on_success, on_failure, on_cancel)
        self._follow(tracked, self.client.start_job(method, params))

    def current(self) -> TrackedJob | None:
        """The most recently started job that is still running."""
        return next(reversed(self.jobs.values()), None) if self.jobs else None

    def cancel(self, job_id: str | None = None) -> None:
        job = self.jobs.get(job_id) if job_id else self.current()
        if job is not None:
            job.message = "Cancelling…"
            self.sig_changed.emit()
            self.client.call("jobs.cancel", {"id": job.job_id})

    def resume(self) -> None:
        """Re-queue the last resumable job that was cancelled or failed; it reports as before."""
        tracked, self.resumable = self.resumable, None
        if tracked is not None:
            tracked.message, tracked.progress = "Resuming…", None
            self._follow(tracked, self.client.resume_job(tracked.job_id))

    def forget_resumable(self) -> None:
        self.resumable = None
        self.sig_changed.emit()

    # -- one job's signals -----------------------------------------------------------------

    def _follow(self, tracked: TrackedJob, handle: JobHandle) -> None:
        def started(_reply: dict[str, Any]) -> None:
            tracked.job_id = handle.job_id or tracked.job_id
            tracked.resumable = bool(handle.job.get("resumable", tracked.resumable))
            self.jobs[tracked.job_id] = tracked
            self.sig_changed.emit()

        def progressed(params: dict[str, Any]) -> None:
            tracked.progress = params.get("progress")
            tracked.message = params.get("message") or tracked.message
            self.sig_changed.emit()

        def finished(result: Any) -> None:
            self._finish(tracked, {"id": tracked.job_id, "state": "succeeded", "result": result})

        def failed(error: Exception) -> None:
            if not isinstance(error, JobFailure):  # refused before it started
                self.sig_changed.emit()
                if tracked.on_failure is not None:
                    tracked.on_failure(getattr(error, "message", str(error)))
                return
            record = {"id": tracked.job_id, "state": error.state, "error": error.message}
            self._finish(tracked, record)

        handle.sig_started.connect(started)
        handle.sig_progress.connect(progressed)
        handle.sig_finished.connect(finished)
        handle.sig_failed.connect(failed)

    def _finish(self, job: TrackedJob, record: dict[str, Any]) -> None:
        self.jobs.pop(job.job_id, None)
        self.sig_changed.emit()
        state = record.get("state")
        if job.resumable and state != "succeeded":
            job.message = str(record.get("error") or state)
            self.resumable = job
            self.sig_changed.emit()
        if state == "succeeded":
            if job.on_success is not None:
                job.on_success(record.get("result"))
        elif state in ("cancelled", "interrupted"):
            if job.on_cancel is not None:
                job.on_cancel(record)
            elif job.on_failure is not None:
                job.on_failure(str(record.get("error") or f"{job.title}: {state}."))
        elif job.on_failure is not None:
            job.on_failure(str(record.get("error") or "The job failed."))
        self.sig_ended.emit(record)


class JobStrip(QWidget):
    """The running dataset job: what it does, how far it is, and a Cancel button."""

    def __init__(self, jobs: DataJobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(220)
        self.bar.setMaximumHeight(16)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop this job; the dataset stays as it was (Esc)")
        self.cancel_button.clicked.connect(lambda: self.jobs.cancel())
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Carry on from where the job stopped")
        self.resume_button.clicked.connect(lambda: self.jobs.resume())
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.clicked.connect(lambda: self.jobs.forget_resumable())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.bar)
        for button in (self.cancel_button, self.resume_button, self.dismiss_button):
            layout.addWidget(button)
        jobs.sig_changed.connect(self.update_view)
        self.hide()

    def update_view(self) -> None:
        job = self.jobs.current()
        stopped = self.jobs.resumable
        self.resume_button.setVisible(job is None and stopped is not None)
        self.dismiss_button.setVisible(job is None and stopped is not None)
        self.cancel_button.setVisible(job is not None)
        self.bar.setVisible(job is not None)
        if job is None and stopped is not None:
            self.label.setText(f"<b>{stopped.title}</b> stopped: {stopped.message}")
            self.show()
            return
        if job is None:
            self.hide()
            return
        more = len(self.jobs.jobs) - 1
        text = f"<b>{job.title}</b>" + (f" — {job.message}" if job.message else "")
        self.label.setText(text + (f" (+{more} more)" if more > 0 else ""))
        if job.progress is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 100)
            self.bar.setValue(int(100 * float(job.progress)))
        self.show()
