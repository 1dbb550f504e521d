"""LoRA adapters in the model library: a GGUF adapter is chatted with on top of a base GGUF.

An adapter's library entry keeps its link in ``meta``: ``base_model_id`` (the library id of the
GGUF chat model it was trained on) and ``adapter_scale`` (how strongly it is applied, 1.0 = as
trained). ``check_base`` decides at import whether a base fits -- a GGUF chat model of the same
architecture whose tensors have the shapes the adapter was trained against, the checks llama.cpp
itself makes when it loads the pair -- so a wrong pick is refused with a message rather than
failing at the first chat. ``adapter_fields`` adds what a Model object of an adapter shows: its
base, the base's context length and chat template, and why it cannot be used when the base is
gone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from engine.core.errors import NotFoundError, UserError
from engine.models import prompt_tuning
from engine.models.gguf_meta import adapter_problems, read_header

DEFAULT_SCALE = 1.0
MAX_SCALE = 10.0


def kind_label(model: dict[str, Any]) -> str:
    """What an adapter entry is, in words: "LoRA" or "prompt tuning"."""
    return "prompt tuning" if model.get("format") == "peft" else "LoRA"


def check_scale(scale: Any, meta: dict[str, Any] | None = None) -> float:
    """The adapter scale as a float, or ``UserError`` naming the allowed range."""
    if scale is None:
        return DEFAULT_SCALE
    if (meta or {}).get("format") == "peft":
        raise UserError("A prompt-tuned model has no scale: its virtual tokens are there or not.")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise UserError(
            f"The adapter scale must be a number from 0 to {MAX_SCALE:g}, not {scale!r}."
        )
    if not 0 <= scale <= MAX_SCALE:
        raise UserError(
            f"The adapter scale must be from 0 to {MAX_SCALE:g} (1 = as trained), not {scale}."
        )
    return float(scale)


def needs_base(name: str, meta: dict[str, Any]) -> UserError:
    """The refusal of an adapter imported without a base; ``data.needs_base`` lets the app ask
    for one (offering GGUF models of ``data.arch`` first, or for ``data.kind`` "prompt tuning"
    the models transformers runs) and import again."""
    kind = kind_label(meta)
    what = "a prompt-tuning adapter (learned virtual tokens)" if kind == "prompt tuning" else "a LoRA adapter"  # fmt: skip
    return UserError(
        f"{name} is {what}, not a whole model: pick the base model it was trained on "
        "(models.import base_model_id, or `hearth-engine models import PATH --base ID`).",
        data={"needs_base": True, "arch": meta.get("arch"), "kind": kind},
    )


def check_base(base: dict[str, Any], adapter_path: Path, adapter_meta: dict[str, Any]) -> None:
    """Refuse a base the adapter cannot be loaded on, saying why and what to pick instead."""
    name = adapter_meta.get("name") or adapter_path.name
    if adapter_meta.get("format") == "peft":  # virtual tokens in front of a transformers model
        prompt_tuning.check_base(base, {**adapter_meta, "name": name})
        return
    if base.get("role") == "adapter":
        raise UserError(
            f"{base['name']} is itself an adapter; pick the GGUF chat model {name} was trained on."
        )
    if base.get("role") != "llm":
        raise UserError(
            f"{base['name']} is an embedding model; pick the GGUF chat model {name} was trained on."
        )
    if base.get("format") != "gguf":
        raise UserError(
            f"{base['name']} is a Hugging Face folder, but llama.cpp applies LoRA adapters to GGUF "
            "models: pick the GGUF of the same model (export it to GGUF first if you have none)."
        )
    if base.get("missing"):
        raise UserError(
            f"The file of {base['name']} is missing ({base['path']}); relink or re-import it "
            "before adding adapters to it."
        )
    want, have = adapter_meta.get("arch"), base.get("arch")
    if want and have and want != have:
        raise UserError(
            f"{name} was trained on a {want!r} model but {base['name']} is {have!r}; pick the "
            "base model the adapter was trained on."
        )
    problems = adapter_problems(read_header(adapter_path), read_header(base["path"]))
    if problems:
        more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
        raise UserError(
            f"{name} does not fit {base['name']}: {'; '.join(problems[:2])}{more}. It was trained "
            "on another model; pick the base model it was trained on."
        )


def find_base(library: Any, base_model_id: Any) -> dict[str, Any]:
    if not isinstance(base_model_id, str) or not base_model_id:
        raise UserError("base_model_id must be the id of a model in the library.")
    try:
        return library.get(base_model_id)
    except NotFoundError:
        raise UserError(
            f"No model with id {base_model_id!r} to use as the base; `hearth-engine models list` "
            "shows the ids."
        ) from None


def adapter_fields(meta: dict[str, Any], base: dict[str, Any] | None, own_missing: bool) -> dict[str, Any]:  # fmt: skip
    """Model-object fields of an adapter entry, given its base's Model (None: base removed)."""
    base_id = meta.get("base_model_id")
    reason = None
    if own_missing:
        reason = "the adapter file is missing"
    elif base is None:
        reason = (
            f"its base model ({base_id}) was removed from the library; import the base again and "
            "relink the adapter (models.set_adapter), or remove the adapter"
        )
    elif base.get("missing"):
        reason = f"the file of its base model {base['name']} is missing ({base['path']})"
    return {
        "base_model_id": base_id,
        "base_name": base["name"] if base else None,
        "base_path": base["path"] if base else None,
        "base_size_bytes": base.get("size_bytes") if base else None,
        "adapter_scale": float(meta.get("adapter_scale", DEFAULT_SCALE)),
        "lora": meta.get("adapter"),
        "virtual_tokens": (meta.get("adapter") or {}).get("virtual_tokens"),
        "context_length": base.get("context_length") if base else None,
        "chat_template": meta.get("chat_template") or (base.get("chat_template") if base else None),
        "missing": reason is not None,
        "missing_reason": reason,
    }
