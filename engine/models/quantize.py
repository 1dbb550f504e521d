"""Quantize a library model to a smaller GGUF with llama.cpp's own quantizer.

    hearth-engine models quantize ID --quant q4_k_m

llama-cpp-python exposes ``llama_model_quantize``, the function llama.cpp's ``llama-quantize``
tool runs, so no separate binary is needed. The source is the model's GGUF at 16 or 32 bits, or,
for a Hugging Face model in the library (a pruned or fine-tuned one), an f16 GGUF written first
by the GGUF export (``engine.pruning.export``) and removed afterwards. A GGUF already quantized is
quantized further only downwards (q8_0 to q4_k_m), and the result says so; to the same or more
bits it is refused, since what rounding took away does not come back.

The file is written under a hidden name next to its final place (``exports/<model id>/``) and
renamed when complete: a failure, a full disk or a cancel leaves nothing under the final name and
nothing in the library. The library entry names its parent (``lineage``: parent, method
"quantize", quant); Evaluate's perplexity compares the two.
"""

from __future__ import annotations

import ctypes
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import Cancelled, UserError
from engine.core.names import slugify

if TYPE_CHECKING:
    from engine.services import Services


@dataclass(frozen=True)
class QuantType:
    name: str  # what users type: q4_k_m
    ftype: str  # llama.cpp's enum name
    bits: int  # the level compared with a source's (a q5_k_m is 5-bit)
    bpw: float  # bits per weight of the quantized tensors, for the size estimate
    help: str


TYPES = {t.name: t for t in (
    QuantType("f16", "LLAMA_FTYPE_MOSTLY_F16", 16, 16.0, "16-bit floats: nothing lost, half of f32"),
    QuantType("q8_0", "LLAMA_FTYPE_MOSTLY_Q8_0", 8, 8.5, "8-bit: practically the same answers"),
    QuantType("q6_k", "LLAMA_FTYPE_MOSTLY_Q6_K", 6, 6.56, "6-bit k-quant: very close to 8-bit"),
    QuantType("q5_k_m", "LLAMA_FTYPE_MOSTLY_Q5_K_M", 5, 5.69, "5-bit k-quant: a good balance"),
    QuantType("q4_k_m", "LLAMA_FTYPE_MOSTLY_Q4_K_M", 4, 4.89,
              "4-bit k-quant: the usual choice for laptops, a little less accurate"),
)}  # fmt: skip


def source_bits(quant: str | None) -> int | None:
    """The level of a model's quantization as the library names it (F32 32, F16 16, Q8_0 8,
    Q4_K_M 4, IQ3_XS 3); None when it cannot be told."""
    if not quant:
        return None
    name = quant.upper()
    if name in ("F32", "FP32"):
        return 32
    if name in ("F16", "BF16", "FP16"):
        return 16
    found = re.match(r"^(?:I?Q|TQ)(\d)", name)
    return int(found.group(1)) if found else None


def parse_type(quant: Any) -> QuantType:
    key = str(quant or "").strip().lower()
    if key not in TYPES:
        raise UserError(f"quant must be one of {', '.join(TYPES)}, not {quant!r}.")
    return TYPES[key]


def estimated_bytes(params: int | None, target: QuantType, embedding: int = 0) -> int:
    """The file's size: llama.cpp keeps the token embedding in q8_0 below 8 bits (when
    ``embedding``, its weight count, is known), plus the header, vocabulary and f32 norms."""
    params = params or 0
    rest = max(0, params - embedding) if target.bits < 8 else params
    kept = embedding * 8.5 if target.bits < 8 else 0
    return int((rest * target.bpw + kept) / 8) + 16 * 2**20


def embedding_params(model: dict[str, Any]) -> int:
    """Weights in the token embedding (rows x width), read from the model's files; 0 unknown."""
    try:
        if model["format"] == "gguf":
            from engine.models.gguf_meta import read_header

            return next((t[2] for t in read_header(model["path"]).tensors
                         if t[0] == "token_embd.weight"), 0)  # fmt: skip
        config = json.loads((Path(model["path"]) / "config.json").read_text(encoding="utf-8"))
        text = config.get("text_config") or config
        return int(text["vocab_size"]) * int(text["hidden_size"])
    except (OSError, ValueError, KeyError, TypeError, UserError):
        return 0


def refusal(model: dict[str, Any], target: QuantType) -> str | None:
    """Why ``model`` cannot be quantized to ``target`` (None when it can)."""
    if model.get("role") != "llm":
        adapter = ("a prompt-tuned model: its virtual tokens are vectors, not weights to round"
                   if model.get("format") == "peft" else "a LoRA adapter: quantize its base model, or merge it first")  # fmt: skip
        what = {"adapter": adapter,
                "embedding": "an embedding model"}.get(model.get("role"), "not a language model")  # fmt: skip
        return f"{model['name']} is {what}."
    if model.get("missing"):
        return f"The file of {model['name']} is missing; relink it (Models > Locate…)."
    if model["format"] == "hf":
        return None  # exported to f16 first
    have = source_bits(model.get("quant"))
    if have is None:
        return (f"{model['name']} is quantized as {model.get('quant') or 'an unknown type'}, which "
                "Hearth cannot rank; quantize from an f16 or f32 GGUF of the model.")  # fmt: skip
    if have <= target.bits:
        held = f"{have}-bit" if have < 16 else f"{have}-bit floats"
        smaller = any(t.bits < have for t in TYPES.values())
        hint = (
            "pick a type with fewer bits, or quantize from an f16 or f32 GGUF of the model"
            if smaller
            else "Hearth writes nothing smaller; for another type, quantize from an f16 or f32 "
            "GGUF of the model"
        )
        return (
            f"{model['name']} is already {held} ({model.get('quant')}): quantizing it to "
            f"{target.name} cannot bring back what was rounded away; {hint}."
        )
    return None


def options(services: Services, model_id: str) -> dict[str, Any]:
    """Every type for ``model_id``: {quant, help, bits, estimated_bytes, allowed, reason}, and
    what the source is (for the Quantize dialog and ``models quantize --list``)."""
    return options_for(services.library.get(model_id))


def options_for(model: dict[str, Any]) -> dict[str, Any]:
    rows = []
    embedding = embedding_params(model)
    for t in TYPES.values():
        why = refusal(model, t)
        size = estimated_bytes(model.get("params"), t, embedding)
        rows.append({"quant": t.name, "help": t.help, "bits": t.bits, "allowed": why is None,
                     "reason": why, "estimated_bytes": size})  # fmt: skip
    have = source_bits(model.get("quant"))
    return {"model_id": model["id"], "name": model["name"], "source_quant": model.get("quant"),
            "source_bytes": model.get("size_bytes"), "types": rows,
            "requantize": model["format"] == "gguf" and have is not None and have < 16}  # fmt: skip


def check(services: Services, model_id: Any, quant: Any) -> tuple[dict[str, Any], QuantType]:
    if not isinstance(model_id, str) or not model_id:
        raise UserError("Name the model to quantize (a model id from the library).")
    target = parse_type(quant)
    model = services.library.get(model_id)
    why = refusal(model, target)
    if why:
        raise UserError(why)
    if model["format"] == "hf":
        from engine.pruning.export import check as exportable

        exportable(services, model["id"], "f16")
    return model, target


def out_path(services: Services, model: dict[str, Any], target: QuantType) -> Path:
    slug = slugify(model["name"], limit=120, fallback=model["id"])
    slug = re.sub(r"-(f32|f16|bf16|q\d\w*)$", "", slug)  # "gemma-f16" quantized is "gemma-q4_k_m"
    return Path(services.root) / "exports" / model["id"] / f"{slug}-{target.name}.gguf"


def run(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """The ``models.quantize`` job: {model_id, path, size_bytes, quant, parent_id, note}."""
    from engine.core.space import as_user_error, is_disk_full, require_free

    model, target = check(services, params.get("model_id"), params.get("quant"))
    out = out_path(services, model, target)
    partial = out.with_name(f".{out.name}.partial")
    staged = out.with_name(f".{out.stem}.source-f16.gguf.partial")
    size = estimated_bytes(model.get("params"), target, embedding_params(model))
    need = size  # and the f16 it goes through, for a Hugging Face model
    if model["format"] == "hf" and target.name != "f16":
        need += estimated_bytes(model.get("params"), TYPES["f16"])
    require_free(out.parent, need)
    out.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (partial, staged):  # a killed earlier try of this same file
        leftover.unlink(missing_ok=True)
    note = None
    try:
        if model["format"] == "hf":
            source = staged if target.name != "f16" else partial
            _export_f16(services, model, source, ctx, share=0.5 if source is staged else 0.95)
        else:
            source = Path(model["path"])
            if (source_bits(model.get("quant")) or 32) < 16:
                note = (f"Quantized again from {model.get('quant')}; from an f16 or f32 GGUF of "
                        "the model the result would be a little more accurate.")  # fmt: skip
        if source is not partial:
            start = 0.5 if model["format"] == "hf" else 0.02
            _quantize(source, partial, target, size, ctx, start=start,
                      requantize=note is not None)  # fmt: skip
        partial.replace(out)
    except OSError as exc:
        if is_disk_full(exc):
            raise as_user_error(exc, out.parent) from None
        raise
    finally:
        partial.unlink(missing_ok=True)
        staged.unlink(missing_ok=True)
        if not out.exists() and not any(out.parent.iterdir()):
            out.parent.rmdir()  # nothing was made: no empty folder either
    ctx.progress(0.97, "Adding the GGUF to the library")
    lineage = {"parent_id": model["id"], "parent_name": model["name"], "method": "quantize",
               "quant": target.name, "source_quant": model.get("quant")}  # fmt: skip
    entry = services.library.register_file(out, name=f"{_base_name(model['name'])} ({target.name})",
                                           lineage=lineage)  # fmt: skip
    ctx.progress(1.0, "Quantized")
    return {"model_id": entry["id"], "path": str(out), "size_bytes": out.stat().st_size,
            "quant": target.name, "parent_id": model["id"], "note": note}  # fmt: skip


def _base_name(name: str) -> str:
    """A model's name without a quantization suffix: "Gemma (f16)" -> "Gemma"."""
    return re.sub(r"\s*\((?:f32|f16|bf16|q\d[\w]*)\)$", "", name, flags=re.IGNORECASE) or name


def _export_f16(services: Services, model: dict[str, Any], dest: Path, ctx: Any, *,
                share: float) -> None:  # fmt: skip
    from engine.pruning.export import write_gguf

    ctx.progress(0.01, f"Writing an f16 GGUF of {model['name']}")
    write_gguf(services, model, dest, "f16",
               progress=lambda f: ctx.progress(0.01 + share * f, f"Writing an f16 GGUF of {model['name']}"))  # fmt: skip
    ctx.check_cancelled()


def _quantize(source: Path, dest: Path, target: QuantType, expected: int, ctx: Any, *,
              start: float, requantize: bool) -> None:  # fmt: skip
    """Run llama.cpp's quantizer in a thread; the file's growth is the progress. A cancel
    removes the half-written file at once (the quantizer cannot be stopped; the worker process
    it runs in ends with the job)."""
    import llama_cpp

    from engine.core.devices import physical_cores

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, target.ftype)
    params.nthread = physical_cores()
    params.allow_requantize = requantize
    errors = _quiet_llama_log()
    outcome: dict[str, Any] = {}

    def work() -> None:
        outcome["rc"] = llama_cpp.llama_model_quantize(
            str(source).encode(), str(dest).encode(), ctypes.byref(params)
        )

    thread = threading.Thread(target=work, name="quantize", daemon=True)
    thread.start()
    message = f"Quantizing to {target.name}"
    while thread.is_alive():
        thread.join(0.5)
        if ctx.cancelled():
            dest.unlink(missing_ok=True)
            raise Cancelled(None)
        done = dest.stat().st_size if dest.exists() else 0
        ctx.progress(start + (0.95 - start) * min(1.0, done / max(expected, 1)), message)
    if outcome.get("rc") != 0:
        detail = "; ".join(e for e in errors if e)[-400:] or "no reason given"
        # a write that failed: "basic_ios::clear: iostream error" is what a full disk gives
        full = re.search(r"no space|disk full|too large|failed to write|iostream", detail, re.I)
        if full:
            raise OSError(28, f"llama.cpp could not write {dest.name}: {detail}")
        raise UserError(f"llama.cpp could not quantize {source.name} to {target.name}: {detail}")


_errors: list[str] = []
_log_callback: Any = None  # kept for as long as llama.cpp may call it: the process's life


def _quiet_llama_log() -> list[str]:
    """Route llama.cpp's log here: its per-tensor lines are not for job logs; errors are kept
    (cleared on each call) to say why a quantization failed."""
    global _log_callback
    import llama_cpp

    if _log_callback is None:

        @llama_cpp.llama_log_callback
        def log(_level: int, text: bytes, _user: Any) -> None:
            # the levels' numbers changed between llama.cpp versions; the words did not
            line = text.decode("utf-8", "replace").strip()
            if re.search(r"fail|error", line, re.IGNORECASE):
                _errors.append(line)

        _log_callback = log
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
    _errors.clear()
    return _errors


def _quantized_from(model: dict[str, Any]) -> str | None:
    lineage = model.get("lineage") or {}
    return lineage.get("parent_id") if lineage.get("method") == "quantize" else None


def family(services: Services, model_id: str) -> dict[str, Any]:
    """A model with every quantization made from it (or from the model it was quantized from):
    name, type, size and perplexity, the last from the latest Evaluate perplexity run that
    measured two or more of them (so all on the same text); ``change`` is against the most
    precise one measured (``base_id``). ``rows`` is empty when the model has no quantized
    relatives."""
    from engine.evaluation.records import list_runs

    models = {m["id"]: m for m in services.library.list()}
    root = services.library.get(model_id)
    seen = {root["id"]}
    while (up := _quantized_from(root)) in models and up not in seen:
        root = models[up]
        seen.add(up)
    members, frontier = [root], [root["id"]]
    while frontier:
        taken = {m["id"] for m in members}
        children = [
            m for m in models.values() if _quantized_from(m) in frontier and m["id"] not in taken
        ]
        members += children
        frontier = [m["id"] for m in children]
    out: dict[str, Any] = {"root_id": root["id"], "base_id": None, "rows": [], "run_id": None,
                           "text": None}  # fmt: skip
    if len(members) < 2:
        return out
    ids = {m["id"] for m in members}
    measured: dict[str, float] = {}
    for run in list_runs(services):  # newest first
        got = {
            r["model_id"]: r["metrics"].get("perplexity", {}).get("value") for r in run["results"]
        }
        if run.get("kind") == "perplexity" and len(ids & set(got)) > 1:
            measured = {k: v for k, v in got.items() if k in ids and v is not None}
            out.update(run_id=run["run_id"], text=run.get("dataset_name"))
            break
    # members run from the original down the quantizations: the first measured is the most precise
    out["base_id"] = next((m["id"] for m in members if m["id"] in measured), None)
    base = measured.get(out["base_id"])
    for m in members:
        ppl = measured.get(m["id"])
        out["rows"].append({
            "model_id": m["id"], "name": m["name"], "quant": m.get("quant") or "not quantized",
            "size_bytes": m.get("size_bytes"), "perplexity": ppl,
            "change": (ppl / base - 1) if ppl is not None and base else None,
        })  # fmt: skip
    return out
