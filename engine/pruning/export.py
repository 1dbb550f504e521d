"""GGUF export of any Hugging Face model in the library, pruned ones included.

A pruned model keeps a ``hearth-lineage.json`` naming its parent. When the first GGUF up its line
is known (the bundled Gemma, for one), its metadata -- the tokenizer exactly as llama.cpp expects
it, rope and norm settings -- is copied and only the block count and MLP width are set anew; other
models get their metadata from config.json and tokenizer.json (``export_gguf.export_model``).

A depth-pruned Gemma 3 keeps its own mix of sliding-window and global layers; the export writes
it per layer (``gemma3.attention.sliding_window_pattern``), which llama.cpp reads instead of its
every-sixth-layer default. What llama.cpp cannot express is refused before anything is written:
an adaptive attention model (llama.cpp would run every attention module). A statically bypassed attention
exports with its zeroed output projection: the same answers, no speed-up in llama.cpp.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.training.export_gguf import QUANTS

if TYPE_CHECKING:
    from engine.services import Services


def _config(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{folder} has no readable config.json ({exc}).") from exc


def check(services: Services, model_id: Any, quant: Any) -> dict[str, Any]:
    if not isinstance(model_id, str) or not model_id:
        raise UserError("Name the model to export (a model id from the library).")
    if quant not in QUANTS:
        raise UserError(f"quant must be one of {', '.join(QUANTS)}, not {quant!r}.")
    model = services.library.get(model_id)
    if model["format"] != "hf":
        raise UserError(f"{model['name']} is already a GGUF.")
    if model.get("missing"):
        raise UserError(f"The folder of {model['name']} is missing; relink it (Models > Locate…).")
    config = _config(Path(model["path"]))
    text = config.get("text_config") or config
    if text.get("hearth_adaptive_attention"):
        raise UserError(
            "This model chooses its attention modules per prompt, which llama.cpp cannot do; chat "
            "with it in the transformers runtime, or export its parent."
        )
    from engine.training.export_gguf import arch_for

    arch_for(config)
    return model


def base_gguf(services: Services, model: dict[str, Any]) -> Path | None:
    """The nearest GGUF ancestor of a model, following lineage files, or the GGUF a torch copy
    was converted from (None when there is none)."""
    from engine.pruning.pipeline import read_lineage

    seen: set[str] = set()
    current = model
    while current["format"] == "hf" and current["id"] not in seen:
        seen.add(current["id"])
        lineage = read_lineage(current["path"])
        if not lineage or not lineage.get("parent_id"):
            return _converted_from(services, Path(current["path"]))
        try:
            current = services.library.get(lineage["parent_id"])
        except UserError:
            return None
    if current["format"] == "gguf" and not current.get("missing"):
        return Path(current["path"])
    return None


def _converted_from(services: Services, folder: Path) -> Path | None:
    """The library GGUF whose torch copy (Models > Convert) ``folder`` is, if any."""
    for m in services.library.list():
        torch_path = m.get("torch_path")
        if m["format"] == "gguf" and torch_path and Path(torch_path) == folder and not m["missing"]:
            return Path(m["path"])
    return None


def run(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """The ``models.export_gguf`` job: write, register, return {path, model_id}."""
    from engine.training.merge import register

    model = check(services, params["model_id"], params["quant"])
    quant = params["quant"]
    base = base_gguf(services, model)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", model["name"]).strip("-").lower() or model["id"]
    out = Path(services.root) / "exports" / model["id"] / f"{slug}-{quant}.gguf"
    ctx.progress(0.02, f"Writing {out.name}")
    write_gguf(services, model, out, quant, base=base,
               progress=lambda f: ctx.progress(0.02 + 0.9 * f, f"Writing {out.name}"))  # fmt: skip
    ctx.progress(0.95, "Adding the GGUF to the library")
    model_id = register(services, out, f"{model['name']} ({quant})", template=None)
    ctx.progress(0.97, "Measuring tokens/s in llama.cpp")
    _note_export(services, model, out, model_id, quant, base)
    ctx.progress(1.0, "Exported")
    return {"path": str(out), "model_id": model_id}


def write_gguf(services: Services, model: dict[str, Any], out: Path, quant: str, *,
               base: Path | None = None, progress: Any = None) -> None:  # fmt: skip
    """Write the Hugging Face ``model`` as a GGUF at ``out`` (its lineage in the header); with
    its nearest GGUF ancestor ``base`` (looked up when None), that one's metadata is reused."""
    from engine.pruning.pipeline import read_lineage
    from engine.training.export_gguf import export_model

    folder = Path(model["path"])
    base = base if base is not None else base_gguf(services, model)
    reshaped = base is not None and _differs(folder, base)
    lineage = {**(read_lineage(folder) or {}), "exported_from": model["id"], "quant": quant}
    export_model(folder, out, quant=quant, base_gguf=base, name=model["name"], reshaped=reshaped,
                 lineage=lineage, progress=progress)  # fmt: skip


def _differs(folder: Path, base: Path) -> bool:
    from engine.models.gguf_meta import read_fields

    config = _config(folder)
    text = config.get("text_config") or config
    fields = read_fields(base)
    arch = fields.get("general.architecture")
    return (int(text["num_hidden_layers"]) != fields.get(f"{arch}.block_count")
            or int(text["intermediate_size"]) != fields.get(f"{arch}.feed_forward_length"))  # fmt: skip


def _note_export(services: Services, model: dict[str, Any], out: Path, model_id: str, quant: str,
                 base: Path | None) -> None:  # fmt: skip
    """Record the export on the pruning run that made the model, if one did, with llama.cpp's
    tokens/s for it and for its GGUF ancestor (each in its own quantization, named)."""
    from engine.models.gguf_meta import read_gguf
    from engine.pruning.measure import llama_tokens_per_s
    from engine.pruning.pipeline import read_lineage
    from engine.pruning.runs import PruneRunStore

    lineage = read_lineage(model["path"]) or {}
    run_id = lineage.get("run_id")
    if not run_id:
        return
    speed = {"quant": quant, "tokens_per_s": llama_tokens_per_s(str(out))}
    if base is not None:
        speed.update(parent_quant=read_gguf(base).get("quant"), parent_tokens_per_s=llama_tokens_per_s(str(base)))  # fmt: skip

    def change(r: dict[str, Any]) -> None:
        r.setdefault("artifacts", {})[f"gguf_{quant}"] = str(out)
        r.setdefault("models", {})[f"gguf_{quant}"] = model_id
        r["llama_cpp"] = speed

    try:
        PruneRunStore(services).update(run_id, change)
    except UserError:
        pass
