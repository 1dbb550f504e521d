"""An in-memory ``train.*`` for the fake engine (tests/desktop/fake_engine.py), shaped like
docs/PROTOCOL.md "Fine-tuning".

``train.options`` answers train_options.json, written from the real engine's ``TrainOptions``
field metadata (with QLoRA unavailable, as on a machine without CUDA). Three runs exist at start:
``run-done`` (succeeded, nothing exported), ``run-exported`` (succeeded, chatted with as the
fake library's second model ``gone-2``) and ``run-failed``. ``train.start`` makes a running run whose job
(``tj-…``) sends ``job.metrics`` for each step from a thread (``FAKE_TRAIN_STEP_S`` apart,
0.02 s by default) and a sample answer in ``job.log`` every 5 steps, and ends with
``job.progress`` end and ``train.changed``. The memory plan grows with batch_size and seq_len
and refuses above 4 GB, suggesting a smaller batch. An export adds its GGUF to
``library_models``. ``fake.train_requests`` returns every
request this module answered, ``fake.train_add_field`` adds a field to the options.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from engine.jobs.events import progress_event

OPTIONS = json.loads(Path(__file__).with_name("train_options.json").read_text(encoding="utf-8"))
DEFAULTS = {f["name"]: f["default"] for f in OPTIONS["fields"]}
PRESETS = {p["name"]: p["values"] for p in OPTIONS["presets"]}
AVAILABLE = 4e9
STEP_S = float(os.environ.get("FAKE_TRAIN_STEP_S", "0.02"))
# what the real trainer reports before its first step (engine/training/trainer.py and the GGUF
# conversion in engine/models/gguf_to_torch.py)
PHASES = (
    (None, "Reading the dataset"),
    (
        0.0,
        "Dequantizing Fake Gemma with transformers (about a minute per 300M parameters on a CPU)",
    ),
    (0.6, "Reading the tokenizer of Fake Gemma"),
    (None, "Tokenising 20 rows"),
    (None, "Preparing the model (lora)"),
)
lock = threading.RLock()
requests: list[dict[str, Any]] = []
jobs: dict[str, dict[str, Any]] = {}
stop_flags: set[str] = set()
# library models made by exports; fake_engine.py lists them with its own in models.list
library_models: list[dict[str, Any]] = []
TUNED = {
    "format": "gguf", "role": "llm", "arch": "gemma3", "params": 268_000_000, "quant": "Q8_0",
    "context_length": 32768, "chat_template": "{{ messages }}", "size_bytes": 290_000_000,
    "managed": True, "bundled": False, "missing": False, "torch_path": None, "added_at": 0,
    "capabilities": {"chat_llama_cpp": True, "chat_transformers": False, "train": False,
                     "prune": False, "embed": False, "convert": False},
}  # fmt: skip


class UserError(Exception):
    code = -32001


def _curve(step: int, total: int) -> dict[str, float]:
    return {
        "loss": round(2.5 * math.exp(-step / max(total, 1) * 2) + 0.4, 4),
        "lr": 2e-4 * (1 - step / max(total, 1)),
        "grad_norm": 1.0 + 0.5 * math.cos(step),
        "tokens_per_s": 1200.0 + step,
        "eta_s": float(max(total - step, 0)),
        "epoch": step / max(total, 1),
    }


def _run(run_id: str, name: str, state: str, *, step: int, total: int, created: float,
         chat_model: str | None = None, error: str | None = None) -> dict[str, Any]:  # fmt: skip
    metrics = [{"step": 0, "eval_loss": 2.9, "eval_ppl": 18.2}]
    metrics += [{"step": s, **_curve(s, total)} for s in range(1, step + 1)]
    metrics += [{"step": s, "eval_loss": 2.9 - 0.08 * s, "eval_ppl": math.exp(2.9 - 0.08 * s)}
                for s in range(5, step + 1, 5)]  # fmt: skip
    metrics.sort(key=lambda m: m["step"])
    return {
        "id": run_id,
        "kind": "train",
        "name": name,
        "state": state,
        "error": error,
        "model_id": "gemma-1",
        "model_name": "Fake Gemma",
        "model_format": "gguf",
        "method": "lora",
        "preset": "quick",
        "options": {**DEFAULTS, "max_steps": total, "sample_prompts": ["Say hi"]},
        "dataset": {
            "ref": "ds-alpaca",
            "name": "alpaca",
            "version": 1,
            "split": "train",
            "validation_split": None,
        },
        "job_id": f"tj-{run_id}",
        "jobs": [f"tj-{run_id}"],
        "step": step,
        "total_steps": total,
        "checkpoint": step if state != "queued" else None,
        "template": {
            "name": "gemma",
            "source": "model",
            "end_of_turn": "<end_of_turn>",
            "appends_eos": False,
        },
        "data": {"rows": 100, "kept": 97, "truncated": 2, "too_long": 3},
        "targets": ["q_proj", "v_proj"],
        "device": "cpu",
        "precision": "fp32",
        "trainable_params": 1_500_000,
        "total_params": 268_000_000,
        "summary": (
            {
                "steps": step,
                "first_loss": metrics[1]["loss"] if step else None,
                "final_loss": _curve(step, total)["loss"],
                "tokens_per_s": 1200.0,
                "perplexity_before": 18.2,
                "perplexity_after": 9.1,
            }
            if state == "succeeded"
            else {}
        ),
        "artifacts": {"adapter": f"/runs/{run_id}/adapter"},
        "models": {"gguf_q8_0": chat_model} if chat_model else {},
        "chat": {
            "model": {"model_id": chat_model, "runtime": "llama_cpp", "artifact": "gguf_q8_0"}
            if chat_model
            else None,
            "adapter": None,
        },
        "created_at": created,
        "updated_at": created,
        "folder": f"/runs/{run_id}",
        "_metrics": metrics,
        "_samples": [
            {"step": s, "prompt": "Say hi", "answer": f"hi ({s})"} for s in range(5, step + 1, 5)
        ],
    }


now = time.time()
runs: dict[str, dict[str, Any]] = {
    r["id"]: r
    for r in (
        _run("run-done", "alpaca quick", "succeeded", step=20, total=20, created=now - 300),
        _run("run-exported", "exported tune", "succeeded", step=20, total=20, created=now - 200,
             chat_model="gone-2"),
        _run("run-failed", "too big", "failed", step=3, total=20, created=now - 100,
             error="The worker ran out of memory at step 4; lower batch_size or seq_len."),
    )
}  # fmt: skip


def public(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if not k.startswith("_")}


# ---- plan ------------------------------------------------------------------------------------
def _options(p: dict[str, Any]) -> dict[str, Any]:
    opts = dict(DEFAULTS)
    preset = p.get("preset")
    if preset:
        if preset not in PRESETS:
            raise UserError(f"Unknown preset {preset!r}.")
        opts.update(PRESETS[preset])
    for key, value in (p.get("options") or {}).items():
        if key not in DEFAULTS:
            raise UserError(f"Unknown training option {key!r}.")
        opts[key] = value
    if opts["method"] == "qlora":
        raise UserError("QLoRA needs a CUDA GPU and bitsandbytes; use lora on this machine.")
    return opts


def _total(opts: dict[str, Any]) -> tuple[dict[str, float], float]:
    scale = opts["batch_size"] * opts["seq_len"] / 512
    act = scale * 0.4e9 / (4 if opts.get("gradient_checkpointing") else 1)
    parts = {"weights": 0.5e9, "trainable_state": opts["rank"] * 0.01e9, "activations": act,
             "logits": scale * 0.2e9, "runtime": 0.3e9}  # fmt: skip
    return parts, sum(parts.values())


def plan(p: dict[str, Any]) -> dict[str, Any]:
    if not p.get("model_id"):
        raise UserError("model_id is required.")
    opts = _options(p)
    parts, total = _total(opts)
    verdict = "refuse" if total > AVAILABLE else "warn" if total > 0.85 * AVAILABLE else "ok"
    suggestions = []
    if verdict != "ok":
        quarter, accumulate = max(1, opts["batch_size"] // 4), opts["gradient_accumulation"] * 4
        for label, change in (  # worded (and valued) like the real planner's suggestions
            (f"batch_size {quarter} with gradient_accumulation {accumulate}",
             {"batch_size": quarter, "gradient_accumulation": accumulate}),
            ("turn on gradient_checkpointing", {"gradient_checkpointing": True}),
        ):  # fmt: skip
            _p, t = _total({**opts, **change})
            suggestions.append({"change": label, "values": change, "total_bytes": t,
                                "fits": t <= AVAILABLE})  # fmt: skip
    message = {
        "ok": "The run fits.",
        "warn": "The run needs most of the free memory.",
        "refuse": f"The run needs {total / 2**30:.1f} GB but {AVAILABLE / 2**30:.1f} GB are free.",
    }[verdict]
    return {"verdict": verdict, "fits": verdict != "refuse", "device": "cpu", "precision": "fp32",
            "total_bytes": total, "available_bytes": AVAILABLE, "parts": {**parts, "total": total},
            "message": message, "suggestions": suggestions, "shape": {}}  # fmt: skip


def check(p: dict[str, Any]) -> dict[str, Any]:
    if not p.get("dataset"):
        raise UserError("dataset is required.")
    opts = _options(p)
    too_long = 3 if opts["seq_len"] >= 256 else 40
    data = {"name": "alpaca", "format": "alpaca", "train_rows": 95, "validation_rows": 5,
            "checked_rows": 100, "source": "dataset", "template": "gemma",
            "report": {"rows": 100, "kept": 100 - too_long, "truncated": 2, "too_long": too_long,
                       "empty": 0, "template_failed": 0, "tokens": 12000, "learned_tokens": 8000,
                       "longest": 480}}  # fmt: skip
    return {"data": data, "plan": plan(p)}


# ---- training jobs ---------------------------------------------------------------------------
def _job(job_id: str, kind: str, state: str = "running", result: Any = None) -> dict[str, Any]:
    job = {"id": job_id, "kind": kind, "title": kind, "params": {}, "state": state,
           "progress": 0.0, "message": "", "result": result, "error": None, "attempt": 1,
           "resumable": kind == "train.lora", "created_at": time.time(),
           "started_at": time.time(), "finished_at": None}  # fmt: skip
    jobs[job_id] = job
    return job


def _progress(send, job: dict[str, Any], kind: str) -> None:
    params = progress_event(job["id"], job["kind"], kind, job["state"], job["progress"], job["message"],
                            result=job.get("result"), error=job.get("error"))  # fmt: skip
    send({"jsonrpc": "2.0", "method": "job.progress", "params": params})


def _train(send, run_id: str, job_id: str, start_step: int) -> None:
    with lock:
        run = runs[run_id]
        total = run["total_steps"]
        job = jobs[job_id]
    _progress(send, job, "begin")
    for fraction, message in PHASES if start_step == 0 else ():
        time.sleep(STEP_S)
        with lock:
            job.update(progress=fraction, message=message)
        _progress(send, job, "report")
    for step in range(start_step + 1, total + 1):
        time.sleep(STEP_S)
        with lock:
            if job_id in stop_flags:
                run.update(state="cancelled", step=step - 1, checkpoint=step - 1)
                job.update(state="cancelled")
                break
            values = _curve(step, total)
            if step % 5 == 0:
                values.update(eval_loss=2.9 - 0.08 * step, eval_ppl=math.exp(2.9 - 0.08 * step))
            run["_metrics"].append({"step": step, **values})
            run["step"] = step
        send({"jsonrpc": "2.0", "method": "job.metrics",
              "params": {"job_id": job_id, "step": step, "values": values}})  # fmt: skip
        if step % 5 == 0:
            answer = f"hello at {step}"
            with lock:
                run["_samples"].append({"step": step, "prompt": "Say hi", "answer": answer})
            send({"jsonrpc": "2.0", "method": "job.log",
                  "params": {"job_id": job_id, "level": "info",
                             "message": f"Sample at step {step}: Say hi -> {answer}"}})  # fmt: skip
    else:
        with lock:
            run.update(state="succeeded", checkpoint=total)
            run["summary"] = {"steps": total, "first_loss": _curve(1, total)["loss"],
                              "final_loss": _curve(total, total)["loss"], "tokens_per_s": 1200.0}  # fmt: skip
            job.update(state="succeeded", progress=1.0,
                       result={"run_id": run_id, "steps": total, "final_loss": run["summary"]["final_loss"]})  # fmt: skip
    _progress(send, job, "end")
    send({"jsonrpc": "2.0", "method": "train.changed", "params": {}})


def start(p: dict[str, Any], send) -> dict[str, Any]:
    if not p.get("dataset"):
        raise UserError("dataset is required: a dataset name or id.")
    opts = _options(p)
    the_plan = plan(p)
    if the_plan["verdict"] == "refuse" and not p.get("force"):
        raise UserError(
            f"{the_plan['message']} Lower batch_size, or start with force to try anyway."
        )
    n = len(runs) + 1
    run_id = f"run-{n}"
    total = int(opts["max_steps"] or 12)
    run = _run(run_id, p.get("name") or f"Fake Gemma on {p['dataset']}", "running", step=0,
               total=total, created=time.time())  # fmt: skip
    run.update(
        options=opts, preset=p.get("preset"), method=opts["method"], _metrics=run["_metrics"][:1]
    )
    runs[run_id] = run
    job = _job(run["job_id"], "train.lora")
    threading.Thread(target=_train, args=(send, run_id, job["id"], 0), daemon=True).start()
    return {"job": job, "run": public(run), "plan": the_plan}


def _side_job(send, kind: str, run: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    job_id = f"tj-{kind.split('.')[1]}-{run['id']}-{len(jobs)}"
    job = _job(job_id, kind)

    def work() -> None:
        time.sleep(0.05)
        with lock:
            if kind == "train.eval":
                prompts = p.get("prompts") or ["Say hi"]
                result = {"run_id": run["id"], "validation_rows": 5, "validation_tokens": 400,
                          "loss_before": 2.9, "loss_after": 2.2, "perplexity_before": 18.17,
                          "perplexity_after": 9.03, "path": f"{run['folder']}/eval/eval.json",
                          "evaluation_run": "eval-of-" + run["id"],
                          "comparisons": [{"prompt": q, "base": f"base answer to {q}",
                                           "tuned": f"tuned answer to {q}"} for q in prompts]}  # fmt: skip
                run["_evaluation"] = result
            elif kind == "train.merge":
                result = {"path": f"{run['folder']}/merged", "model_id": f"{run['id']}-merged",
                          "run_id": run["id"]}  # fmt: skip
            else:
                what, quant = p.get("what", "merged"), p.get("quant", "q8_0")
                model_id = f"{run['id']}-{quant if what == 'merged' else 'lora'}"
                library_models.append({**TUNED, "id": model_id, "name": f"{run['name']} {quant}",
                                       "path": f"{run['folder']}/gguf/model-{quant}.gguf"})  # fmt: skip
                run["chat"] = {"model": {"model_id": model_id, "runtime": "llama_cpp",
                                         "artifact": f"gguf_{quant}"}, "adapter": None}  # fmt: skip
                result = {"path": f"{run['folder']}/gguf/model-{quant}.gguf", "run_id": run["id"],
                          "what": what, "model_id": model_id}  # fmt: skip
            job.update(state="succeeded", progress=1.0, result=result)
        _progress(send, job, "end")
        send({"jsonrpc": "2.0", "method": "train.changed", "params": {}})

    threading.Thread(target=work, daemon=True).start()
    return {"job": job}


def _get(p: dict[str, Any]) -> dict[str, Any]:
    run = runs.get(p.get("run") or "")
    if run is None:
        raise UserError(f"No training run {p.get('run')!r}.")
    return run


def dispatch(method: str, p: dict[str, Any], send) -> Any:
    if method == "fake.train_requests":
        return {"requests": list(requests)}
    if method == "fake.train_add_field":
        OPTIONS["fields"].append(p["field"])
        DEFAULTS[p["field"]["name"]] = p["field"]["default"]
        return {"ok": True}
    requests.append({"method": method, "params": p})
    if method == "train.options":
        return OPTIONS
    if method == "train.plan":
        return plan(p)
    if method == "train.check":
        return check(p)
    if method == "train.start":
        return start(p, send)
    if method == "train.list":
        return {"runs": [public(r) for r in sorted(runs.values(), key=lambda r: -r["created_at"])]}
    if method == "train.get":
        return public(_get(p))
    if method == "train.metrics":
        run = _get(p)
        after = int(p.get("after_step") or 0)
        return {"run_id": run["id"], "state": run["state"], "step": run["step"],
                "total_steps": run["total_steps"],
                "metrics": [m for m in run["_metrics"] if m["step"] > after],
                "samples": list(run["_samples"]),
                "evaluation": run.get("_evaluation")}  # fmt: skip
    if method == "train.cancel":
        run = _get(p)
        stop_flags.add(run["job_id"])
        return {"job": jobs.get(run["job_id"]), "run": public(run)}
    if method == "train.resume":
        run = _get(p)
        if run["state"] not in ("cancelled", "failed", "interrupted"):
            raise UserError(f"Run {run['id']} is {run['state']}; only a stopped run resumes.")
        job_id = f"tj-{run['id']}-r{len(run['jobs'])}"
        run.update(state="running", job_id=job_id, error=None, jobs=[*run["jobs"], job_id])
        job = _job(job_id, "train.lora")
        threading.Thread(
            target=_train, args=(send, run["id"], job_id, run["step"]), daemon=True
        ).start()
        return {"job": job, "run": public(run)}
    if method in ("train.eval", "train.merge", "train.export"):
        run = _get(p)
        if run["state"] != "succeeded":
            raise UserError(f"Run {run['id']} has not finished; train it to the end first.")
        return _side_job(send, method, run, p)
    if method == "train.delete":
        run = _get(p)
        del runs[run["id"]]
        return {"deleted": run["id"]}
    if method == "jobs.get":
        job = jobs.get(p.get("id"))
        if job is None:
            raise UserError(f"No job {p.get('id')!r}.")
        return job
    raise LookupError(method)


def handle(method: str, rid, p: dict, send, cancelled: set) -> None:
    """Answer one ``train.*`` request, or a ``jobs.get`` about a fake training job."""
    try:
        with lock:
            result = dispatch(method, p, send)
    except UserError as exc:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": exc.code, "message": str(exc)}})
        return
    except LookupError:
        send({"jsonrpc": "2.0", "id": rid,
              "error": {"code": -32601, "message": f"Method not found: {method}"}})  # fmt: skip
        return
    send({"jsonrpc": "2.0", "id": rid, "result": result})
