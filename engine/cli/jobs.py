"""``hearth-engine jobs``: list, show, cancel, resume and read the log of jobs."""

from __future__ import annotations

import time
from typing import Any

from engine.cli.context import LocalContext
from engine.cli.output import emit_json, table


def add_parser(sub: Any) -> None:
    p = sub.add_parser("jobs", help="long-running work: list, show, cancel, resume")
    jsub = p.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    a = jsub.add_parser("list", help="list recent jobs")
    a.add_argument("--state", action="append", help="only jobs in this state (repeatable)")
    a.add_argument("--limit", type=int, default=50)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_list)
    for name, func, text in (
        ("show", cmd_show, "show one job with its log"),
        ("cancel", cmd_cancel, "ask a job to stop"),
        (
            "resume",
            cmd_resume,
            "resume an interrupted, cancelled or failed job (when its kind allows)",
        ),
        ("log", cmd_log, "print a job's log"),
    ):
        a = jsub.add_parser(name, help=text)
        a.add_argument("id")
        a.add_argument("--json", action="store_true")
        a.set_defaults(func=func)


def _ctx() -> LocalContext:
    return LocalContext(progress=False)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def cmd_list(args: Any) -> int:
    jobs = _ctx().services.jobs.list(states=args.state, limit=args.limit)
    if args.json:
        emit_json(jobs)
        return 0
    if not jobs:
        print("No jobs yet.")
        return 0
    table(
        [
            [
                j["id"],
                j["kind"],
                j["state"],
                f"{(j['progress'] or 0) * 100:.0f}%",
                _when(j["created_at"]),
                j["title"],
            ]
            for j in jobs
        ],
        ["ID", "KIND", "STATE", "DONE", "CREATED", "TITLE"],
    )
    return 0


def cmd_show(args: Any) -> int:
    manager = _ctx().services.jobs
    job = manager.get(args.id)
    if args.json:
        emit_json({**job, "log": manager.log(args.id)})
        return 0
    for key in ("id", "kind", "title", "state", "attempt", "message", "error"):
        if job.get(key) is not None:
            print(f"{key:9s} {job[key]}")
    print(
        f"{'created':9s} {_when(job['created_at'])}   started {_when(job['started_at'])}   finished {_when(job['finished_at'])}"
    )
    if job.get("result") is not None:
        print(f"{'result':9s} {job['result']}")
    return 0


def cmd_cancel(args: Any) -> int:
    job = _ctx().services.jobs.cancel(args.id)
    emit_json(job) if args.json else print(
        f"{job['id']}: {job['state']}"
        + (" (cancel requested)" if job["state"] in ("queued", "running") else "")
    )
    return 0


def cmd_resume(args: Any) -> int:
    ctx = LocalContext(progress=not args.json)
    job = ctx.run_job(ctx.services.jobs.resume(args.id))
    emit_json(job) if args.json else print(f"{job['id']}: {job['state']}")
    return 0


def cmd_log(args: Any) -> int:
    lines = _ctx().services.jobs.log(args.id, limit=100_000)
    if args.json:
        emit_json(lines)
    else:
        for line in lines:
            print(f"{_when(line['ts'])} {line['level']:7s} {line['message']}")
    return 0
