"""Jobs as rows in ``hearth.db``: create, update, read, log, metrics, and crash recovery.

Any process may read; the process that owns a job (``owner_pid`` + its start time, so a reused
pid is not mistaken for the owner) writes its progress. Another process asks for a cancel by
setting ``cancel_requested``; the owner polls it. ``recover`` marks jobs whose owner is gone as
``interrupted`` so nothing is ever left "running" after a crash.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import TYPE_CHECKING, Any

import psutil

from engine.core.errors import NotFoundError, UserError

if TYPE_CHECKING:
    from engine.services import Services

STATES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "cancelled", "interrupted")


def _process_started(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


_OWN_START = _process_started(os.getpid()) or time.time()


def owner_alive(pid: int | None, started: float | None) -> bool:
    if not pid:
        return False
    actual = _process_started(pid)
    return actual is not None and (started is None or abs(actual - started) < 1.0)


class JobStore:
    def __init__(self, services: Services) -> None:
        self._services = services

    @property
    def _db(self):
        return self._services.db()

    # -- writes ---------------------------------------------------------------------------

    def create(self, kind: str, title: str, params: dict[str, Any]) -> str:
        job_id = uuid.uuid4().hex[:12]
        now = time.time()
        self._db.execute(
            "INSERT INTO jobs (id, kind, title, params, state, created_at, updated_at, owner_pid, owner_started)"
            " VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
            (job_id, kind, title, json.dumps(params), now, now, os.getpid(), _OWN_START),
        )
        return job_id

    def mark_running(self, job_id: str) -> None:
        now = time.time()
        self._db.execute(
            "UPDATE jobs SET state='running', started_at=?, updated_at=?, progress=NULL, message=NULL,"
            " owner_pid=?, owner_started=? WHERE id=?",
            (now, now, os.getpid(), _OWN_START, job_id),
        )

    def update_progress(self, job_id: str, progress: float | None, message: str | None) -> None:
        self._db.execute(
            "UPDATE jobs SET progress=?, message=COALESCE(?, message), updated_at=? WHERE id=?",
            (progress, message, time.time(), job_id),
        )

    def finish(
        self,
        job_id: str,
        state: str,
        *,
        result: Any = None,
        error: str | None = None,
        message: str | None = None,
    ) -> None:
        assert state in FINISHED, state
        now = time.time()
        self._db.execute(
            "UPDATE jobs SET state=?, result=?, error=?, message=COALESCE(?, message), finished_at=?, updated_at=?,"
            " progress=CASE WHEN ?='succeeded' THEN 1.0 ELSE progress END WHERE id=?",
            (
                state,
                json.dumps(result) if result is not None else None,
                error,
                message,
                now,
                now,
                state,
                job_id,
            ),
        )

    def requeue(self, job_id: str) -> None:
        now = time.time()
        self._db.execute(
            "UPDATE jobs SET state='queued', attempt=attempt+1, cancel_requested=0, error=NULL, result=NULL,"
            " finished_at=NULL, updated_at=?, owner_pid=?, owner_started=? WHERE id=?",
            (now, os.getpid(), _OWN_START, job_id),
        )

    def request_cancel(self, job_id: str) -> None:
        self._db.execute(
            "UPDATE jobs SET cancel_requested=1, updated_at=? WHERE id=?", (time.time(), job_id)
        )

    def append_log(self, job_id: str, message: str, level: str = "info") -> int:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            seq = db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM job_log WHERE job_id=?", (job_id,)
            ).fetchone()[0]
            db.execute(
                "INSERT INTO job_log (job_id, seq, ts, level, message) VALUES (?, ?, ?, ?, ?)",
                (job_id, seq, time.time(), level, message),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return seq

    def add_metrics(self, job_id: str, step: int, values: dict[str, float]) -> None:
        now = time.time()
        self._db.executemany(
            "INSERT INTO job_metrics (job_id, step, ts, name, value) VALUES (?, ?, ?, ?, ?)",
            [(job_id, int(step), now, name, float(value)) for name, value in values.items()],
        )

    def recover(self) -> list[str]:
        """Mark queued/running jobs whose owning process is gone as interrupted."""
        rows = self._db.execute(
            "SELECT id, owner_pid, owner_started FROM jobs WHERE state IN ('queued', 'running')"
        ).fetchall()
        lost = [r["id"] for r in rows if not owner_alive(r["owner_pid"], r["owner_started"])]
        for job_id in lost:
            self.finish(job_id, "interrupted", message="Hearth stopped while this job was running.")
        return lost

    # -- reads ----------------------------------------------------------------------------

    def row(self, job_id: str):
        row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"No job with id {job_id!r}; list jobs with `hearth-engine jobs list`."
            )
        return row

    def get(self, job_id: str) -> dict[str, Any]:
        return self.to_dict(self.row(job_id))

    def list(self, *, states: list[str] | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if states:
            bad = [s for s in states if s not in STATES]
            if bad:
                raise UserError(
                    f"Unknown job state(s) {', '.join(bad)}; use one of {', '.join(STATES)}."
                )
            marks = ",".join("?" * len(states))
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY created_at DESC LIMIT ?",
                (*states, limit),
            ).fetchall()
        else:
            rows = self._db.execute(
                "SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [self.to_dict(r) for r in rows]

    def log(self, job_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        self.row(job_id)
        rows = self._db.execute(
            "SELECT seq, ts, level, message FROM job_log WHERE job_id=? AND seq>? ORDER BY seq LIMIT ?",
            (job_id, after_seq, limit),
        ).fetchall()
        return [dict(r) for r in rows]

    def metrics(self, job_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT step, ts, name, value FROM job_metrics WHERE job_id=? ORDER BY step, rowid",
            (job_id,),
        ).fetchall()
        return [dict(r) for r in rows]

    def cancel_requested(self, job_id: str) -> bool:
        row = self._db.execute("SELECT cancel_requested FROM jobs WHERE id=?", (job_id,)).fetchone()
        return bool(row and row[0])

    @staticmethod
    def to_dict(row) -> dict[str, Any]:
        from engine.jobs.registry import all_kinds

        kind = all_kinds().get(row["kind"])
        return {
            "id": row["id"],
            "kind": row["kind"],
            "title": row["title"],
            "params": json.loads(row["params"]),
            "state": row["state"],
            "progress": row["progress"],
            "message": row["message"],
            "result": json.loads(row["result"]) if row["result"] is not None else None,
            "error": row["error"],
            "attempt": row["attempt"],
            "resumable": bool(kind and kind.resumable),
            "created_at": row["created_at"],
            "started_at": row["started_at"],
            "finished_at": row["finished_at"],
        }
