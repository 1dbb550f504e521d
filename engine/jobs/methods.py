"""RPC methods over the job system: ``jobs.list``, ``jobs.get``, ``jobs.cancel``, ``jobs.resume``,
``jobs.log``, ``jobs.wait`` (see docs/PROTOCOL.md)."""

from __future__ import annotations

from typing import Any

from engine.rpc.registry import RequestContext, method


@method("jobs.list")
def list_jobs(ctx: RequestContext, states: list | None = None, limit: int = 200) -> dict[str, Any]:
    return {"jobs": ctx.services.jobs.list(states=states, limit=limit)}


@method("jobs.get")
def get_job(ctx: RequestContext, id: str) -> dict[str, Any]:
    return ctx.services.jobs.get(id)


@method("jobs.cancel")
def cancel_job(ctx: RequestContext, id: str) -> dict[str, Any]:
    return ctx.services.jobs.cancel(id)


@method("jobs.resume")
def resume_job(ctx: RequestContext, id: str) -> dict[str, Any]:
    return ctx.services.jobs.resume(id)


@method("jobs.log")
def job_log(ctx: RequestContext, id: str, after_seq: int = 0, limit: int = 1000) -> dict[str, Any]:
    return {"lines": ctx.services.jobs.log(id, after_seq=after_seq, limit=limit)}


@method("jobs.wait")
def wait_job(ctx: RequestContext, id: str, timeout_s: float | None = None) -> dict[str, Any]:
    """Answer once the job has ended; cancelling this request answers -32800 with the job so far."""
    return ctx.services.jobs.wait(id, timeout_s, cancelled=ctx.cancelled)


@method("jobs.start")
def start_job(ctx: RequestContext, kind: str, params: dict | None = None) -> dict[str, Any]:
    """Start a job of any registered kind; capability methods (models.convert...) validate first."""
    return {"job": ctx.services.jobs.start(kind, params or {})}
