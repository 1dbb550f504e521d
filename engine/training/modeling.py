"""The model a run trains: the base loaded for the method and device, with adapters attached.

- lora / dora: the base through ``engine.models.gguf_to_torch`` (a GGUF is converted once), frozen,
  with peft LoRA (``use_dora`` for DoRA) on the target modules.
- qlora: the base loaded in 4 bits (NF4, double quantization) by bitsandbytes, which needs CUDA;
  without it the run is refused with what to do instead (``check_method``).
- full: every weight trainable, no adapter.

Target modules are detected per architecture: every ``nn.Linear`` inside the transformer blocks
(attention and MLP projections), never the embeddings or the LM head. Precision is chosen by
device: fp32 on CPU and MPS, bf16 on CUDA GPUs that support it, else fp16 (with loss scaling).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services

_BLOCK_MARKERS = (".layers.", ".h.", ".blocks.", ".block.", ".decoder.layers.")
QLORA_REASON = (
    "QLoRA loads the model in 4 bits with bitsandbytes, which needs an NVIDIA GPU with CUDA; "
    "{why}. Use method lora (same adapter, the base stays in full precision) or dora instead."
)


def check_method(method: str, device: str) -> None:
    """Raise ``UserError`` when ``method`` cannot run on this machine (QLoRA without CUDA)."""
    if method != "qlora":
        return
    from engine.core.devices import best_device

    if device not in ("auto", "cuda"):
        raise UserError(QLORA_REASON.format(why=f"device is set to {device}"))
    if best_device() != "cuda":
        raise UserError(QLORA_REASON.format(why="this machine has no CUDA GPU"))
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError(
            QLORA_REASON.format(why="the bitsandbytes package is not installed")
            + " Or install it: pip install bitsandbytes."
        )


def pick_device(option: str) -> str:
    if option != "auto":
        return option
    from engine.core.devices import best_device

    return best_device()


def pick_precision(option: str, device: str) -> str:
    if option != "auto":
        return option
    if device == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def torch_dtype(precision: str) -> Any:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


@dataclass
class Loaded:
    model: Any  # the trainable module (peft-wrapped for adapters)
    tokenizer: Any
    device: str
    precision: str
    targets: list[str]
    trainable_params: int
    total_params: int


def detect_targets(lm: Any) -> list[str]:
    """Names (last component) of the linear layers inside the transformer blocks."""
    import torch

    found: list[str] = []
    for name, module in lm.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        dotted = f".{name}."
        if not any(marker in dotted for marker in _BLOCK_MARKERS):
            continue
        leaf = name.rsplit(".", 1)[-1]
        if leaf not in found:
            found.append(leaf)
    if not found:
        raise UserError(
            "No linear layers were found in this model's transformer blocks; set target_modules "
            "to the names of the layers to adapt."
        )
    return found


def check_trainable(model: dict[str, Any]) -> None:
    """Raise ``UserError`` saying why ``model`` cannot be trained here, if it cannot."""
    if model.get("role") == "adapter":
        base = model.get("base_name") or "the model it was trained on"
        raise UserError(f"{model['name']} is a LoRA adapter; to train, choose its base ({base}).")
    if model.get("role") != "llm":
        raise UserError(f"{model['name']} is an embedding model; choose a chat model to train.")
    if not model["capabilities"].get("train"):
        raise UserError(
            f"{model['name']} cannot be trained here: transformers cannot load GGUF models of "
            f"architecture {model.get('arch')!r}. Import the model's original Hugging Face folder "
            "(config.json + safetensors) to train it."
        )
    if model.get("missing"):
        raise UserError(
            f"The files of {model['name']} are missing ({model['path']}); import it again."
        )


def load_base(services: Services, model: dict[str, Any], *, method: str, device: str, precision: str, ctx: Any = None) -> tuple[Any, Any]:  # fmt: skip
    """(transformers model, tokenizer) of ``model`` ready for ``method`` on ``device``."""
    from engine.models.gguf_to_torch import load_torch_model

    check_trainable(model)
    if method == "qlora":
        return _load_4bit(services, model, ctx)
    try:
        lm, tok = load_torch_model(
            model, services=services, device=device, dtype=torch_dtype(precision), ctx=ctx
        )
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"{model['name']} could not be loaded for training: {exc}") from exc
    return lm, tok


def _load_4bit(services: Services, model: dict[str, Any], ctx: Any) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from engine.models import gguf_to_torch

    if not torch.cuda.is_available():
        raise UserError(QLORA_REASON.format(why="torch sees no CUDA device"))
    if model["format"] == "gguf":
        folder = Path(gguf_to_torch.convert(model["id"], services, ctx)["torch_path"])
    else:
        folder = Path(model["path"])
    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )
    lm = AutoModelForCausalLM.from_pretrained(
        folder, quantization_config=quant, device_map={"": 0}, dtype=compute, local_files_only=True
    )
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return lm, tok


def prepare(lm: Any, tok: Any, options: Any, *, device: str, precision: str) -> Loaded:
    """Attach adapters (or unfreeze everything) according to ``options.method``."""
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    lm.config.use_cache = False
    targets: list[str] = []
    if options.method == "full":
        for p in lm.parameters():
            p.requires_grad_(True)
        model = lm
    elif options.method == "prompt":
        model = _prompt_tuning(lm, tok, options)
    else:
        from peft import LoraConfig, get_peft_model

        if options.method == "qlora":
            from peft import prepare_model_for_kbit_training

            lm = prepare_model_for_kbit_training(
                lm, use_gradient_checkpointing=options.gradient_checkpointing
            )
        targets = list(options.target_modules or detect_targets(lm))
        config = LoraConfig(
            r=options.rank,
            lora_alpha=options.alpha,
            lora_dropout=options.dropout,
            target_modules=targets,
            use_dora=options.method == "dora",
            bias="none",
            task_type="CAUSAL_LM",
        )
        try:
            model = get_peft_model(lm, config)
        except ValueError as exc:
            raise UserError(
                f"The adapter could not be attached: {exc}. Check target_modules."
            ) from exc
    if options.gradient_checkpointing:
        lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return Loaded(model, tok, device, precision, targets, trainable, total)


def _prompt_tuning(lm: Any, tok: Any, options: Any) -> Any:
    """``lm`` frozen, with ``virtual_tokens`` trainable embeddings in front of every input. They
    start as the embeddings of ``prompt_init``'s tokens (repeated to fill them), else of random
    vocabulary tokens (Lester et al. found both better than random vectors). The embedding
    layer's own output is copied, so a model that scales its embeddings (Gemma) gets virtual
    tokens on the scale of its real ones."""
    import torch
    from peft import PromptTuningConfig, get_peft_model

    n = options.virtual_tokens
    embed = lm.get_input_embeddings()
    if options.prompt_init:
        ids = tok(options.prompt_init, add_special_tokens=False)["input_ids"] or [0]
        ids = (ids * (n // len(ids) + 1))[:n]
    else:
        generator = torch.Generator().manual_seed(options.seed)
        ids = torch.randint(0, min(embed.num_embeddings, len(tok)), (n,), generator=generator).tolist()  # fmt: skip
    config = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n,
                                token_dim=embed.embedding_dim, num_transformer_submodules=1)  # fmt: skip
    model = get_peft_model(lm, config)
    with torch.no_grad():
        start = embed(torch.tensor(ids, device=embed.weight.device))
        table = model.prompt_encoder["default"].embedding.weight
        table.copy_(start.to(table.dtype))
    return model


def autocast(device: str, precision: str) -> Any:
    """The autocast context for a forward pass (a no-op in fp32)."""
    import contextlib

    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    kind = "cuda" if device.startswith("cuda") else device
    return torch.autocast(kind, dtype=torch_dtype(precision))
