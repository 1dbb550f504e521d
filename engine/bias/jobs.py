"""Job kinds of the bias lab; torch work runs in a worker subprocess.

bias.capture   run a pair set through a model once and store every layer's differences
"""

from __future__ import annotations

from typing import Any

from engine.jobs.registry import JobContext, job_kind


@job_kind("bias.capture", title=lambda p: f"Bias capture: {p.get('set')} on {p.get('model_name') or p.get('model_id')}",
          subprocess=True, changes=("bias.changed",))  # fmt: skip
def capture(ctx: JobContext) -> dict[str, Any]:
    """Every prompt of a pair set through the model; per layer and component the differences
    (params: model_id, set, pairs?, recompute?)."""
    from engine.bias.run import run

    return run(ctx.services, ctx.params, ctx)


@job_kind("bias.prune", title=lambda p: f"Bias-targeted pruning of {p.get('model_name') or p.get('model_id')}",
          subprocess=True, changes=("models.changed", "bias.changed"))  # fmt: skip
def prune(ctx: JobContext) -> dict[str, Any]:
    """Remove the neurons that carry the most bias on the selection pairs and the least weight;
    measure on the held-out pairs against a random control (params: model_id, set, neurons,
    weight?, pairs?, seed?, name?)."""
    from engine.bias.prune import run

    return run(ctx.services, ctx.params, ctx)


@job_kind("bias.outputs", title=lambda p: f"Bias outputs: {p.get('set')} on {p.get('model_name') or p.get('model_id')}",
          subprocess=True)  # fmt: skip
def outputs(ctx: JobContext) -> dict[str, Any]:
    """Greedy continuations of both prompts of every pair, and the log-probability of the given
    continuations after each (params: model_id, set, pairs?, continuations?, max_tokens?)."""
    from engine.bias.outputs import run

    return run(ctx.services, ctx.params, ctx)
