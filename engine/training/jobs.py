"""Job kinds of fine-tuning. All run in a worker subprocess: they load torch models, so an OOM or
a native crash ends only the job, and the engine (and chat) keep working.

    train.lora     train a run (params: run_id); resumable from its last checkpoint
    train.eval     perplexity before/after and base vs tuned answers (run_id, prompts?)
    train.merge    merge the adapter into the base, save and register the model (run_id)
    train.export   GGUF export of the adapter or the merged model (run_id, what, quant)
    train.handoff  the self-contained folder of a run for a GPU cluster (run_id, out)
    train.import_result  a cluster's adapter back as a run and a library entry (run_id, folder)
"""

from __future__ import annotations

from typing import Any

from engine.jobs.registry import JobContext, job_kind


def _name(params: dict[str, Any]) -> str:
    return str(params.get("name") or params.get("run_id") or "")


@job_kind("train.lora", title=lambda p: f"Fine-tune {_name(p)}", subprocess=True,
          resumable=True, changes=("train.changed",))  # fmt: skip
def train(ctx: JobContext) -> dict[str, Any]:
    """Train the run ``run_id`` (resumes from its last checkpoint when there is one)."""
    from engine.training.trainer import LoraTrainer

    return LoraTrainer(ctx.services, ctx.params["run_id"], ctx).train()


@job_kind("train.eval", title=lambda p: f"Evaluate {_name(p)}", subprocess=True,
          changes=("train.changed",))  # fmt: skip
def evaluate(ctx: JobContext) -> dict[str, Any]:
    """Perplexity before/after and answers side by side (params: run_id, prompts, max_new_tokens)."""
    from engine.training.evaluate import evaluate_run

    p = ctx.params
    return evaluate_run(ctx.services, p["run_id"], prompts=p.get("prompts"),
                        max_new_tokens=int(p.get("max_new_tokens") or 64), ctx=ctx)  # fmt: skip


@job_kind("train.merge", title=lambda p: f"Merge {_name(p)}", subprocess=True,
          resumable=True, changes=("models.changed", "train.changed"))  # fmt: skip
def merge(ctx: JobContext) -> dict[str, Any]:
    """Merge the run's adapter into its base model; register the folder (params: run_id)."""
    from engine.training.merge import merge_run

    return merge_run(ctx.services, ctx.params["run_id"], ctx=ctx)


@job_kind("train.export", title=lambda p: f"Export {_name(p)} as GGUF ({p.get('what', 'merged')})",
          subprocess=True, resumable=True, changes=("models.changed", "train.changed"))  # fmt: skip
def export(ctx: JobContext) -> dict[str, Any]:
    """GGUF export (params: run_id, what: adapter|merged, quant: f16|q8_0|f32)."""
    from engine.training.export_gguf import export_run

    p = ctx.params
    return export_run(ctx.services, p["run_id"], what=p.get("what") or "merged",
                      quant=p.get("quant") or "q8_0", ctx=ctx)  # fmt: skip


@job_kind("train.handoff", title=lambda p: f"Hand {_name(p)} to a cluster", subprocess=True,
          changes=("train.changed",))  # fmt: skip
def handoff(ctx: JobContext) -> dict[str, Any]:
    """Write the self-contained cluster folder of a run (params: run_id, out)."""
    from engine.training.handoff import write

    return write(ctx.services, ctx.params["run_id"], ctx.params["out"], ctx=ctx)


@job_kind("train.import_result", title=lambda p: f"Import the cluster result of {_name(p)}",
          subprocess=True, changes=("models.changed", "train.changed"))  # fmt: skip
def import_result(ctx: JobContext) -> dict[str, Any]:
    """Bring a cluster's adapter back as a new run, exported to GGUF and added to the library
    (params: run_id, folder)."""
    from engine.training.export_gguf import export_run
    from engine.training.handoff import import_result as bring_back

    ctx.progress(0.05, "Checking the adapter against the base model")
    made = bring_back(ctx.services, ctx.params["folder"], ctx.params["run_id"], ctx=ctx)
    result: dict[str, Any] = {"run_id": made["id"], "name": made["name"], "model_id": None}
    if made.get("method") != "dora":  # llama.cpp runs LoRA adapters; DoRA is merged instead
        exported = export_run(ctx.services, made["id"], what="adapter", quant="f16", ctx=ctx)
        result.update(model_id=exported["model_id"], base_model_id=exported["base_model_id"],
                      path=exported["path"])  # fmt: skip
    return result
