"""Merging a run's adapter into its base model, saved as a safetensors folder and registered.

The base is loaded again at full precision (fp32 on CPU, so a QLoRA adapter merges into real
weights rather than 4-bit ones), the adapter applied with peft and folded in
(``merge_and_unload``: W + scale * B @ A, DoRA's magnitude included). The folder gets the
tokenizer with the chat template the run was trained with, is built under a temp name and renamed
into ``<run>/merged/``, and is added to the model library (by reference) so it can be chatted with
in the transformers runtime or exported to GGUF.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.core.paths import describe_os_error

if TYPE_CHECKING:
    from engine.services import Services


def register(services: Services, path: Path, name: str, *, template: dict[str, Any] | None) -> str:
    """Add (or refresh) a file or folder made by a run in the model library; returns its id."""
    library = services.library
    for model in library.list():
        if Path(model["path"]) == Path(path):
            library.remove(model["id"])  # the files are the run's; only the stale entry goes
    model = library.import_model(path, mode="reference", name=name)
    if template and template.get("name") and template["name"] != "model":
        # the named template (e.g. plain) also brings its stop strings to Chat
        from engine.runtimes.settings import ModelSettings

        with contextlib.suppress(Exception):
            ModelSettings(services).update(model["id"], {"template": template["name"]})
    return model["id"]


def merged_model(services: Services, run: dict[str, Any], *, device: str = "cpu", ctx: Any = None) -> tuple[Any, Any]:  # fmt: skip
    """(merged transformers model, tokenizer) of a run, in fp32 on ``device``."""
    from engine.training import modeling

    artifacts = run.get("artifacts") or {}
    if artifacts.get("model"):  # full fine-tuning: the trained weights are the model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = artifacts["model"]
        lm = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
        return lm.to(device), AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if not artifacts.get("adapter") or not Path(artifacts["adapter"]).is_dir():
        raise UserError(
            f"Run {run['id']} has no trained adapter yet; finish (or resume) the run first."
        )
    model = services.library.get(run["model_id"])
    base, tok = modeling.load_base(services, model, method="lora", device=device, precision="fp32", ctx=ctx)  # fmt: skip
    from peft import PeftModel

    tuned = PeftModel.from_pretrained(base, artifacts["adapter"], is_trainable=False)
    return tuned.merge_and_unload(), tok


def merge_run(services: Services, run_id: str, *, ctx: Any) -> dict[str, Any]:
    from engine.training.runs import RunStore

    store = RunStore(services)
    run = store.get(run_id)
    ctx.progress(0.05, "Loading the base model and the adapter")
    lm, tok = merged_model(services, run, ctx=ctx)
    ctx.check_cancelled()
    folder = store.folder(run_id)
    final = folder / "merged"
    tmp = folder / f".merged.partial-{os.getpid()}"
    template = run.get("template") or {}
    ctx.progress(0.6, "Saving the merged model")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        lm.save_pretrained(tmp)
        if template.get("source"):
            tok.chat_template = template["source"]
        tok.save_pretrained(tmp)
        ctx.check_cancelled()
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(describe_os_error(exc, f"saving the merged model into {folder}")) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    ctx.progress(0.9, "Adding the merged model to the library")
    model_id = register(services, final, f"{run['name']} (merged)", template=template)
    store.set_artifact(run_id, "merged", final, model_id=model_id)
    ctx.progress(1.0, "Merged")
    return {"path": str(final), "model_id": model_id, "run_id": run_id}
