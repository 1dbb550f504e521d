"""JSON-RPC methods ``train.*`` (see docs/PROTOCOL.md).

Quick answers come directly: the option fields and presets for the form, the memory plan, the
run list and a run's metrics. Training, evaluation, merging and export are jobs (worker
subprocesses): each method checks its request first and answers a ``UserError`` at once -- bad
options, QLoRA without CUDA, an untrainable model, a dataset the template and length limit leave
empty, a plan that will not fit -- and only then starts the job and returns ``{"job": Job}``.
"""

from __future__ import annotations

from typing import Any

from engine.core.errors import UserError
from engine.core.options import optional_int
from engine.rpc.registry import RequestContext, method


def _store(ctx: RequestContext) -> Any:
    from engine.training.runs import RunStore

    return RunStore(ctx.services)


def _run(ctx: RequestContext, run: Any) -> dict[str, Any]:
    if not isinstance(run, str) or not run:
        raise UserError("run must be a run id (see train.list).")
    return _store(ctx).get(run)


def _opt_text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{name} must be text.")
    return value


@method("train.options")
def options(ctx: RequestContext) -> dict[str, Any]:
    """Every option with its help, range and choices; the presets; which methods can run here."""
    from engine.core.devices import best_device
    from engine.training.config import METHOD_DEFAULTS, METHODS, fields_info, presets_info
    from engine.training.modeling import check_method

    methods = []
    for name in METHODS:
        try:
            check_method(name, "auto")
            methods.append({"name": name, "available": True, "reason": None})
        except UserError as exc:
            methods.append({"name": name, "available": False, "reason": exc.message})
    return {"fields": fields_info(), "presets": presets_info(), "methods": methods,
            "method_defaults": METHOD_DEFAULTS,
            "device": best_device()}  # fmt: skip


@method("train.plan")
def plan(ctx: RequestContext, model_id: str, options: dict | None = None, preset: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The memory estimate for a model and options on this machine (verdict ok/warn/refuse)."""
    from engine.training import planner
    from engine.training.config import TrainOptions
    from engine.training.launch import check_model

    opts = TrainOptions.from_dict(options, preset=preset)
    return planner.plan(ctx.services, check_model(ctx.services, model_id), opts)


@method("train.check")
def check(ctx: RequestContext, model_id: str, dataset: str, options: dict | None = None,
          preset: str | None = None, version: int | None = None, split: str | None = None,
          validation_split: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Everything ``train.start`` checks, without starting: {data, plan}."""
    from engine.training import planner
    from engine.training.config import TrainOptions
    from engine.training.launch import check_data, check_model
    from engine.training.modeling import check_method

    opts = TrainOptions.from_dict(options, preset=preset)
    model = check_model(ctx.services, model_id)
    check_method(opts.method, opts.device)
    data = check_data(ctx.services, model, dataset, opts, version=optional_int(version, "version"),
                      split=_opt_text(split, "split"),
                      validation_split=_opt_text(validation_split, "validation_split"))  # fmt: skip
    return {"data": data, "plan": planner.plan(ctx.services, model, opts)}


@method("train.start")
def start(ctx: RequestContext, model_id: str, dataset: str, options: dict | None = None,
          preset: str | None = None, name: str | None = None, version: int | None = None,
          split: str | None = None, validation_split: str | None = None,
          force: bool = False) -> dict[str, Any]:  # fmt: skip
    """Check the request, create the run, start its ``train.lora`` job: {job, run, plan}."""
    from engine.training import launch

    if not isinstance(force, bool):
        raise UserError("force must be true or false.")
    return launch.start(ctx.services, model_id=model_id, dataset=dataset, options=options,
                        preset=preset, name=_opt_text(name, "name"),
                        version=optional_int(version, "version"), split=_opt_text(split, "split"),
                        validation_split=_opt_text(validation_split, "validation_split"),
                        force=force)  # fmt: skip


@method("train.list")
def list_runs(ctx: RequestContext) -> dict[str, Any]:
    return {"runs": _store(ctx).list()}


@method("train.get")
def get_run(ctx: RequestContext, run: str) -> dict[str, Any]:
    return _run(ctx, run)


@method("train.metrics")
def metrics(ctx: RequestContext, run: str, after_step: int | None = None) -> dict[str, Any]:
    """The run's metric lines after ``after_step`` (default: all of them, step 0 included), its
    sample answers, and its latest evaluation, for the curves and the Evaluation tab."""
    record = _run(ctx, run)
    after = optional_int(after_step, "after_step")
    after = -1 if after is None else after
    store = _store(ctx)
    return {"run_id": record["id"], "state": record["state"], "step": record.get("step"),
            "total_steps": record.get("total_steps"),
            "metrics": store.metrics(record["id"], after_step=after),
            "samples": store.samples(record["id"]),
            "evaluation": _latest_evaluation(record)}  # fmt: skip


def _latest_evaluation(record: dict[str, Any]) -> dict[str, Any] | None:
    """The newest saved ``train.eval`` report of a run (None when it has none or it is unreadable)."""
    import json
    from pathlib import Path

    for path in reversed(record.get("evals") or []):
        try:
            report = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(report, dict):
            return {**report, "path": str(path)}
    return None


@method("train.resume")
def resume(ctx: RequestContext, run: str) -> dict[str, Any]:
    """Continue a cancelled, failed or interrupted run from its last checkpoint."""
    from engine.training import launch

    return launch.resume(ctx.services, _run(ctx, run)["id"])


@method("train.cancel")
def cancel(ctx: RequestContext, run: str) -> dict[str, Any]:
    record = _run(ctx, run)
    if not record.get("job_id"):
        raise UserError(f"Run {record['id']} has no job to cancel.")
    return {"job": ctx.services.jobs.cancel(record["job_id"]), "run": _store(ctx).get(record["id"])}


def _trained(record: dict[str, Any]) -> None:
    artifacts = record.get("artifacts") or {}
    if not (artifacts.get("adapter") or artifacts.get("model")):
        raise UserError(
            f"Run {record['id']} has no trained adapter yet ({record['state']}); finish or "
            "resume it first."
        )


def _no_prompt_tuning(record: dict[str, Any], what: str) -> None:
    if record.get("method") == "prompt":
        from engine.models.prompt_tuning import LLAMA_CPP_CANNOT

        raise UserError(
            f"A prompt-tuned run's virtual tokens cannot be {what}: they are vectors in front of "
            f"the input, not weights ({LLAMA_CPP_CANNOT}). Chat with the run's prompt-tuned "
            "model, or train with the method lora to get a GGUF."
        )


@method("train.eval")
def evaluate(ctx: RequestContext, run: str, prompts: list | None = None, max_new_tokens: int = 64) -> dict[str, Any]:  # fmt: skip
    """Perplexity before/after and base vs tuned answers to ``prompts`` (a job)."""
    record = _run(ctx, run)
    _trained(record)
    if prompts is not None and (
        not isinstance(prompts, list) or not all(isinstance(p, str) and p.strip() for p in prompts)
    ):
        raise UserError("prompts must be a list of non-empty texts.")
    n = optional_int(max_new_tokens, "max_new_tokens")
    if not n or not 1 <= n <= 4096:
        raise UserError("max_new_tokens must be from 1 to 4096.")
    job = ctx.services.jobs.start("train.eval", {"run_id": record["id"], "name": record["name"],
                                                 "prompts": prompts, "max_new_tokens": n})  # fmt: skip
    return {"job": job}


@method("train.merge")
def merge(ctx: RequestContext, run: str) -> dict[str, Any]:
    """Merge the adapter into the base model (safetensors folder, added to the library): a job."""
    record = _run(ctx, run)
    _trained(record)
    if record.get("method") == "full":
        raise UserError(
            "A fully fine-tuned run is already a whole model; export it or chat with it."
        )
    _no_prompt_tuning(record, "merged into the model")
    return {"job": ctx.services.jobs.start("train.merge", {"run_id": record["id"], "name": record["name"]})}  # fmt: skip


@method("train.export")
def export(ctx: RequestContext, run: str, what: str = "merged", quant: str = "q8_0") -> dict[str, Any]:  # fmt: skip
    """GGUF export: ``what`` adapter (a llama.cpp LoRA) or merged (``quant`` f16, q8_0, f32)."""
    from engine.training.export_gguf import QUANTS, WHAT, arch_for

    record = _run(ctx, run)
    _trained(record)
    if what not in WHAT:
        raise UserError(f"what must be adapter or merged, not {what!r}.")
    if quant not in QUANTS:
        raise UserError(f"quant must be one of {', '.join(QUANTS)}, not {quant!r}.")
    _no_prompt_tuning(record, "exported to GGUF")
    if what == "adapter" and record.get("method") == "dora":
        raise UserError("llama.cpp cannot load DoRA adapters; export the merged model instead.")
    if what == "adapter" and record.get("method") == "full":
        raise UserError("A fully fine-tuned run has no adapter; export it merged.")
    model = ctx.services.library.get(record["model_id"])
    if model["format"] == "hf":
        import json
        from pathlib import Path

        arch_for(json.loads((Path(model["path"]) / "config.json").read_text(encoding="utf-8")))
    params = {"run_id": record["id"], "name": record["name"], "what": what, "quant": quant}
    return {"job": ctx.services.jobs.start("train.export", params)}


@method("train.handoff")
def handoff(ctx: RequestContext, run: str, out: str) -> dict[str, Any]:
    """Write the run's self-contained folder for a GPU cluster (TRL + accelerate): a job."""
    from pathlib import Path

    from engine.training.config import TrainOptions
    from engine.training.handoff import check

    record = _run(ctx, run)
    check(record, TrainOptions.from_dict(record["options"]))
    target = Path(_opt_text(out, "out") or "").expanduser()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UserError(f"{target} is not an empty folder; give a new folder for the hand-off.")
    params = {"run_id": record["id"], "name": record["name"], "out": str(target.absolute())}
    return {"job": ctx.services.jobs.start("train.handoff", params)}


@method("train.import_result")
def import_result(ctx: RequestContext, run: str, folder: str) -> dict[str, Any]:
    """Bring a cluster's adapter back: a new run, its GGUF adapter in the library (a job)."""
    from pathlib import Path

    from engine.training.handoff import find_adapter

    record = _run(ctx, run)
    where = Path(_opt_text(folder, "folder") or "").expanduser()
    if not where.is_dir():
        raise UserError(f"{where} is not a folder; give the hand-off folder copied back from the cluster.")  # fmt: skip
    find_adapter(where.absolute())
    params = {"run_id": record["id"], "name": record["name"], "folder": str(where.absolute())}
    return {"job": ctx.services.jobs.start("train.import_result", params)}


@method("train.delete")
def delete(ctx: RequestContext, run: str) -> dict[str, Any]:
    """Delete a run's folder (checkpoints, adapter, exports) and the library entries made from it."""
    record = _run(ctx, run)
    result = _store(ctx).delete(record["id"])
    ctx.notify("models.changed", {})
    ctx.notify("train.changed", {})
    return result
