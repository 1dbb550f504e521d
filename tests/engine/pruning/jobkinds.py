"""Job kinds for the pruning tests (loaded through HEARTH_EXTRA_JOB_MODULES in the worker): the
real pruning in a real worker, killed (SIGKILL, as the OOM killer would) once it starts saving."""

from __future__ import annotations

import os
import signal

from engine.jobs.registry import job_kind


class _KillWhenSaving:
    def __init__(self, ctx) -> None:
        self._ctx = ctx

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def check_cancelled(self, partial=None):
        self._ctx.check_cancelled(partial)
        if getattr(self, "_saving", False):
            os.kill(os.getpid(), signal.SIGKILL)

    def progress(self, fraction, message=None):
        self._ctx.progress(fraction, message)
        if message and message.startswith("Saving"):
            self._saving = True


@job_kind("test.prune_killed", title="Pruning killed while saving", subprocess=True)
def prune_killed(ctx):
    from engine.pruning.pipeline import run

    return run(ctx.services, ctx.params["run_id"], _KillWhenSaving(ctx))
