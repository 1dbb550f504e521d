"""JSON-RPC methods ``prune.*`` and ``models.export_gguf`` (see docs/PROTOCOL.md).

``prune.describe`` answers at once (methods, selectors, help, defaults, for the wizard). The
preview, the pruning itself, a recovery, an evaluation and a GGUF export are jobs in a worker
subprocess: each method checks the request first and answers a ``UserError`` straight away (an
unknown option, an amount that removes everything, an adapter or an unconverted GGUF), and only
then starts the job and returns ``{"job": Job, ...}``.
"""

from __future__ import annotations

from typing import Any

from engine.rpc.registry import RequestContext, method


def _store(ctx: RequestContext) -> Any:
    from engine.pruning.runs import PruneRunStore

    return PruneRunStore(ctx.services)


def _request(ctx: RequestContext, request: Any) -> Any:
    from engine.pruning.pipeline import check_model
    from engine.pruning.request import Request

    req = Request.from_dict(request)
    model = check_model(ctx.services, req.model_id)
    return req, model


@method("prune.describe")
def describe(ctx: RequestContext) -> dict[str, Any]:
    """Methods with their two-sentence explanation, selectors with help, defaults."""
    from engine.pruning.request import describe as info

    return info()


@method("prune.plan")
def plan(ctx: RequestContext, request: dict) -> dict[str, Any]:
    """Start the preview job: per-layer scores, what would go, parameters and size after."""
    req, model = _request(ctx, request)
    job = ctx.services.jobs.start("prune.plan", {"request": req.to_dict(), "model_name": model["name"]})  # fmt: skip
    return {"job": job}


@method("prune.start")
def start(ctx: RequestContext, request: dict) -> dict[str, Any]:
    """Create a pruning run and start its ``prune.run`` job: {job, run}."""
    req, model = _request(ctx, request)
    store = _store(ctx)
    name = req.name or f"{model['name']} {req.method}"
    run = store.create({"name": name, "request": req.to_dict(), "model_id": model["id"],
                        "model_name": model["name"]})  # fmt: skip
    job = ctx.services.jobs.start("prune.run", {"run_id": run["id"], "name": name})
    run = store.update(run["id"], job_id=job["id"])
    return {"job": job, "run": run}


@method("prune.list")
def list_runs(ctx: RequestContext, model_id: str | None = None) -> dict[str, Any]:
    """Pruning runs, newest first; with ``model_id``, only that parent's."""
    store = _store(ctx)
    runs = store.family(model_id) if model_id else store.list()
    return {"runs": runs}


@method("prune.get")
def get_run(ctx: RequestContext, run: str) -> dict[str, Any]:
    return _store(ctx).get(run)


@method("prune.delete")
def delete_run(ctx: RequestContext, run: str) -> dict[str, Any]:
    """Remove a pruning run, its files and the library entries made from it."""
    return _store(ctx).delete(run)


@method("prune.recover")
def recover(ctx: RequestContext, run: str, dataset: str | None = None, file: str | None = None,
            max_steps: int | None = None, method: str = "full",
            options: dict | None = None) -> dict[str, Any]:  # fmt: skip
    """Distil the parent (teacher) into the pruned model (student) as a training run:
    {job, run (the training run), pruning_run}."""
    from engine.pruning import recover as rec

    return rec.start(ctx.services, run, dataset=dataset, file=file, max_steps=max_steps,
                     method=method, options=options)  # fmt: skip


@method("models.export_gguf")
def export_gguf(ctx: RequestContext, model_id: str, quant: str = "q8_0") -> dict[str, Any]:
    """Start a GGUF export of a Hugging Face model in the library (pruned ones included): {job}."""
    from engine.pruning.export import check

    model = check(ctx.services, model_id, quant)
    job = ctx.services.jobs.start("models.export_gguf", {"model_id": model["id"], "quant": quant,
                                                         "name": model["name"]})  # fmt: skip
    return {"job": job}
