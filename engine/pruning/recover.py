"""Recovery of a pruned model by distillation from its parent, as a training run.

``start`` turns a pruning run into a training run of the pruned model (the student) with the
parent as ``teacher`` (``engine.training.distill``): full fine-tuning by default, or a LoRA adapter
for "LoRA healing". Everything a training run has comes with it: the worker job, checkpoints,
resume after a cancel or a crash, the live curves of the Training panel. The text is a dataset, a
file, or by default the text the pruning calibrated on. When the run finishes, ``finish`` (called
by the trainer) adds the recovered model to the library with its lineage and notes it on the
pruning run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services

DEFAULT_STEPS = 100
CHUNK_CHARS = 1200


def _text_rows(text: str) -> list[dict[str, str]]:
    """Plain text as rows of about ``CHUNK_CHARS`` characters, cut at paragraph ends where there
    are any, else at the last space before the limit."""
    pieces: list[str] = []
    for para in text.split("\n\n"):
        while len(para) > CHUNK_CHARS:
            cut = para.rfind(" ", 0, CHUNK_CHARS)
            cut = cut if cut > CHUNK_CHARS // 2 else CHUNK_CHARS
            pieces.append(para[:cut])
            para = para[cut:].lstrip()
        pieces.append(para)
    rows, current = [], ""
    for piece in pieces:
        if current and len(current) + len(piece) > CHUNK_CHARS:
            rows.append({"text": current.strip()})
            current = ""
        current += piece + "\n\n"
    if current.strip():
        rows.append({"text": current.strip()})
    return rows


def _data(services: Services, folder: Path, run: dict[str, Any], dataset: str | None, file: str | None) -> str:  # fmt: skip
    from engine.pruning import calibrate

    if dataset:
        return dataset
    if file and Path(file).suffix.lower() == ".jsonl":
        return str(Path(file).expanduser().absolute())
    req = run["request"]
    if file:
        text = calibrate.read_file(file)
    elif req.get("dataset"):
        return req["dataset"]
    elif req.get("file"):
        text = calibrate.read_file(req["file"])
    else:
        text = calibrate.default_text()
    rows = _text_rows(text)
    if len(rows) < 2:
        raise UserError("The text to distil on is too short; give a longer file or a dataset.")
    path = folder / f"recover-{int(time.time())}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def start(services: Services, prune_run: Any, **kw: Any) -> dict[str, Any]:
    """Create the distillation run and start its ``train.lora`` job: {job, run, pruning_run, plan}."""
    from engine.training.runs import RunStore

    made = create(services, prune_run, **kw)
    train_run = made["run"]
    job = services.jobs.start("train.lora", {"run_id": train_run["id"], "name": train_run["name"]})
    made["run"] = RunStore(services).update(train_run["id"], job_id=job["id"], jobs=[job["id"]])
    return {"job": job, **made}


def create(services: Services, prune_run: Any, *, dataset: str | None = None, file: str | None = None,
           max_steps: int | None = None, method: str = "full",
           options: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Check the request and create the training run (student, teacher, text), without a job."""
    from engine.pruning.runs import PruneRunStore
    from engine.training import launch
    from engine.training.runs import RunStore

    if not isinstance(prune_run, str) or not prune_run:
        raise UserError("Name the pruning run to recover (hearth-engine prune list).")
    store = PruneRunStore(services)
    run = store.get(prune_run)
    student = (run.get("models") or {}).get("model")
    if run.get("state") != "succeeded" or not student:
        raise UserError(
            f"Pruning run {prune_run} has no pruned model yet; run it to the end first."
        )
    if method not in ("full", "lora"):
        raise UserError("Recovery trains every weight (full) or a LoRA adapter (lora).")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):  # fmt: skip
        raise UserError("max_steps must be a whole number of at least 1.")
    if dataset and file:
        raise UserError("Give a dataset or a file to distil on, not both.")
    if file and not Path(file).expanduser().is_file():
        raise UserError(f"{file} is not a file.")
    teacher = run["request"]["model_id"]
    services.library.get(teacher)  # the parent must still be in the library
    steps = max_steps or DEFAULT_STEPS
    opts = {"method": method, "teacher": teacher, "max_steps": steps,
            "learning_rate": 5e-5 if method == "full" else 2e-4, "batch_size": 4,
            "seq_len": int(run["request"].get("seq_len") or 256), "kd_weight": 0.5,
            "kd_temperature": 2.0, "eval_every": max(10, steps // 4), "save_every": 25,
            "validation_fraction": 0.05, "eval_rows": 40, **(options or {})}  # fmt: skip
    data = _data(services, store.folder(prune_run), run, dataset, file)
    train_run, plan = launch.create_run(services, model_id=student, dataset=data, options=opts,
                                        name=f"Recover {run['name']}")  # fmt: skip
    train_run = RunStore(services).update(train_run["id"], recover={"prune_run": prune_run, "teacher": teacher})  # fmt: skip
    return {"run": train_run, "pruning_run": prune_run, "plan": plan}


def finish(services: Services, train_run_id: str, ctx: Any) -> dict[str, Any]:
    """Register the recovered model (merging a LoRA first) with its lineage."""
    from engine.pruning.pipeline import LINEAGE_FILE, read_lineage
    from engine.pruning.runs import PruneRunStore
    from engine.training.merge import merge_run, register
    from engine.training.runs import RunStore

    runs = RunStore(services)
    run = runs.get(train_run_id)
    rec = run["recover"]
    artifacts = run.get("artifacts") or {}
    if artifacts.get("model"):
        folder, key = Path(artifacts["model"]), "model"
    else:  # LoRA healing: merge the adapter into the student first
        folder, key = Path(merge_run(services, train_run_id, ctx=ctx)["path"]), "merged"
    student = services.library.get(run["model_id"])
    parent_lineage = read_lineage(student["path"]) or {}
    summary = run.get("summary") or {}
    lineage = {"parent_id": student["id"], "parent_name": student["name"], "method": "distill",
               "selector": run["options"]["method"], "teacher_id": rec["teacher"],
               "amount": f"distilled {summary.get('steps')} steps", "run_id": rec["prune_run"],
               "layer_map": parent_lineage.get("layer_map")}  # fmt: skip
    (folder / LINEAGE_FILE).write_text(json.dumps(lineage, indent=1), encoding="utf-8")
    # (re-)registered after the lineage file is in place, so the library entry carries it
    model_id = register(services, folder, f"{student['name']} (recovered)", template=None)
    runs.set_artifact(train_run_id, key, folder, model_id=model_id)
    entry = {"train_run": train_run_id, "model_id": model_id, "steps": summary.get("steps"),
             "ppl_before": summary.get("perplexity_before"),
             "ppl_after": summary.get("perplexity_after"),
             "heldout_ppl": _heldout_ppl(services, model_id, rec["prune_run"], ctx)}  # fmt: skip

    def change(r: dict[str, Any]) -> None:
        r["recoveries"] = [x for x in r.get("recoveries") or [] if x["train_run"] != train_run_id] + [entry]  # fmt: skip

    PruneRunStore(services).update(rec["prune_run"], change)
    return entry


def _heldout_ppl(services: Services, model_id: str, prune_run: str, ctx: Any) -> float | None:
    """The recovered model's perplexity on the pruning's own held-out text, so it sits on the
    same scale as the original's and the pruned model's figures."""
    from engine.models.gguf_to_torch import load_torch_model
    from engine.pruning import measure, pipeline
    from engine.pruning.request import Request
    from engine.pruning.runs import PruneRunStore

    req = Request.from_dict(PruneRunStore(services).get(prune_run)["request"])
    ctx.progress(0.997, "Measuring the recovered model on the pruning's held-out text")
    lm, tok = load_torch_model(model_id, services=services, device="cpu", ctx=ctx)
    lm.eval()
    try:
        text = pipeline.load_text(services, tok, req)
    except UserError:  # the calibration file moved away: the training figures still stand
        return None
    ppl, _n = measure.perplexity(lm, text.held_out)
    return ppl


def outcome(services: Services, train_run_id: str) -> dict[str, Any]:
    from engine.training.runs import RunStore

    run = RunStore(services).get(train_run_id)
    summary = run.get("summary") or {}
    return {"run_id": train_run_id, "model_id": (run.get("models") or {}).get("model") or (run.get("models") or {}).get("merged"),
            "ppl_before": summary.get("perplexity_before"),
            "ppl_after": summary.get("perplexity_after")}  # fmt: skip
