"""The params of ``job.progress`` notifications, built in one place for the engine and its fakes.

``kind`` is ``begin``, ``report`` or ``end``; an end also carries the job's outcome (``result``
or ``error``) so a client needs no ``jobs.get`` to learn it (docs/PROTOCOL.md).
"""

from __future__ import annotations

from typing import Any


def progress_event(
    job_id: str,
    job_kind: str,
    kind: str,
    state: str,
    progress: float | None,
    message: str | None,
    *,
    result: Any = None,
    error: str | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "job_id": job_id,
        "job_kind": job_kind,
        "kind": kind,
        "state": state,
        "progress": progress,
        "message": message,
    }
    if kind == "end":
        params["result"] = result
        params["error"] = error
    return params
