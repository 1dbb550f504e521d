"""Prompt-tuned models: a peft prompt-tuning folder (a few learned virtual tokens) on a base model.

Prompt tuning (Lester et al., 2021) keeps every weight of the base and learns N embedding vectors
that are put in front of each input. The folder a training run writes (``adapter_config.json``
with ``peft_type`` ``PROMPT_TUNING`` and ``adapter_model.safetensors``, N x hidden numbers) is a
library entry of role ``adapter`` and format ``peft``, linked to its base like a GGUF LoRA
(``base_model_id`` in ``meta``), so several tasks share one base on disk.

Only transformers can run it: the virtual tokens are vectors, not token ids, and llama.cpp takes
token ids. ``load_torch_model`` loads the base (a GGUF through its torch copy) and ``wrap`` puts
the learned table in front of it (``VirtualTokens``); training uses peft's prompt-tuning model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services

KIND = "prompt_tuning"
LLAMA_CPP_CANNOT = (
    "llama.cpp cannot run a prompt-tuned model (its virtual tokens are vectors, not token ids); "
    "it runs in the transformers runtime"
)


def read_config(folder: Path) -> dict[str, Any] | None:
    """``adapter_config.json`` of a peft folder, or None when there is none."""
    file = folder / "adapter_config.json"
    if not file.is_file():
        return None
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{file} cannot be read ({exc}); train or copy the adapter again.") from exc
    if not isinstance(config, dict):
        raise UserError(f"{file} is not a JSON object; train or copy the adapter again.")
    return config


def read_folder(folder: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Library metadata of a peft folder; anything but prompt tuning is refused with what to do."""
    kind = str(config.get("peft_type") or "").upper()
    if kind != "PROMPT_TUNING":
        raise UserError(
            f"{folder} is a peft {kind or 'adapter'} folder, not a model. Hearth chats with LoRA "
            "adapters as GGUF files: train the run in Hearth and export its adapter (Training > "
            "Export), or merge it into its base model first."
        )
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        raise UserError(
            f"{folder} has no adapter_model.safetensors (Hearth reads safetensors only); save the "
            "prompt-tuning adapter with safetensors and import it again."
        )
    tokens, dim = config.get("num_virtual_tokens"), config.get("token_dim")
    if not isinstance(tokens, int) or tokens < 1 or not isinstance(dim, int) or dim < 1:
        raise UserError(f"{folder}/adapter_config.json names no virtual tokens or token size.")
    return {
        "format": "peft",
        "role": "adapter",
        "name": Path(os.path.abspath(folder)).name,
        "arch": None,
        "params": tokens * dim * int(config.get("num_transformer_submodules") or 1),
        "quant": None,
        "context_length": None,
        "chat_template": None,
        "size_bytes": sum(p.stat().st_size for p in folder.iterdir() if p.is_file()),
        "adapter": {"type": KIND, "virtual_tokens": tokens, "token_dim": dim},
    }


def hidden_size(model: dict[str, Any]) -> int | None:
    """The embedding width of a library chat model (None when its files do not say)."""
    path = Path(model["path"])
    if model["format"] == "gguf":
        from engine.models.gguf_meta import read_header

        value = read_header(path).fields.get(f"{model.get('arch')}.embedding_length")
    else:
        try:
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        value = (config.get("text_config") or {}).get("hidden_size") or config.get("hidden_size")
    return int(value) if isinstance(value, int) else None


def check_base(base: dict[str, Any], meta: dict[str, Any]) -> None:
    """Refuse a base the virtual tokens cannot go in front of, saying what to pick instead."""
    name = meta.get("name") or "The prompt-tuned adapter"
    if base.get("role") != "llm":
        raise UserError(
            f"{base['name']} is not a chat model; pick the model {name} was trained on."
        )
    if base.get("missing"):
        raise UserError(
            f"The files of {base['name']} are missing ({base['path']}); relink it first."
        )
    if not (base.get("capabilities") or {}).get("chat_transformers"):
        raise UserError(
            f"transformers cannot load {base['name']}, and a prompt-tuned model runs only in "
            "transformers; pick its Hugging Face folder (or a GGUF that Hearth can convert)."
        )
    width, dim = hidden_size(base), meta["adapter"]["token_dim"]
    if width is not None and width != dim:
        raise UserError(
            f"{name} holds {dim}-wide virtual tokens but {base['name']} embeds "
            f"tokens {width} wide; pick the model it was trained on."
        )


def base_of(services: Services, adapter: dict[str, Any]) -> dict[str, Any]:
    """The library entry of the model the virtual tokens go in front of."""
    if adapter.get("missing"):
        raise UserError(
            f"{adapter['name']} cannot be used: {adapter.get('missing_reason') or 'its folder is missing'}."
        )
    return services.library.get(adapter["base_model_id"])


def wrap(lm: Any, adapter: dict[str, Any]) -> Any:
    """``lm`` with the adapter's virtual tokens in front of every input (``VirtualTokens``);
    ``engine.models.gguf_to_torch.load_torch_model`` calls this for a prompt-tuned entry."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    file = Path(adapter["path"]) / "adapter_model.safetensors"
    try:
        table = load_file(file).get("prompt_embeddings")
    except (OSError, SafetensorError) as exc:
        raise UserError(f"{file} cannot be read ({exc}); train or import {adapter['name']} again.") from None  # fmt: skip
    width = lm.get_input_embeddings().embedding_dim
    if table is None or table.ndim != 2 or table.shape[1] != width:
        raise UserError(
            f"{file} holds no {width}-wide prompt_embeddings table; train or import "
            f"{adapter['name']} again."
        )
    return virtual_tokens_class()(lm, table)


def in_front(lm: Any, table: Any, input_ids: Any, attention_mask: Any = None) -> tuple[Any, Any]:
    """(the virtual tokens followed by the embedded ``input_ids``, the attention mask with the
    virtual tokens' ones first): the input of a prompt-tuned model. ``table`` is (n, H) -- the
    same for every row -- or (rows, n, H), as peft's ``get_prompt`` gives it."""
    import torch

    embeds = lm.get_input_embeddings()(input_ids)
    rows = input_ids.shape[0]
    prompt = table.to(embeds.device, embeds.dtype)
    if prompt.ndim == 2:
        prompt = prompt[None].expand(rows, -1, -1)
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    ones = attention_mask.new_ones((rows, prompt.shape[1]))
    return torch.cat([prompt, embeds], 1), torch.cat([ones, attention_mask], 1)


def generate(lm: Any, table: Any, input_ids: Any, attention_mask: Any = None, **kwargs: Any) -> Any:
    """``lm.generate`` with the rows of ``table`` (n, H) in front of ``input_ids``, returning the
    input ids followed by the new ones, as ``generate`` does.

    The prompt goes in as embeddings, so the first pass sees positions 0..n+T-1 -- what training
    saw -- and every cached step counts from there. (peft's own ``generate`` numbers the cached
    steps as if the virtual tokens were not there; its answers drift from the second token.)
    Stopping criteria see the input ids before the new ones, as usual; a repetition penalty
    covers the new tokens only, not the prompt.
    """
    import warnings

    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Prefixed(StoppingCriteria):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __call__(self, ids: Any, scores: Any, **kw: Any) -> Any:
            return self.inner(torch.cat([input_ids, ids.to(input_ids.device)], 1), scores, **kw)

    if kwargs.get("stopping_criteria"):
        kwargs["stopping_criteria"] = StoppingCriteriaList(Prefixed(c) for c in kwargs["stopping_criteria"])  # fmt: skip

    embeds, mask = in_front(lm, table, input_ids, attention_mask)
    with warnings.catch_warnings():  # the penalty's reach, said above
        warnings.filterwarnings("ignore", message=".*repetition_penalty.*inputs_embeds")
        new = lm.generate(inputs_embeds=embeds, attention_mask=mask, **kwargs)
    return torch.cat([input_ids, new.to(input_ids.device)], 1)


def virtual_tokens_class() -> type:
    import torch

    class VirtualTokens(torch.nn.Module):
        """A causal LM with learned vectors in front of its input. ``forward`` answers for the
        caller's positions only (the virtual ones are cut from the logits); ``generate`` returns
        what the plain model's would; anything else is the base model's."""

        def __init__(self, lm: Any, table: Any) -> None:
            super().__init__()
            self.lm = lm
            weight = next(lm.parameters())
            self.register_buffer("table", table.to(weight.device, weight.dtype), persistent=False)

        def __getattr__(self, name: str) -> Any:
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self._modules["lm"], name)

        def get_base_model(self) -> Any:
            return self.lm

        def forward(self, input_ids: Any, attention_mask: Any = None, **kwargs: Any) -> Any:
            embeds, mask = in_front(self.lm, self.table, input_ids, attention_mask)
            kwargs.pop("position_ids", None)
            out = self.lm(inputs_embeds=embeds, attention_mask=mask, **kwargs)
            if out.logits.shape[1] > input_ids.shape[1]:
                out.logits = out.logits[:, -input_ids.shape[1] :]
            return out

        def generate(self, input_ids: Any = None, attention_mask: Any = None, **kwargs: Any) -> Any:
            return generate(self.lm, self.table, input_ids, attention_mask, **kwargs)

    return VirtualTokens
