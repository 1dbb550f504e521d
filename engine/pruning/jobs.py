"""Job kinds of pruning, evaluation and model export; all run in a worker subprocess (torch).

prune.plan   score a model on calibration text and say what a pruning would remove (request)
prune.run    prune, measure against the parent, save and register (params: run_id)
models.export_gguf   GGUF export of a Hugging Face model in the library
"""

from __future__ import annotations

from typing import Any

from engine.jobs.registry import JobContext, job_kind


@job_kind("prune.plan", title=lambda p: f"Preview pruning of {p.get('model_name') or p.get('request', {}).get('model_id', '')}",
          subprocess=True)  # fmt: skip
def plan(ctx: JobContext) -> dict[str, Any]:
    """Per-layer scores and what would be removed, with parameters and size after (request)."""
    from engine.pruning.pipeline import preview
    from engine.pruning.request import Request

    return preview(ctx.services, Request.from_dict(ctx.params["request"]), ctx)


@job_kind("prune.run", title=lambda p: f"Prune {p.get('name') or p.get('run_id', '')}",
          subprocess=True, changes=("models.changed", "prune.changed"))  # fmt: skip
def run(ctx: JobContext) -> dict[str, Any]:
    """Prune the run ``run_id``: cut, measure before/after, save, add to the library."""
    from engine.pruning.pipeline import run as run_pruning
    from engine.pruning.runs import PruneRunStore

    services = ctx.services
    try:
        return run_pruning(services, ctx.params["run_id"], ctx)
    except BaseException as exc:
        from engine.core.errors import Cancelled

        state = "cancelled" if isinstance(exc, Cancelled) else "failed"
        try:
            PruneRunStore(services).update(ctx.params["run_id"], state=state, error=str(exc) or type(exc).__name__)  # fmt: skip
        except Exception:  # the record itself is gone or unwritable: the job carries the error
            pass
        raise


@job_kind("models.export_gguf", title=lambda p: f"Export {p.get('name') or p.get('model_id')} as GGUF ({p.get('quant')})",
          subprocess=True, changes=("models.changed", "prune.changed"))  # fmt: skip
def export_gguf(ctx: JobContext) -> dict[str, Any]:
    """GGUF export of a Hugging Face model in the library (params: model_id, quant)."""
    from engine.pruning.export import run as run_export

    return run_export(ctx.services, ctx.params, ctx)
