"""Checking a training request and creating its run, before any job starts.

Everything that can be known without loading the weights is checked here, in the engine, so a
request that is bound to fail is answered at once with what to change: unknown or out-of-range
options, a model that cannot be trained, QLoRA without CUDA, a dataset that is missing or left
empty by the chat template and the length limit (counted with the model's tokenizer), and a
configuration the memory planner says will not fit. Then the run folder is created and the
``train.lora`` job started with just ``{"run_id"}``: the run record holds the rest, so a resumed
job trains exactly what was asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.training.config import TrainOptions

if TYPE_CHECKING:
    from engine.services import Services

PREFLIGHT_ROWS = 5000


def check_model(services: Services, model_id: Any) -> dict[str, Any]:
    if not isinstance(model_id, str) or not model_id:
        raise UserError("Choose the model to train (a model id from the library).")
    model = services.library.get(model_id)
    from engine.training.modeling import check_trainable

    check_trainable(model)
    return model


def check_data(services: Services, model: dict[str, Any], dataset: Any, opts: TrainOptions, *,
               version: int | None = None, split: str | None = None,
               validation_split: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Template + tokenize (a sample of) the rows; refuse when none would be left."""
    from engine.training import data

    if not isinstance(dataset, str) or not dataset:
        raise UserError("Choose the dataset to train on (a dataset name or id).")
    rows = data.load_rows(services, dataset, version=version, split=split,
                          validation_split=validation_split,
                          validation_fraction=opts.validation_fraction, seed=opts.seed,
                          pairs=opts.on_pairs)  # fmt: skip
    if not rows.train:
        raise UserError(f"{rows.name} has no training rows; add rows or choose another split.")
    from engine.datasets.tokens import load_tokenizer

    tok = load_tokenizer(services, model["id"])
    template = data.choose_template(services, model, option=opts.template, own=tok.own_template)
    encoder = data.Encoder(
        data.counting_encoder(tok.count),
        None if rows.format == "text" else template,
        bos_id=0 if tok.bos_token else None,
        eos_id=0 if tok.eos_token else None,
        bos_token=tok.bos_token,
        eos_token=tok.eos_token,
        train_on_prompt=opts.prompt_labels,
        model_name=model["name"],
    )
    sample = rows.train[:PREFLIGHT_ROWS]
    if opts.on_pairs:
        from engine.training.preference import encode_pairs

        _examples, report = encode_pairs(encoder, sample, opts.seq_len)
    else:
        _examples, report = encoder.examples(sample, opts.seq_len)
    complete = len(sample) == len(rows.train)
    if report.kept == 0 and complete:
        raise UserError(report.refusal(opts.seq_len))
    return {
        "name": rows.name,
        "format": rows.format,
        "train_rows": len(rows.train),
        "validation_rows": len(rows.validation),
        "checked_rows": len(sample),
        "report": report.to_dict(),
        "template": template.name,
        "source": rows.source,
    }


def create_run(
    services: Services,
    *,
    model_id: Any,
    dataset: Any,
    options: dict[str, Any] | None = None,
    preset: str | None = None,
    name: str | None = None,
    version: int | None = None,
    split: str | None = None,
    validation_split: str | None = None,
    force: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check everything, create the run record; returns (run, plan)."""
    from engine.training import modeling, planner
    from engine.training.runs import RunStore

    opts = TrainOptions.from_dict(options, preset=preset)
    model = check_model(services, model_id)
    modeling.check_method(opts.method, opts.device)
    if opts.teacher:
        from engine.training.distill import check_teacher

        check_teacher(services, model, opts.teacher)
    checked = check_data(services, model, dataset, opts, version=version, split=split,
                         validation_split=validation_split)  # fmt: skip
    plan = planner.plan(services, model, opts)
    if plan["verdict"] == "refuse" and not force:
        raise UserError(plan["message"], data={"plan": plan})
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise UserError("The run name must be text.")
    run_name = (name or f"{model['name']} on {checked['name']}").strip()
    store = RunStore(services)
    run = store.create(
        {
            "name": run_name,
            "model_id": model["id"],
            "model_name": model["name"],
            "model_format": model["format"],
            "method": opts.method,
            "objective": opts.objective,
            "preset": preset,
            "options": opts.to_dict(),
            "dataset": {"ref": checked["source"].get("dataset_id") or checked["source"].get("path"),
                        "name": checked["name"], "version": checked["source"].get("version"),
                        "split": checked["source"].get("split"),
                        "validation_split": checked["source"].get("validation_split")},
            "preflight": {k: checked[k] for k in ("train_rows", "validation_rows", "checked_rows", "report", "template")},
            "plan": plan,
        }
    )  # fmt: skip
    return run, plan


def start(services: Services, **request: Any) -> dict[str, Any]:
    """Create the run and start its ``train.lora`` job: ``{"job", "run", "plan"}``."""
    run, plan = create_run(services, **request)
    job = services.jobs.start("train.lora", {"run_id": run["id"], "name": run["name"]})
    run = _attach_job(services, run["id"], job["id"])
    return {"job": job, "run": run, "plan": plan}


def _attach_job(services: Services, run_id: str, job_id: str) -> dict[str, Any]:
    from engine.training.runs import RunStore

    store = RunStore(services)

    def change(run: dict[str, Any]) -> None:
        run["job_id"] = job_id
        run.setdefault("jobs", []).append(job_id)

    return store.update(run_id, change)


def resume(services: Services, run_id: str) -> dict[str, Any]:
    """Resume a cancelled, failed or interrupted run from its last checkpoint."""
    from engine.training.runs import RunStore

    store = RunStore(services)
    run = store.get(run_id)
    if run["state"] == "succeeded":
        raise UserError(f"Run {run_id} has finished; start a new run to train further.")
    if run["state"] in ("queued", "running"):
        raise UserError(f"Run {run_id} is already {run['state']}.")
    job_id = run.get("job_id")
    if job_id:
        job = services.jobs.get(job_id)
        if job["state"] in ("failed", "cancelled", "interrupted"):
            job = services.jobs.resume(job_id)
            return {"job": job, "run": store.get(run_id)}
    job = services.jobs.start("train.lora", {"run_id": run_id, "name": run["name"]})
    return {"job": job, "run": _attach_job(services, run_id, job["id"])}
