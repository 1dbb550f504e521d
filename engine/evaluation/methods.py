"""JSON-RPC methods ``eval.*`` (see docs/PROTOCOL.md): each checks the request at once (a
``UserError`` names what is wrong) and starts a job; stored runs are read without a model."""

from __future__ import annotations

from typing import Any

from engine.rpc.registry import RequestContext, method


def _start(ctx: RequestContext, params: dict[str, Any], kind: str, job_kind: str, job_params: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Record a checked request as a run and start its job: {run_id, job}."""
    from engine.evaluation import records

    record = records.create(ctx.services, params, kind=kind)
    extra = job_params if job_params is not None else {"models": params["models"], "dataset_name": params["dataset_name"]}  # fmt: skip
    job = ctx.services.jobs.start(job_kind, {"run_id": record["run_id"], **extra})
    ctx.notify("eval.changed", {})
    return {"run_id": record["run_id"], "job": job}


@method("eval.perplexity")
def perplexity(ctx: RequestContext, models: list, file: str | None = None,
               dataset: str | None = None, split: str | None = None,
               collection: str | None = None, max_tokens: int = 4096, seq_len: int = 256,
               stride: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Start a job measuring the perplexity of library models on one text: {job}."""
    from engine.evaluation.perplexity import check

    params = check(ctx.services, models, file=file, dataset=dataset, split=split,
                   collection=collection, max_tokens=max_tokens, seq_len=seq_len, stride=stride)  # fmt: skip
    return _start(ctx, params, "perplexity", "eval.perplexity", params)


@method("eval.run")
def task_run(ctx: RequestContext, models: list, dataset: str, split: str | None = None,
             metrics: list | None = None, limit: int | None = None, max_tokens: int = 128,
             batch: int | None = None, judge: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Start answering and scoring: {run_id, job}."""
    from engine.evaluation import tasks

    params = tasks.check(ctx.services, models=models, dataset=dataset, split=split,
                         metrics_=metrics, limit=limit, max_tokens=max_tokens, batch=batch,
                         judge=judge)  # fmt: skip
    return _start(ctx, params, "tasks", "eval.run")


@method("eval.choice")
def choice_run(ctx: RequestContext, models: list, dataset: str, split: str | None = None,
               limit: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Start a multiple-choice evaluation: {run_id, job}."""
    from engine.evaluation import choice

    params = choice.check(ctx.services, models=models, dataset=dataset, split=split, limit=limit)
    return _start(ctx, params, "choice", "eval.choice")


@method("eval.harness")
def harness_run(ctx: RequestContext, models: list, tasks: list, limit: int | None = None,
                num_fewshot: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Start lm-evaluation-harness tasks (installed harness, data already cached): {run_id, job}."""
    from engine.evaluation import harness

    params = harness.check(
        ctx.services, models=models, tasks=tasks, limit=limit, num_fewshot=num_fewshot
    )
    return _start(ctx, params, "harness", "eval.harness")


@method("eval.list")
def list_runs(ctx: RequestContext) -> dict[str, Any]:
    from engine.evaluation.records import list_runs as stored

    return {"runs": stored(ctx.services)}


@method("eval.show")
def show(ctx: RequestContext, run_id: str) -> dict[str, Any]:
    """A run's results and, for task runs, every row with each model's answer and scores."""
    from engine.evaluation import records, tasks

    record = records.load_run(ctx.services, run_id)
    if record.get("kind") == "arena":
        from engine.evaluation.arena import results

        board = results(ctx.services, run_id)
        return {"run_id": run_id, "kind": "arena", "state": record["state"], "dataset": record["dataset_name"],
                "split": record.get("split"), "metrics": record["metrics"], "votes": board["votes"],
                "results": [{"model_id": r["model_id"], "name": r["name"], "arena": r,
                             "metrics": {k: {"value": r[k] or 0.0, "ci_low": r[k] or 0.0, "ci_high": r[k] or 0.0}
                                         for k in ("win_rate", "elo", "bradley_terry")}} for r in board["models"]],
                "rows": []}  # fmt: skip
    if record.get("kind") in ("choice", "perplexity", "harness"):
        return {"run_id": run_id, "kind": record["kind"], "state": record["state"],
                "dataset": record["dataset_name"], "split": record.get("split"),
                "metrics": record["metrics"], "results": record.get("results") or [],
                "note": record.get("note"), "rows": []}  # fmt: skip
    return {**tasks.show(ctx.services, run_id), "kind": "tasks"}


@method("eval.delete")
def delete(ctx: RequestContext, run_id: str) -> dict[str, Any]:
    from engine.evaluation.records import delete_run

    delete_run(ctx.services, run_id)
    ctx.notify("eval.changed", {})
    return {"deleted": run_id}


@method("eval.arena.start")
def arena_start(ctx: RequestContext, models: list, dataset: str | None = None, split: str | None = None,
                limit: int | None = None, prompts: list | None = None, max_tokens: int = 256) -> dict[str, Any]:  # fmt: skip
    """Start an arena: the models answer the prompts (a job), then votes: {run_id, job}."""
    from engine.evaluation import arena

    params = arena.check(ctx.services, models=models, dataset=dataset, split=split, limit=limit,
                         prompts=prompts, max_tokens=max_tokens)  # fmt: skip
    return _start(ctx, params, "arena", "eval.arena")


@method("eval.arena.next")
def arena_next(ctx: RequestContext, run_id: str, index: int | None = None) -> dict[str, Any]:
    """The first prompt without a vote (or prompt ``index``) with its answers, blind."""
    from engine.core.options import optional_int
    from engine.evaluation.arena import next_prompt

    return next_prompt(ctx.services, run_id, optional_int(index, "index"))


@method("eval.arena.vote")
def arena_vote(ctx: RequestContext, run_id: str, index: int, choice: str) -> dict[str, Any]:
    from engine.evaluation.arena import vote

    return vote(ctx.services, run_id, index, choice)


@method("eval.arena.results")
def arena_results(ctx: RequestContext, run_id: str) -> dict[str, Any]:
    from engine.evaluation.arena import results

    return results(ctx.services, run_id)


@method("eval.arena.export")
def arena_export(ctx: RequestContext, run_id: str, name: str | None = None) -> dict[str, Any]:
    """The votes as a preference dataset in the Datasets library: {dataset, name, rows}."""
    from engine.evaluation.arena import export

    made = export(ctx.services, run_id, name)
    ctx.notify("data.changed", {})
    return made
