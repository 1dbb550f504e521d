"""Job kinds of evaluation; model work runs in a worker subprocess.

eval.perplexity   perplexity of library models on one text
eval.run          answers of models to a dataset split's prompts, scored (resumable)
eval.choice       multiple choice by log-likelihood (resumable)
eval.arena        answers of two to four models for blind votes (resumable)
eval.harness      lm-evaluation-harness tasks, offline, when the harness is installed
"""

from __future__ import annotations

from typing import Any

from engine.jobs.registry import JobContext, job_kind


@job_kind("eval.perplexity", title=lambda p: f"Perplexity of {len(p.get('models') or [])} model(s)",
          subprocess=True, resumable=True, changes=("eval.changed",))  # fmt: skip
def perplexity(ctx: JobContext) -> dict[str, Any]:
    """Perplexity of library models on one text (params: models, file|dataset[+split]|collection,
    max_tokens, seq_len, stride?)."""
    from engine.evaluation.perplexity import run

    return run(ctx.services, ctx.params, ctx)


@job_kind("eval.run", title=lambda p: f"Evaluate {len(p.get('models') or [])} model(s) on {p.get('dataset_name')}",
          subprocess=True, resumable=True, changes=("eval.changed",))  # fmt: skip
def task_run(ctx: JobContext) -> dict[str, Any]:
    """Every model answers the split's prompts (batched, greedy), then the metrics
    (params: run_id, models, dataset_name)."""
    from engine.evaluation.tasks import run

    return run(ctx.services, ctx.params, ctx)


@job_kind("eval.choice", title=lambda p: f"Multiple choice: {len(p.get('models') or [])} model(s) on {p.get('dataset_name')}",
          subprocess=True, resumable=True, changes=("eval.changed",))  # fmt: skip
def choice_run(ctx: JobContext) -> dict[str, Any]:
    """Each choice's log-likelihood after the question; accuracy and length-normalised accuracy
    (params: run_id, models, dataset_name)."""
    from engine.evaluation.choice import run

    return run(ctx.services, ctx.params, ctx)


@job_kind("eval.arena", title=lambda p: f"Arena: {len(p.get('models') or [])} models answer {p.get('dataset_name')}",
          subprocess=True, resumable=True, changes=("eval.changed",))  # fmt: skip
def arena_run(ctx: JobContext) -> dict[str, Any]:
    """Every model of an arena answers every prompt, for blind votes (params: run_id, models)."""
    from engine.evaluation.arena import run

    return run(ctx.services, ctx.params, ctx)


@job_kind("eval.harness", title=lambda p: f"lm-evaluation-harness: {len(p.get('models') or [])} model(s) on {p.get('dataset_name')}",
          subprocess=True, resumable=True, changes=("eval.changed",))  # fmt: skip
def harness_run(ctx: JobContext) -> dict[str, Any]:
    """lm-evaluation-harness tasks whose data is on this machine, offline (params: run_id)."""
    from engine.evaluation.harness import run

    return run(ctx.services, ctx.params, ctx)
