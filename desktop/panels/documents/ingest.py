"""Ingest jobs of the Documents panel: ``IngestTracker`` starts ``docs.ingest``, follows its
``job.progress``/``job.metrics`` notifications (files/s from the metrics, ETA from the progress
fraction and the time since the job began), cancels it and resumes it (``jobs.resume``: the engine
skips what is already indexed); ``IngestStrip`` shows the selected collection's job. Each job is
followed through a ``JobHandle``, which keeps notifications that come before its id is known.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from html import escape as esc
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from desktop.calls import request
from desktop.engine_client import EngineClient, JobFailure, JobHandle
from desktop.format import human_duration

STOPPED = ("failed", "cancelled", "interrupted")


@dataclass
class IngestJob:
    job_id: str
    collection_id: str
    title: str
    state: str = "queued"
    progress: float | None = None
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    began: float | None = None  # monotonic time of the first progress seen
    record: dict[str, Any] | None = None  # the final Job once it ended

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def eta_s(self) -> float | None:
        p = self.progress
        if not self.active or self.began is None or not p or not 0 < p < 1:
            return None
        return (time.monotonic() - self.began) * (1 - p) / p

    def rate_text(self) -> str:
        """``340 chunks · 3.1 files/s · 95 chunks/s · ETA 20 s`` from the metrics and progress."""
        m = self.metrics
        if not m:
            return ""
        parts = [f"{int(m.get('chunks', 0))} chunks", f"{m.get('files_per_s', 0.0):.1f} files/s"]
        if m.get("chunks_per_s"):
            parts.append(f"{m['chunks_per_s']:.0f} chunks/s")
        eta = self.eta_s()
        if eta is not None:
            parts.append(f"ETA {human_duration(eta)}")
        return " · ".join(parts)

    def status_text(self) -> str:
        """What the job is doing: the engine's line, cut to its first part (``3/10 files``) when
        the figures after it are shown from the metrics."""
        if self.metrics and " · " in self.message:
            return self.message.split(" · ")[0]
        return self.message


class IngestTracker(QObject):
    sig_changed = Signal(str)
    """A job of this collection id started, reported progress or ended."""
    sig_ended = Signal(object)
    """An ingest job ended; the argument is the ``IngestJob`` (with its final ``record``)."""
    sig_error = Signal(str)
    """Starting, cancelling or resuming failed; the argument is the engine's message."""

    def __init__(self, client: EngineClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.jobs: dict[str, IngestJob] = {}  # by collection id: the latest job of each

    def job_for(self, collection_id: str | None) -> IngestJob | None:
        return self.jobs.get(collection_id or "")

    # -- actions --------------------------------------------------------------------------
    def start(self, collection: dict[str, Any], paths: list[str] | None) -> None:
        """Ingest ``paths`` (None: re-read every source) into ``collection``."""
        params: dict[str, Any] = {"id": collection["id"]}
        if paths is not None:
            params["paths"] = paths
        self._attach(self.client.start_job("docs.ingest", params), collection, None)

    def follow(self, job_id: str, collection: dict[str, Any]) -> None:
        """Track a job found running when the collection was selected."""
        self._attach(self.client.follow_job(job_id), collection, None)

    def offer_resume(self, job: dict[str, Any], collection: dict[str, Any]) -> None:
        """Show an ingest that stopped early (found in ``jobs.list``) so it can be resumed."""
        if self.job_for(collection["id"]) is not None:
            return
        tracked = IngestJob(
            job["id"],
            collection["id"],
            f"Ingest into {collection.get('name')}",
            state=job["state"],
            progress=job.get("progress"),
            message=str(job.get("error") or job.get("message") or job["state"]),
            record=job,
        )
        self.jobs[collection["id"]] = tracked
        self.sig_changed.emit(collection["id"])

    def cancel(self, collection_id: str) -> None:
        job = self.job_for(collection_id)
        if job is None or not job.active:
            return
        job.message = "Cancelling…"
        self.sig_changed.emit(collection_id)
        request(
            self,
            self.client,
            "jobs.cancel",
            {"id": job.job_id},
            fail=lambda e: self.sig_error.emit(e.message),
        )

    def resume(self, collection_id: str) -> None:
        """Re-queue a cancelled, failed or interrupted ingest; it goes on from where it was."""
        job = self.job_for(collection_id)
        if job is None or job.active:
            return
        job.state, job.record, job.began = "queued", None, None
        job.message, job.metrics = "Resuming…", {}
        self.sig_changed.emit(collection_id)
        collection = {"id": collection_id, "name": job.title.split(" into ", 1)[-1]}
        self._attach(self.client.resume_job(job.job_id), collection, job)

    def dismiss(self, collection_id: str) -> None:
        job = self.job_for(collection_id)
        if job is not None and not job.active:
            del self.jobs[collection_id]
            self.sig_changed.emit(collection_id)

    # -- one job's signals ----------------------------------------------------------------
    def _attach(
        self, handle: JobHandle, collection: dict[str, Any], resumed: IngestJob | None
    ) -> None:
        box: list[IngestJob] = [resumed] if resumed is not None else []

        def started(_reply: dict[str, Any]) -> None:
            job = handle.job
            if box:
                box[0].state = job.get("state") or "queued"
            else:
                box.append(IngestJob(
                    job["id"], collection["id"], f"Ingesting into {collection.get('name')}",
                    state=job.get("state") or "queued", progress=job.get("progress"),
                    message=job.get("message") or "Waiting to start…",
                ))  # fmt: skip
            self.jobs[collection["id"]] = box[0]
            self.sig_changed.emit(collection["id"])

        def progressed(params: dict[str, Any]) -> None:
            job = box[0]
            job.state = params.get("state") or job.state
            if params.get("kind") == "begin" or job.began is None:
                job.began = time.monotonic()
            if params.get("progress") is not None or params.get("kind") == "begin":
                job.progress = params.get("progress")
            if params.get("message"):
                job.message = params["message"]
            self.sig_changed.emit(job.collection_id)

        def measured(params: dict[str, Any]) -> None:
            if isinstance(params.get("values"), dict):
                box[0].metrics.update(params["values"])
                self.sig_changed.emit(box[0].collection_id)

        def finished(result: Any) -> None:
            self._ended(box[0], {"id": handle.job_id, "state": "succeeded", "result": result})

        def failed(error: Exception) -> None:
            if not isinstance(error, JobFailure):  # refused: nothing started
                if box:
                    box[0].state = "failed"
                    box[0].message = getattr(error, "message", str(error))
                    self.sig_changed.emit(box[0].collection_id)
                self.sig_error.emit(getattr(error, "message", str(error)))
                return
            record = {"id": handle.job_id, "state": error.state, "error": error.message}
            self._ended(box[0], record)

        handle.sig_started.connect(started)
        handle.sig_progress.connect(progressed)
        handle.sig_metrics.connect(measured)
        handle.sig_finished.connect(finished)
        handle.sig_failed.connect(failed)

    def _ended(self, job: IngestJob, record: dict[str, Any]) -> None:
        job.record = record
        job.state = record.get("state") or job.state
        if job.state == "succeeded":
            job.progress = 1.0
            if self.jobs.get(job.collection_id) is job:
                del self.jobs[job.collection_id]  # nothing left to show or resume
        elif job.state in STOPPED:
            job.message = str(record.get("error") or job.message or job.state)
        self.sig_changed.emit(job.collection_id)
        self.sig_ended.emit(job)


def summary_text(result: dict[str, Any] | None) -> str:
    """``Indexed 3 · skipped 1 · failed 1 · 12 chunks added in 2 s. Failed — scan.pdf: why.``"""
    r = result or {}
    text = (
        f"Indexed {len(r.get('indexed') or [])} · skipped {len(r.get('skipped') or [])} · "
        f"failed {len(r.get('failed') or [])}"
    )
    failed = r.get("failed") or []
    if r.get("chunks_added") is not None:
        text += f" · {r['chunks_added']} chunks added"
    if r.get("seconds") is not None:
        text += f" in {human_duration(r['seconds'])}"
    text += "."
    if failed:
        reasons = [f"{Path(f.get('file') or '?').name}: {f.get('reason')}" for f in failed[:3]]
        more = f" (+{len(failed) - 3} more in the Files table)" if len(failed) > 3 else ""
        text += " Failed — " + "; ".join(reasons) + more + "."
    return text


class IngestStrip(QWidget):
    """The selected collection's ingest: title, status line, progress bar, Cancel or Resume."""

    def __init__(self, tracker: IngestTracker, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tracker = tracker
        self.collection_id: str | None = None
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.rate = QLabel()
        self.rate.setStyleSheet("color: palette(placeholder-text);")
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(220)
        self.bar.setMaximumHeight(16)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop ingesting; files done so far stay indexed")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Go on from where it stopped (indexed files are skipped)")
        self.dismiss_button = QPushButton("Dismiss")
        self.cancel_button.clicked.connect(lambda: self._act(tracker.cancel))
        self.resume_button.clicked.connect(lambda: self._act(tracker.resume))
        self.dismiss_button.clicked.connect(lambda: self._act(tracker.dismiss))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.rate)
        layout.addWidget(self.bar)
        for button in (self.cancel_button, self.resume_button, self.dismiss_button):
            layout.addWidget(button)
        tracker.sig_changed.connect(self._changed)
        self.hide()

    def _act(self, action) -> None:
        if self.collection_id:
            action(self.collection_id)

    def show_collection(self, collection_id: str | None) -> None:
        self.collection_id = collection_id
        self.update_view()

    def _changed(self, collection_id: str) -> None:
        if collection_id == self.collection_id:
            self.update_view()

    def update_view(self) -> None:
        job = self.tracker.job_for(self.collection_id)
        if job is None:
            self.hide()
            return
        active = job.active
        self.cancel_button.setVisible(active)
        self.bar.setVisible(active)
        self.rate.setVisible(active and bool(job.rate_text()))
        resumable = bool((job.record or {}).get("resumable", True))
        self.resume_button.setVisible(not active and job.state in STOPPED and resumable)
        self.dismiss_button.setVisible(not active)
        if active:
            self.label.setText(f"<b>{esc(job.title)}</b> — {esc(job.status_text())}")
            self.rate.setText(job.rate_text())
            if job.progress is None:
                self.bar.setRange(0, 0)
            else:
                self.bar.setRange(0, 100)
                self.bar.setValue(int(100 * float(job.progress)))
        else:
            self.label.setText(f"<b>{esc(job.title)}</b> stopped ({job.state}): {esc(job.message)}")
        self.show()
