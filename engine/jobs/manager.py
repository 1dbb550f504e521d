"""Runs jobs: light kinds in a thread, torch-heavy kinds in a worker subprocess.

Heavy (``subprocess=True``) jobs run one at a time, in submission order, so two trainings never
fight for memory; light jobs run beside them. Every state change is written to the store and
sent as a ``job.progress`` notification (begin, report, end); metrics and log lines likewise.
A monitor thread polls the store for cancel requests made by other processes (the CLI).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.core.errors import Cancelled, JobFailed, UserError
from engine.jobs import registry
from engine.jobs.events import progress_event
from engine.jobs.store import ACTIVE, FINISHED, JobStore

if TYPE_CHECKING:
    from engine.services import Services

log = logging.getLogger(__name__)

_PROGRESS_EVERY_S = 0.2  # throttle for store writes and notifications of progress reports


class RunningJob:
    """The ``JobContext`` a job function sees, bound to one job of this manager."""

    def __init__(
        self, manager: JobManager, job_id: str, kind: str, params: dict[str, Any], attempt: int
    ) -> None:
        self.manager = manager
        self.services = manager.services
        self.job_id = job_id
        self.kind = kind
        self.params = params
        self.attempt = attempt
        self.cancel_event = threading.Event()
        self._last_report = 0.0
        self._pending: tuple[float | None, str | None] | None = None
        self.final_message: str | None = None  # the message that came with progress 1.0

    # JobContext ---------------------------------------------------------------------------
    def progress(self, fraction: float | None, message: str | None = None) -> None:
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        if fraction == 1.0 and message:
            self.final_message = message  # what the job says it did ("9 indexed, 1 failed")
        now = time.monotonic()
        if now - self._last_report < _PROGRESS_EVERY_S and fraction != 1.0:
            self._pending = (fraction, message)
            return
        self._last_report = now
        self._pending = None
        self.manager._report(self, fraction, message)

    def metrics(self, step: int, values: dict[str, float]) -> None:
        self.manager.store.add_metrics(self.job_id, step, values)
        self.manager._notify(
            "job.metrics", {"job_id": self.job_id, "step": int(step), "values": dict(values)}
        )

    def log(self, message: str, level: str = "info") -> None:
        self.manager.store.append_log(self.job_id, message, level)
        self.manager._notify("job.log", {"job_id": self.job_id, "level": level, "message": message})

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self, partial: Any = None) -> None:
        if self.cancel_event.is_set():
            raise Cancelled(partial)

    def flush(self) -> None:
        if self._pending is not None:
            fraction, message = self._pending
            self._pending = None
            self.manager._report(self, fraction, message)


class JobManager:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = JobStore(services)
        self._lock = threading.Lock()
        self._running: dict[str, RunningJob] = {}
        self._heavy_lock = threading.Lock()  # one subprocess job at a time
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._changed = threading.Condition()
        lost = self.store.recover()
        if lost:
            log.info(
                "marked %d job(s) interrupted after an earlier crash: %s",
                len(lost),
                ", ".join(lost),
            )
        self._sweep_datasets(services)
        self._monitor = threading.Thread(
            target=self._watch_cancel_requests, name="job-cancel-monitor", daemon=True
        )
        self._monitor.start()

    # -- public API -----------------------------------------------------------------------

    def start(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """Queue a job of ``kind`` and return its Job dict at once."""
        if self._closing.is_set():
            raise UserError("The engine is shutting down; start the job again after it restarts.")
        spec = registry.get_kind(kind)
        job_id = self.store.create(kind, spec.title(params), params)
        self._launch(job_id, spec, params, attempt=1)
        return self.store.get(job_id)

    def get(self, job_id: str) -> dict[str, Any]:
        return self.store.get(job_id)

    def list(self, *, states: list[str] | None = None, limit: int = 200) -> list[dict[str, Any]]:
        return self.store.list(states=states, limit=limit)

    def log(self, job_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        return self.store.log(job_id, after_seq=after_seq, limit=limit)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Ask a job to stop. Queued jobs stop before they start; running ones at their next check."""
        job = self.store.get(job_id)
        if job["state"] in FINISHED:
            return job
        with self._lock:
            running = self._running.get(job_id)
        self.store.request_cancel(job_id)
        if running is not None:
            running.cancel_event.set()
        else:
            row = self.store.row(job_id)
            from engine.jobs.store import owner_alive

            if not owner_alive(row["owner_pid"], row["owner_started"]):
                self.store.finish(job_id, "cancelled", message="Cancelled.")
        return self.store.get(job_id)

    def resume(self, job_id: str) -> dict[str, Any]:
        job = self.store.get(job_id)
        spec = registry.get_kind(job["kind"])
        if not spec.resumable:
            raise UserError(f"A {job['kind']} job cannot be resumed; start it again instead.")
        if job["state"] not in ("failed", "cancelled", "interrupted"):
            raise UserError(
                f"Job {job_id} is {job['state']}; only failed, cancelled or interrupted jobs can be resumed."
            )
        self.store.requeue(job_id)
        self._launch(job_id, spec, job["params"], attempt=job["attempt"] + 1)
        return self.store.get(job_id)

    def wait(
        self,
        job_id: str,
        timeout: float | None = None,
        *,
        cancelled: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Block until the job is finished, ``timeout`` passes, or ``cancelled()`` turns true."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.store.get(job_id)
            if job["state"] not in ACTIVE:
                return job
            if cancelled is not None and cancelled():
                raise Cancelled(job)
            if deadline is not None and time.monotonic() >= deadline:
                return job
            with self._changed:
                self._changed.wait(
                    0.25
                )  # also re-reads the store: the job may belong to another process

    def running(self) -> list[dict[str, Any]]:
        with self._lock:
            ids = list(self._running)
        return [self.store.get(i) for i in ids]

    def close(self) -> None:
        self.shutdown()

    def shutdown(self, timeout: float = 15.0) -> None:
        """Stop every job of this process; they end as ``interrupted`` (resumable ones can go on)."""
        self._closing.set()
        with self._lock:
            running = list(self._running.values())
        for job in running:
            job.cancel_event.set()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        for job in self.store.list(states=list(ACTIVE)):
            row = self.store.row(job["id"])
            from engine.jobs.store import _OWN_START

            if row["owner_pid"] and abs((row["owner_started"] or 0) - _OWN_START) < 1.0:
                self.store.finish(
                    job["id"],
                    "interrupted",
                    message="The engine stopped while this job was running.",
                )

    # -- internals ------------------------------------------------------------------------

    def _notify(self, method: str, params: dict[str, Any]) -> None:
        try:
            self.services.notify(method, params)
        except Exception:  # a dead client must not kill the job
            log.exception("notification %s failed", method)

    def _report(
        self,
        job: RunningJob,
        fraction: float | None,
        message: str | None,
        kind: str = "report",
        state: str = "running",
    ) -> None:
        self.store.update_progress(job.job_id, fraction, message)
        self._notify(
            "job.progress", progress_event(job.job_id, job.kind, kind, state, fraction, message)
        )

    def _launch(
        self, job_id: str, spec: registry.JobKind, params: dict[str, Any], attempt: int
    ) -> None:
        job = RunningJob(self, job_id, spec.name, params, attempt)
        with self._lock:
            self._running[job_id] = job
        thread = threading.Thread(
            target=self._run, args=(job, spec), name=f"job-{job_id}", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _run(self, job: RunningJob, spec: registry.JobKind) -> None:
        try:
            if spec.subprocess:
                # Wait our turn without holding the lock forever: a cancel while queued ends the job.
                while not self._heavy_lock.acquire(timeout=0.2):
                    if job.cancelled():
                        self._end(job, "cancelled", message="Cancelled before it started.")
                        return
                try:
                    self._execute(job, spec)
                finally:
                    self._heavy_lock.release()
            else:
                self._execute(job, spec)
        finally:
            with self._lock:
                self._running.pop(job.job_id, None)
            with self._changed:
                self._changed.notify_all()

    def _execute(self, job: RunningJob, spec: registry.JobKind) -> None:
        if job.cancelled():
            self._end(job, "cancelled", message="Cancelled before it started.")
            return
        self.store.mark_running(job.job_id)
        self._notify(
            "job.progress", progress_event(job.job_id, job.kind, "begin", "running", None, None)
        )
        try:
            if spec.subprocess:
                from engine.jobs.subprocess_runner import run_in_worker

                result = run_in_worker(job, self.services.root)
            else:
                result = spec.run(job)
        except Cancelled as exc:
            job.flush()
            state = "interrupted" if self._closing.is_set() else "cancelled"
            if exc.partial is not None:
                self.store.finish(job.job_id, state, result=exc.partial, message="Cancelled.")
                self._end(job, state, message="Cancelled.", write=False)
            else:
                self._end(job, state, message="Cancelled.")
        except (UserError, JobFailed) as exc:
            job.flush()
            job.log(str(exc), "error")
            self._end(job, "failed", error=str(exc), message="Failed.")
        except MemoryError:
            job.flush()
            msg = "Ran out of memory; close other programs or choose a smaller model or batch."
            job.log(msg, "error")
            self._end(job, "failed", error=msg, message="Failed.")
        except Exception as exc:
            from engine.core.space import as_user_error, is_disk_full

            job.flush()
            if is_disk_full(exc):
                msg = as_user_error(exc).message
                job.log(msg, "error")
                self._end(job, "failed", error=msg, message="Failed.")
                return
            log.exception("job %s (%s) crashed", job.job_id, job.kind)
            msg = f"Internal error: {type(exc).__name__}: {exc} (details in the engine log)."
            job.log(msg, "error")
            self._end(job, "failed", error=msg, message="Failed.")
        else:
            job.flush()
            self._end(job, "succeeded", result=result, message=job.final_message or "Done.")

    def _end(
        self,
        job: RunningJob,
        state: str,
        *,
        result: Any = None,
        error: str | None = None,
        message: str | None = None,
        write: bool = True,
    ) -> None:
        if write:
            self.store.finish(job.job_id, state, result=result, error=error, message=message)
        row = self.store.get(job.job_id)
        for method in registry.get_kind(job.kind).changes:
            self._notify(method, {})
        end = progress_event(job.job_id, job.kind, "end", state, row["progress"], error or message,
                             result=row.get("result"), error=row.get("error"))  # fmt: skip
        self._notify("job.progress", end)

    @staticmethod
    def _sweep_datasets(services: Any) -> None:
        """What killed dataset jobs left half-written, never listed (see ``sweep_orphans``)."""
        from engine.datasets.library import DatasetLibrary

        try:
            gone = DatasetLibrary(services).sweep_orphans()
        except (OSError, sqlite3.Error) as exc:
            log.warning("could not sweep unfinished dataset files: %s", exc)
            return
        if gone:
            log.info(
                "removed %d unfinished dataset folder(s) or file(s): %s", len(gone), ", ".join(gone)
            )

    def _watch_cancel_requests(self) -> None:
        while not self._closing.wait(0.5):
            with self._lock:
                running = list(self._running.values())
            for job in running:
                if not job.cancel_event.is_set():
                    try:
                        if self.store.cancel_requested(job.job_id):
                            job.cancel_event.set()
                    except Exception:
                        log.exception("cancel poll failed")
