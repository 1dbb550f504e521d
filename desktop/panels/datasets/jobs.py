"""Dataset steps run as engine jobs: ``DataJobs`` starts one, follows its ``job.progress``
notifications, fetches the finished Job for its result or error, and cancels or resumes it;
``JobStrip`` shows the panel's running job with a progress bar and Cancel.

A step method (``data.dedup`` …) answers ``{job}`` after checking its parameters; a quick job can
end before that answer arrives, so ends of jobs not (yet) known are kept for a while.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from desktop.calls import request
from desktop.engine_client import EngineClient
from desktop.errors import EngineError


@dataclass
class TrackedJob:
    job_id: str
    title: str
    on_success: Callable[[Any], None] | None
    on_failure: Callable[[str], None] | None
    on_cancel: Callable[[dict], None] | None
    progress: float | None = None
    message: str = ""
    resumable: bool = False


class DataJobs(QObject):
    sig_changed = Signal()
    """A job started, reported progress or ended (the strip redraws)."""
    sig_ended = Signal(object)
    """A tracked job ended; the argument is its final Job record."""

    def __init__(self, client: EngineClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.jobs: dict[str, TrackedJob] = {}  # running, in start order
        self.resumable: TrackedJob | None = None  # the last resumable job that stopped early
        self._early: dict[str, dict[str, Any]] = {}  # ends that came before the start answer
        client.sig_job_progress.connect(self._on_progress)
        client.sig_crashed.connect(self._on_crash)

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

        def started(result: dict[str, Any]) -> None:
            job = result["job"]
            tracked = TrackedJob(job["id"], title, on_success, on_failure, on_cancel)
            tracked.resumable = bool(job.get("resumable"))
            self.jobs[job["id"]] = tracked
            self.sig_changed.emit()
            early = self._early.pop(job["id"], None)
            if early is not None:
                self._on_progress(early)

        def refused(error: EngineError) -> None:
            if on_failure is not None:
                on_failure(error.message)

        request(self, self.client, method, params, ok=started, fail=refused)

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
        if tracked is None:
            return

        def resumed(_job: dict[str, Any]) -> None:
            tracked.message, tracked.progress = "Resuming…", None
            self.jobs[tracked.job_id] = tracked
            self.sig_changed.emit()

        def refused(error: EngineError) -> None:
            self.sig_changed.emit()
            if tracked.on_failure is not None:
                tracked.on_failure(error.message)

        request(self, self.client, "jobs.resume", {"id": tracked.job_id}, ok=resumed,
                fail=refused)  # fmt: skip

    def forget_resumable(self) -> None:
        self.resumable = None
        self.sig_changed.emit()

    # -- notifications --------------------------------------------------------------------

    def _on_progress(self, params: dict[str, Any]) -> None:
        job_id = params.get("job_id")
        job = self.jobs.get(job_id)
        if job is None:
            if params.get("kind") == "end" and str(params.get("job_kind", "")).startswith("data."):
                self._early[job_id] = params
                while len(self._early) > 50:
                    self._early.pop(next(iter(self._early)))
            return
        if params.get("kind") != "end":
            job.progress = params.get("progress")
            job.message = params.get("message") or job.message
            self.sig_changed.emit()
            return
        del self.jobs[job_id]
        self.sig_changed.emit()
        ended = {"id": job_id, "state": params.get("state"), "error": params.get("message")}
        request(self, self.client, "jobs.get", {"id": job_id},
                ok=lambda record: self._finish(job, record),
                fail=lambda _error: self._finish(job, ended))  # fmt: skip

    def _finish(self, job: TrackedJob, record: dict[str, Any]) -> None:
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
                job.on_failure(f"{job.title}: {state}.")
        elif job.on_failure is not None:
            job.on_failure(str(record.get("error") or record.get("message") or "The job failed."))
        self.sig_ended.emit(record)

    def _on_crash(self, *_args: Any) -> None:
        jobs, self.jobs = self.jobs, {}
        self.sig_changed.emit()
        for job in jobs.values():
            if job.on_failure is not None:
                job.on_failure(
                    f"{job.title} was interrupted: the engine stopped. "
                    "Run it again (generation can be resumed in Activity)."
                )


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
