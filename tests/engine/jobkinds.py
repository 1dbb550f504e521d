"""Job kinds used only by the tests (loaded through HEARTH_EXTRA_JOB_MODULES)."""

from __future__ import annotations

import os
import signal
import time

from engine.core.errors import UserError
from engine.jobs.registry import job_kind


@job_kind("test.count", title=lambda p: f"Count to {p.get('n', 10)}", resumable=True)
def count(ctx):
    """Counts with a pause per step; reports progress and metrics; cancellable."""
    n = int(ctx.params.get("n", 10))
    for i in range(n):
        ctx.check_cancelled({"reached": i})
        time.sleep(float(ctx.params.get("delay", 0.05)))
        ctx.progress((i + 1) / n, f"step {i + 1}/{n}")
        ctx.metrics(i, {"value": float(i)})
    if ctx.params.get("fail"):
        raise UserError("Planned failure: fix the input and resume.")
    return {"counted": n, "attempt": ctx.attempt}


@job_kind("test.heavy", title="Heavy test job", subprocess=True, resumable=True)
def heavy(ctx):
    """Runs in a worker subprocess; can print natively, crash, or be killed on request."""
    os.write(1, b"noise on fd 1 that must not break the channel\n")
    n = int(ctx.params.get("n", 5))
    for i in range(n):
        ctx.check_cancelled({"reached": i})
        if ctx.params.get("crash_at") == i:
            os.kill(os.getpid(), signal.SIGSEGV)
        if ctx.params.get("oom_at") == i:
            os.kill(os.getpid(), signal.SIGKILL)
        ctx.progress((i + 1) / n, f"heavy {i + 1}/{n}")
        ctx.metrics(i, {"loss": 1.0 / (i + 1)})
        ctx.log(f"did step {i}")
        time.sleep(float(ctx.params.get("delay", 0.05)))
    if ctx.params.get("user_error"):
        raise UserError("The worker refused the input: fix it and try again.")
    return {"pid": os.getpid(), "steps": n}


@job_kind("test.stubborn", title="Ignores cancel", subprocess=True)
def stubborn(ctx):
    """Never checks for cancellation: the engine must kill it after the grace period."""
    time.sleep(float(ctx.params.get("seconds", 60)))
    return {}


@job_kind("test.native_print", title="Prints on fd 1 from inside the engine")
def native_print(ctx):
    """Writes to fd 1 and sys.stdout the way a C library or a stray print() would."""
    os.write(1, b"raw bytes on fd 1 {not json\n")
    print("a stray print() in the engine")
    return {"printed": True}


@job_kind("test.changes", title="Announces a change", subprocess=True, changes=("models.changed",))
def announces(ctx):
    """A worker job whose kind says the library changed when it ends."""
    return {}


def _write_to_a_full_disk(ctx):
    """Raise what a write raises on a full disk, naming a file in the data folder."""
    import errno

    raise OSError(errno.ENOSPC, "No space left on device", str(ctx.services.root / "x.bin"))


job_kind("test.disk_full", title="Writes to a full disk")(_write_to_a_full_disk)
job_kind("test.disk_full_worker", title="Writes to a full disk", subprocess=True)(
    _write_to_a_full_disk
)


@job_kind("test.noisy", title="A job whose libraries chatter", subprocess=True)
def noisy(ctx):
    """A library warning and a tqdm bar, then the job's own line."""
    import warnings

    from tqdm import tqdm

    warnings.warn("a library's deprecation notice", FutureWarning, stacklevel=1)
    for _ in tqdm(range(3), desc="Loading weights"):
        pass
    ctx.log("the job's own line")
    return {"ok": True}
