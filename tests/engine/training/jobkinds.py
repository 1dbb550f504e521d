"""Job kinds for the fine-tuning tests (loaded through HEARTH_EXTRA_JOB_MODULES in the worker).

They run the real trainer in a real worker subprocess and make the failure happen there: the
worker SIGKILLs itself after a given step (as the OOM killer or a user's kill -9 would), or the
forward pass raises the error torch's CPU allocator raises when memory runs out.
"""

from __future__ import annotations

import os
import signal

from engine.jobs.registry import job_kind


class _KillAfter:
    def __init__(self, ctx, step: int) -> None:
        self._ctx = ctx
        self._step = step

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def metrics(self, step, values):
        self._ctx.metrics(step, values)
        if step >= self._step and "loss" in values:
            os.kill(os.getpid(), signal.SIGKILL)


@job_kind("test.train_killed", title="Training killed mid-run", subprocess=True, resumable=True)
def train_killed(ctx):
    """Train run ``run_id``; on the first attempt the worker is SIGKILLed after step ``kill_at``."""
    from engine.training.trainer import LoraTrainer

    run_ctx = _KillAfter(ctx, int(ctx.params["kill_at"])) if ctx.attempt == 1 else ctx
    return LoraTrainer(ctx.services, ctx.params["run_id"], run_ctx).train()


@job_kind("test.train_oom", title="Training that runs out of memory", subprocess=True)
def train_oom(ctx):
    """Train run ``run_id`` with a forward pass that fails like torch's CPU allocator at step 3."""
    from engine.training import loss
    from engine.training.trainer import LoraTrainer

    real = loss.fused_loss
    calls = {"n": 0}

    def failing(model, batch):
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError(
                "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
                "you tried to allocate 68719476736 bytes."
            )
        return real(model, batch)

    loss.fused_loss = failing
    loss.model_loss = failing
    return LoraTrainer(ctx.services, ctx.params["run_id"], ctx).train()
