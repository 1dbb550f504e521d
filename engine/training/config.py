"""Training options: one dataclass whose fields carry their help text, range and choices.

The GUI renders its form (and tooltips) from ``fields_info()``; the CLI builds its flags from the
same fields (``engine.cli.train``), so a new option appears in both by adding one field here.
``TrainOptions.from_dict(values, preset=...)`` applies defaults, then a preset, then the given
values, and answers a ``UserError`` naming the field for anything unknown or out of range.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from engine.core.errors import UserError

METHODS = ("lora", "dora", "qlora", "full")
SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")


def _opt(default: Any, help: str, *, group: str, range: tuple | None = None,
         choices: tuple | None = None, cli: tuple[str, ...] = (), factory: Any = None) -> Any:  # fmt: skip
    meta = {"help": help, "group": group, "range": range, "choices": choices, "cli": cli}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainOptions:
    """Everything a training run can be told. Field metadata: help, group, range, choices, cli."""

    # -- method -------------------------------------------------------------------------------
    method: str = _opt("lora", "lora: small adapter matrices on a frozen model; dora: LoRA with "
                       "a learned magnitude (a little better, a little slower); qlora: LoRA on a "
                       "4-bit base (CUDA + bitsandbytes only); full: every weight (small models)",
                       group="method", choices=METHODS)  # fmt: skip
    rank: int = _opt(16, "LoRA rank: size of the adapter matrices (more = more capacity, more "
                     "memory)", group="lora", range=(1, 1024))  # fmt: skip
    alpha: float = _opt(32.0, "LoRA alpha: the adapter's output is scaled by alpha / rank",
                        group="lora", range=(0.0, 4096.0))  # fmt: skip
    dropout: float = _opt(0.05, "dropout on the adapter's input during training",
                          group="lora", range=(0.0, 0.9))  # fmt: skip
    target_modules: list[str] | None = _opt(  # noqa: RUF009 -- _opt returns a dataclasses.field
        None, "layers that get adapters (e.g. q_proj,v_proj); empty = every linear layer of the "
        "transformer blocks, detected per architecture", group="lora",
    )  # fmt: skip
    # -- schedule -----------------------------------------------------------------------------
    learning_rate: float = _opt(2e-4, "peak learning rate (LoRA: 1e-4..3e-4; full: 1e-5..5e-5)",
                                group="schedule", range=(1e-8, 10.0), cli=("--lr",))  # fmt: skip
    lr_schedule: str = _opt("cosine", "how the learning rate falls after warm-up",
                            group="schedule", choices=SCHEDULES)  # fmt: skip
    warmup_ratio: float = _opt(0.03, "fraction of the steps spent ramping the learning rate up",
                               group="schedule", range=(0.0, 0.5))  # fmt: skip
    weight_decay: float = _opt(0.0, "AdamW weight decay", group="schedule", range=(0.0, 1.0))
    max_grad_norm: float = _opt(1.0, "clip the gradient norm to this (0 = no clipping)",
                                group="schedule", range=(0.0, 1e6))  # fmt: skip
    epochs: float = _opt(1.0, "passes over the training rows (ignored when max_steps is set)",
                         group="schedule", range=(0.01, 1000.0))  # fmt: skip
    max_steps: int = _opt(0, "optimizer steps to run; 0 = as many as the epochs need",
                          group="schedule", range=(0, 10_000_000))  # fmt: skip
    batch_size: int = _opt(4, "rows per forward pass; memory grows with it",
                           group="schedule", range=(1, 4096), cli=("--batch",))  # fmt: skip
    gradient_accumulation: int = _opt(1, "forward passes per optimizer step (effective batch = "
                                      "batch_size x this, at the memory of one batch)",
                                      group="schedule", range=(1, 4096),
                                      cli=("--grad-accum",))  # fmt: skip
    # -- data ---------------------------------------------------------------------------------
    seq_len: int = _opt(512, "longest row in tokens; longer rows are cut (and left out when the "
                        "cut leaves no answer)", group="data", range=(16, 1 << 20))  # fmt: skip
    packing: bool = _opt(False, "join short rows into full-length blocks (each row still attends "
                         "only to itself): fewer padding tokens, faster on short rows",
                         group="data")  # fmt: skip
    group_by_length: bool = _opt(True, "batch rows of similar length together (less padding); "
                                 "the order is still shuffled and reproducible",
                                 group="data")  # fmt: skip
    train_on_prompt: bool = _opt(False, "also learn the prompt tokens (default: only the "
                                 "answers are learned)", group="data")  # fmt: skip
    template: str | None = _opt(None, "chat template for the rows: auto (the model's own, else a "
                                "plain transcript) or chatml, llama3, gemma, mistral, alpaca, "
                                "plain", group="data")  # fmt: skip
    validation_fraction: float = _opt(0.05, "rows held out for evaluation when the dataset has "
                                      "no validation split (0 = none)",
                                      group="data", range=(0.0, 0.5))  # fmt: skip
    # -- runtime ------------------------------------------------------------------------------
    gradient_checkpointing: bool = _opt(False, "recompute activations in the backward pass: much "
                                        "less memory, about 30% slower", group="runtime")  # fmt: skip
    precision: str = _opt("auto", "auto picks by device: fp32 on CPU, bf16 on GPUs that have it, "
                          "else fp16", group="runtime", choices=PRECISIONS)  # fmt: skip
    device: str = _opt("auto", "where to train: auto (cuda, then mps, then cpu)",
                       group="runtime", choices=DEVICES)  # fmt: skip
    seed: int = _opt(0, "random seed: the same seed, data and options give the same run",
                     group="runtime", range=(0, 2**31 - 1))  # fmt: skip
    save_every: int = _opt(50, "write a checkpoint every N steps (0 = only at the end and on "
                           "cancel)", group="runtime", range=(0, 10_000_000))  # fmt: skip
    keep_checkpoints: int = _opt(2, "how many recent checkpoints to keep", group="runtime",
                                 range=(1, 100))  # fmt: skip
    stop_loss_factor: float = _opt(4.0, "stop the run when the loss rises above this many times "
                                   "its starting value (exploding training)", group="runtime",
                                   range=(1.5, 1e6))  # fmt: skip
    # -- evaluation ---------------------------------------------------------------------------
    eval_every: int = _opt(50, "evaluate (validation loss, sample answers) every N steps (0 = "
                           "only at the end)", group="eval", range=(0, 10_000_000))  # fmt: skip
    eval_rows: int = _opt(200, "most validation rows used for the validation loss and "
                          "perplexity", group="eval", range=(1, 1_000_000))  # fmt: skip
    sample_prompts: list[str] = _opt(None, "prompts answered at each evaluation to watch the "  # noqa: RUF009 -- _opt returns a dataclasses.field
                                     "model learn (default: the first validation prompts)",
                                     group="eval", factory=list, cli=("--sample-prompt",))  # fmt: skip
    sample_tokens: int = _opt(48, "longest sample answer, in tokens", group="eval",
                              range=(1, 4096))  # fmt: skip

    # -- distillation -------------------------------------------------------------------------
    teacher: str | None = _opt(None, "library model id of a teacher: the loss becomes knowledge "
                               "distillation from it (KL between its next-token distribution and "
                               "the model's), mixed with cross-entropy on the text; recovers a "
                               "pruned model with its parent as teacher", group="distillation")  # fmt: skip
    kd_weight: float = _opt(0.5, "share of the loss that is the KL to the teacher (the rest is "
                            "cross-entropy on the text)", group="distillation", range=(0.0, 1.0))  # fmt: skip
    kd_temperature: float = _opt(2.0, "temperature softening both distributions; the KL is "
                                 "scaled by its square", group="distillation", range=(0.1, 20.0))  # fmt: skip
    kd_hidden_weight: float = _opt(0.0, "weight of hidden-state alignment: 1 - cosine between "
                                   "each layer's output and its teacher layer's (depth-pruned "
                                   "students map to the blocks they kept)", group="distillation",
                                   range=(0.0, 10.0))  # fmt: skip

    # ---------------------------------------------------------------------------------------
    @classmethod
    def from_dict(
        cls, values: dict[str, Any] | None = None, *, preset: str | None = None
    ) -> TrainOptions:
        """Defaults, then ``preset``, then ``values``; raises ``UserError`` naming a bad field."""
        if values is not None and not isinstance(values, dict):
            raise UserError("Training options must be an object of option names and values.")
        merged: dict[str, Any] = {}
        if preset:
            if preset not in PRESETS:
                raise UserError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
            merged.update(PRESETS[preset])
        for key, value in (values or {}).items():
            if value is not None or key in ("template", "target_modules", "teacher"):
                merged[key] = value
        known = {f.name: f for f in fields(cls)}
        for key in merged:
            if key not in known:
                raise UserError(
                    f"Unknown training option {key!r}; `hearth-engine train lora --help` lists them."
                )
        clean = {key: _check(known[key], value) for key, value in merged.items()}
        return cls(**clean)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _type_of(f: Any) -> Any:
    hints = typing.get_type_hints(TrainOptions)
    hint = hints[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and args:
        hint = args[0]
    return hint


def _check(f: Any, value: Any) -> Any:
    name, meta = f.name, f.metadata
    kind = _type_of(f)
    if value is None:
        if f.default is None or name in ("template", "target_modules", "teacher"):
            return None
        raise UserError(f"{name} needs a value.")
    if kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"{name} must be true or false, not {value!r}.")
        return value
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{name} must be a whole number, not {value!r}.")
    elif kind is float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise UserError(f"{name} must be a number, not {value!r}.")
        value = float(value)
    elif kind is str:
        if not isinstance(value, str) or not value.strip():
            raise UserError(f"{name} must be text, not {value!r}.")
        value = value.strip()
        if name == "template":
            from engine.chat.templates import check_choice

            check_choice(value)
            return value
    elif typing.get_origin(kind) is list:
        if isinstance(value, str):
            value = (
                [v.strip() for v in value.split(",") if v.strip()]
                if name == "target_modules"
                else [value]
            )
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise UserError(f"{name} must be a list of text values.")
        value = [v.strip() for v in value]
        if name == "target_modules" and not value:
            return None
        return value
    if meta.get("choices") and value not in meta["choices"]:
        raise UserError(f"{name} must be one of {', '.join(meta['choices'])}, not {value!r}.")
    if meta.get("range"):
        low, high = meta["range"]
        if not low <= value <= high:
            raise UserError(f"{name} must be from {low:g} to {high:g}, not {value!r}.")
    return value


PRESETS: dict[str, dict[str, Any]] = {
    # a few minutes on a laptop CPU: does the pipeline work, does the loss move?
    "quick": {"rank": 8, "alpha": 16.0, "max_steps": 30, "seq_len": 256, "batch_size": 2,
              "learning_rate": 3e-4, "warmup_ratio": 0.0, "save_every": 10, "eval_every": 10,
              "eval_rows": 32, "sample_tokens": 32},
    # one pass over the data with the usual LoRA settings
    "balanced": {"rank": 16, "alpha": 32.0, "epochs": 1.0, "max_steps": 0, "seq_len": 512,
                 "batch_size": 4, "learning_rate": 2e-4, "save_every": 100, "eval_every": 100},
    # several passes, a bigger adapter, an effective batch of 16
    "thorough": {"rank": 32, "alpha": 64.0, "dropout": 0.1, "epochs": 3.0, "max_steps": 0,
                 "seq_len": 1024, "batch_size": 4, "gradient_accumulation": 4,
                 "learning_rate": 1e-4, "warmup_ratio": 0.05, "save_every": 200,
                 "eval_every": 200},
}  # fmt: skip
PRESET_HELP = {
    "quick": "a short test run: does the pipeline work, does the loss go down (minutes)",
    "balanced": "one pass over the data with common LoRA settings",
    "thorough": "three passes, a larger adapter and an effective batch of 16 (slow)",
}


def fields_info() -> list[dict[str, Any]]:
    """Every option for forms: name, group, type, default, help, range, choices, cli flags."""
    out = []
    for f in fields(TrainOptions):
        kind = _type_of(f)
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        type_name = "list" if typing.get_origin(kind) is list else getattr(kind, "__name__", "str")
        out.append(
            {
                "name": f.name,
                "group": f.metadata["group"],
                "type": type_name,
                "default": default,
                "help": f.metadata["help"],
                "range": list(f.metadata["range"]) if f.metadata.get("range") else None,
                "choices": list(f.metadata["choices"]) if f.metadata.get("choices") else None,
                "cli": ["--" + f.name.replace("_", "-"), *f.metadata.get("cli", ())],
            }
        )
    return out


def presets_info() -> list[dict[str, Any]]:
    return [{"name": k, "help": PRESET_HELP[k], "values": dict(v)} for k, v in PRESETS.items()]
