"""lm-evaluation-harness tasks, when the harness is installed and the tasks' data is already on
this machine (``eval.harness``; an optional extra: ``pip install lm-eval``).

Hearth never downloads: the harness runs with the Hugging Face hub and datasets offline, so a
task whose data is not in the local cache fails with a message that says so. Models run through
the harness's own transformers backend (``hf``): a Hugging Face folder as it is, a GGUF through
its torch conversion (made first if needed). Each metric the harness reports comes back with its
standard error as a 95% interval (value ± 1.96 standard errors).
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.evaluation import records

if TYPE_CHECKING:
    from engine.services import Services

NOT_INSTALLED = (
    "lm-evaluation-harness is not installed. Install it into Hearth's environment with "
    "`pip install lm-eval`; its task data must already be on this machine (Hearth runs it offline)."
)


def available() -> bool:
    return importlib.util.find_spec("lm_eval") is not None


def check(services: Services, *, models: Any, tasks: Any, limit: Any = None, num_fewshot: Any = None) -> dict[str, Any]:  # fmt: skip
    if not available():
        raise UserError(NOT_INSTALLED)
    models = records.check_models(services, models, scoring=True)
    for model_id in models:
        model = services.library.get(model_id)
        if model.get("role") == "adapter":
            raise UserError(f"{model['name']} is a LoRA adapter; the harness runs Hugging Face models. Merge the run (Training > Merge) and evaluate the merged model.")  # fmt: skip
    if isinstance(tasks, str):
        tasks = [tasks]
    if (
        not isinstance(tasks, list)
        or not tasks
        or not all(isinstance(t, str) and t.strip() for t in tasks)
    ):
        raise UserError("Name one or more harness tasks (for example hellaswag, arc_easy).")
    for name, value in (("limit", limit), ("num_fewshot", num_fewshot)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise UserError(f"{name} must be a whole number of at least 0.")
    return {"models": models, "tasks": [t.strip() for t in tasks], "limit": limit,
            "num_fewshot": num_fewshot, "dataset_name": ", ".join(tasks), "split": None,
            "metrics": []}  # fmt: skip


def _folder(services: Services, model: dict[str, Any], ctx: Any) -> str:
    if model["format"] == "hf":
        return str(model["path"])
    from engine.models import gguf_to_torch

    gguf_to_torch.convert(model["id"], services, ctx)
    return str(gguf_to_torch.torch_folder_for(model, root=services.root))


def metrics_of(task_results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{"acc,none": 0.5, "acc_stderr,none": 0.05, ...}`` as ``{acc: {value, ci_low, ci_high}}``."""
    out: dict[str, dict[str, float]] = {}
    for key, value in task_results.items():
        name, _, filt = key.partition(",")
        if (
            name.endswith("_stderr")
            or not isinstance(value, (int, float))
            or isinstance(value, bool)
        ):
            continue
        label = name if filt in ("", "none") else f"{name} ({filt})"
        err = task_results.get(f"{name}_stderr,{filt}" if filt else f"{name}_stderr")
        err = float(err) if isinstance(err, (int, float)) and not isinstance(err, bool) else 0.0
        out[label] = {"value": round(float(value), 6), "ci_low": round(float(value) - 1.96 * err, 6),
                      "ci_high": round(float(value) + 1.96 * err, 6)}  # fmt: skip
    return out


def run(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """The ``eval.harness`` job."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    if not available():
        raise UserError(NOT_INSTALLED)
    import lm_eval

    record = records.load_run(services, params["run_id"])
    record["state"] = "running"
    records.save_run(services, record)
    results = list(record.get("results") or [])
    for i, model_id in enumerate(record["models"]):
        if any(r["model_id"] == model_id for r in results):
            continue
        model = services.library.get(model_id)
        ctx.progress(i / len(record["models"]), f"{model['name']}: {', '.join(record['tasks'])}")
        folder = _folder(services, model, ctx)
        ctx.check_cancelled()
        try:
            out = lm_eval.simple_evaluate(model="hf", model_args={"pretrained": folder, "dtype": "float32"},
                                          tasks=record["tasks"], num_fewshot=record.get("num_fewshot"),
                                          limit=record.get("limit"), device="cpu", batch_size=1)  # fmt: skip
        except Exception as exc:  # the harness's own errors: most often data not in the cache
            text = str(exc)
            if any(w in text.lower() for w in ("offline", "couldn't reach", "not found in cache", "connection")):  # fmt: skip
                raise UserError(f"The data of {', '.join(record['tasks'])} is not on this machine ({text[:200]}). "
                                "Hearth runs the harness offline: put the task's dataset in the Hugging Face cache first.") from None  # fmt: skip
            raise UserError(f"lm-evaluation-harness stopped: {text[:300]}") from None
        found: dict[str, dict[str, float]] = {}
        for task, values in (out.get("results") or {}).items():
            for name, m in metrics_of(values).items():
                found[f"{task} {name}" if len(record["tasks"]) > 1 else name] = m
        results.append(
            {"model_id": model_id, "name": model["name"], "metrics": found, "rows": None}
        )
        record.update(results=results, metrics=sorted({k for r in results for k in r["metrics"]}))
        records.save_run(services, record)
    record["state"] = "done"
    records.save_run(services, record)
    return {"run_id": record["run_id"], "results": results}
