"""Training options: one ``engine.core.options`` class whose fields carry help, range and choices.

The GUI renders its form (and tooltips) from ``fields_info()``; the CLI builds its flags from the
same fields (``engine.cli.train``), so a new option appears in both by adding one field here.
``TrainOptions.from_dict(values, preset=...)`` applies defaults, then a preset, then the given
values, and answers a ``UserError`` naming the field for anything unknown or out of range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.core.errors import UserError
from engine.core.options import Options, option

METHODS = ("lora", "dora", "qlora", "full", "prompt")
SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")
OBJECTIVES = ("sft", "dpo", "orpo")  # engine.training.preference: dpo and orpo
DPO_LOSSES = ("sigmoid", "ipo")


def _template(value: Any) -> str:
    from engine.chat.templates import check_choice

    if not isinstance(value, str) or not value.strip():
        raise UserError(f"template must be a template name, not {value!r}.")
    check_choice(value.strip())
    return value.strip()


def _teacher(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"teacher must be a library model id, not {value!r}.")
    return value.strip()


def _init_text(value: Any) -> str | None:
    if not isinstance(value, str):
        raise UserError(f"prompt_init must be text, not {value!r}.")
    return value.strip() or None


def _text_list(name: str, *, comma: bool = False) -> Any:
    def check(value: Any) -> list[str] | None:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")] if comma else [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UserError(f"{name} must be a list of text values.")
        value = [v.strip() for v in value if v.strip()]
        return value or None if comma else value

    return check


@dataclass
class TrainOptions(Options):
    """Everything a training run can be told. Field metadata: help, group, range, choices, cli."""

    WHAT = "training option"
    HINT = "`hearth-engine train lora --help` lists them"

    # -- method -------------------------------------------------------------------------------
    method: str = option("lora", "lora: small adapter matrices on a frozen model; dora: LoRA with "
                       "a learned magnitude (a little better, a little slower); qlora: LoRA on a "
                       "4-bit base (CUDA + bitsandbytes only); full: every weight (small models); "
                       "prompt: prompt tuning, a few learned virtual tokens in front of every "
                       "input, the model frozen (tens of KB per task; chats in transformers, "
                       "llama.cpp cannot run it)",
                       group="method", choices=METHODS)  # fmt: skip
    rank: int = option(16, "LoRA rank: size of the adapter matrices (more = more capacity, more "
                     "memory)", group="lora", range=(1, 1024))  # fmt: skip
    alpha: float = option(32.0, "LoRA alpha: the adapter's output is scaled by alpha / rank",
                        group="lora", range=(0.0, 4096.0))  # fmt: skip
    dropout: float = option(0.05, "dropout on the adapter's input during training",
                          group="lora", range=(0.0, 0.9))  # fmt: skip
    target_modules: list[str] | None = option(
        None, "layers that get adapters (e.g. q_proj,v_proj); empty = every linear layer of the "
        "transformer blocks, detected per architecture", group="lora",
        check=_text_list("target_modules", comma=True),
    )  # fmt: skip
    virtual_tokens: int = option(20, "prompt tuning: how many virtual tokens are learned in front of "
                               "every input (each is one embedding vector; the model stays "
                               "frozen)", group="prompt", range=(1, 512))  # fmt: skip
    prompt_init: str | None = option(None, "prompt tuning: a text the virtual tokens start from "
                                   "(its tokens' embeddings, repeated to fill them), e.g. a short "
                                   "task description; empty = embeddings of random vocabulary "
                                   "tokens", group="prompt", check=_init_text)  # fmt: skip
    # -- schedule -----------------------------------------------------------------------------
    learning_rate: float = option(2e-4, "peak learning rate (LoRA: 1e-4..3e-4; full: 1e-5..5e-5; "
                                "DPO and ORPO, about ten times lower; prompt tuning: 1e-2..3e-1)",
                                group="schedule", range=(1e-8, 10.0), cli=("--lr",))  # fmt: skip
    lr_schedule: str = option("cosine", "how the learning rate falls after warm-up",
                            group="schedule", choices=SCHEDULES)  # fmt: skip
    warmup_ratio: float = option(0.03, "fraction of the steps spent ramping the learning rate up",
                               group="schedule", range=(0.0, 0.5))  # fmt: skip
    weight_decay: float = option(0.0, "AdamW weight decay", group="schedule", range=(0.0, 1.0))
    max_grad_norm: float = option(1.0, "clip the gradient norm to this (0 = no clipping)",
                                group="schedule", range=(0.0, 1e6))  # fmt: skip
    epochs: float = option(1.0, "passes over the training rows (ignored when max_steps is set)",
                         group="schedule", range=(0.01, 1000.0))  # fmt: skip
    max_steps: int = option(0, "optimizer steps to run; 0 = as many as the epochs need",
                          group="schedule", range=(0, 10_000_000))  # fmt: skip
    batch_size: int = option(2, "rows per forward pass; memory grows with it",
                           group="schedule", range=(1, 4096), cli=("--batch",))  # fmt: skip
    gradient_accumulation: int = option(2, "forward passes per optimizer step (effective batch = "
                                      "batch_size x this, at the memory of one batch)",
                                      group="schedule", range=(1, 4096),
                                      cli=("--grad-accum",))  # fmt: skip
    # -- data ---------------------------------------------------------------------------------
    seq_len: int = option(512, "longest row in tokens; longer rows are cut (and left out when the "
                        "cut leaves no answer)", group="data", range=(16, 1 << 20))  # fmt: skip
    packing: bool = option(False, "join short rows into full-length blocks (each row still attends "
                         "only to itself): fewer padding tokens, faster on short rows",
                         group="data")  # fmt: skip
    group_by_length: bool = option(True, "batch rows of similar length together (less padding); "
                                 "the order is still shuffled and reproducible",
                                 group="data")  # fmt: skip
    train_on_prompt: bool = option(False, "also learn the prompt tokens (default: only the "
                                 "answers are learned); orpo: its NLL term covers the prompts, as "
                                 "TRL's does, while the replies are still compared alone",
                                 group="data")  # fmt: skip
    template: str | None = option(None, "chat template for the rows: auto (the model's own, else a "
                                "plain transcript) or chatml, llama3, gemma, mistral, alpaca, "
                                "plain", group="data", check=_template)  # fmt: skip
    validation_fraction: float = option(0.05, "rows held out for evaluation when the dataset has "
                                      "no validation split (0 = none)",
                                      group="data", range=(0.0, 0.5))  # fmt: skip
    # -- runtime ------------------------------------------------------------------------------
    gradient_checkpointing: bool = option(False, "recompute activations in the backward pass: much "
                                        "less memory, about 30% slower", group="runtime")  # fmt: skip
    precision: str = option("auto", "auto picks by device: fp32 on CPU, bf16 on GPUs that have it, "
                          "else fp16", group="runtime", choices=PRECISIONS)  # fmt: skip
    device: str = option("auto", "where to train: auto (cuda, then mps, then cpu)",
                       group="runtime", choices=DEVICES)  # fmt: skip
    seed: int = option(0, "random seed: the same seed, data and options give the same run",
                     group="runtime", range=(0, 2**31 - 1))  # fmt: skip
    save_every: int = option(50, "write a checkpoint every N steps (0 = only at the end and on "
                           "cancel)", group="runtime", range=(0, 10_000_000))  # fmt: skip
    keep_checkpoints: int = option(2, "how many recent checkpoints to keep", group="runtime",
                                 range=(1, 100))  # fmt: skip
    stop_loss_factor: float = option(4.0, "stop the run when the loss rises above this many times "
                                   "its starting value (exploding training)", group="runtime",
                                   range=(1.5, 1e6))  # fmt: skip
    # -- evaluation ---------------------------------------------------------------------------
    eval_every: int = option(50, "evaluate (validation loss, sample answers) every N steps (0 = "
                           "only at the end)", group="eval", range=(0, 10_000_000))  # fmt: skip
    eval_rows: int = option(200, "most validation rows used for the validation loss and "
                          "perplexity", group="eval", range=(1, 1_000_000))  # fmt: skip
    sample_prompts: list[str] = option(None, "prompts answered at each evaluation to watch the "
                                     "model learn (default: the first validation prompts)",
                                     group="eval", factory=list, cli=("--sample-prompt",),
                                     check=_text_list("sample_prompts"))  # fmt: skip
    sample_tokens: int = option(48, "longest sample answer, in tokens", group="eval",
                              range=(1, 4096))  # fmt: skip

    # -- preference ---------------------------------------------------------------------------
    objective: str = option("sft", "what the run learns: sft, the answers of the rows; dpo, to "
                          "prefer each pair's chosen reply over its rejected one, measured "
                          "against the starting model; orpo, the chosen replies plus an odds "
                          "ratio against the rejected ones (no reference model). dpo and orpo "
                          "need a preference dataset", group="preference", choices=OBJECTIVES)  # fmt: skip
    beta: float = option(0.1, "dpo: how far the model may move from the starting model (lower = "
                       "further); orpo: the weight of the odds-ratio term", group="preference",
                       range=(0.001, 10.0))  # fmt: skip
    dpo_loss: str = option("sigmoid", "sigmoid: the DPO loss; ipo: the squared, length-normalised "
                         "IPO loss, which overfits less on small sets", group="preference",
                         choices=DPO_LOSSES)  # fmt: skip
    label_smoothing: float = option(0.0, "dpo sigmoid: the share of pairs assumed mislabelled "
                                  "(conservative DPO); 0 = trust every pair", group="preference",
                                  range=(0.0, 0.49))  # fmt: skip

    # -- distillation -------------------------------------------------------------------------
    teacher: str | None = option(None, "library model id of a teacher: the loss becomes knowledge "
                               "distillation from it (KL between its next-token distribution and "
                               "the model's), mixed with cross-entropy on the text; recovers a "
                               "pruned model with its parent as teacher", group="distillation",
                               check=_teacher)  # fmt: skip
    kd_weight: float = option(0.5, "share of the loss that is the KL to the teacher (the rest is "
                            "cross-entropy on the text)", group="distillation", range=(0.0, 1.0))  # fmt: skip
    kd_temperature: float = option(2.0, "temperature softening both distributions; the KL is "
                                 "scaled by its square", group="distillation", range=(0.1, 20.0))  # fmt: skip
    kd_hidden_weight: float = option(0.0, "weight of hidden-state alignment: 1 - cosine between "
                                   "each layer's output and its teacher layer's (depth-pruned "
                                   "students map to the blocks they kept)", group="distillation",
                                   range=(0.0, 10.0))  # fmt: skip

    # ---------------------------------------------------------------------------------------
    @property
    def on_pairs(self) -> bool:
        """DPO and ORPO learn from the (chosen, rejected) pairs of a preference dataset."""
        return self.objective != "sft"

    @property
    def prompt_labels(self) -> bool:
        """Whether prompt tokens get labels: ``train_on_prompt`` for SFT. A preference run scores
        its replies alone (ORPO's NLL term adds the prompts itself)."""
        return self.train_on_prompt and not self.on_pairs

    def rate_warning(self) -> str | None:
        """What is wrong with a learning rate far from what the method and objective take."""
        lr = self.learning_rate
        if self.method == "prompt" and lr < 1e-3:
            return (f"learning_rate {lr:g} is low for prompt tuning: virtual tokens usually take "
                    "1e-2 to 3e-1 (3e-2 is a good start).")  # fmt: skip
        high = 1e-4 if self.method != "full" else 1e-5
        if self.on_pairs and lr > high:
            return (f"learning_rate {lr:g} is high for {self.objective.upper()}: preference tuning "
                    f"usually takes {high / 20:g} to {high / 2:g}; a high rate makes the model "
                    "repeat the preferred style until it says nothing else.")  # fmt: skip
        return None

    def validate(self) -> None:
        if self.method == "prompt":
            self._validate_prompt()
        if not self.on_pairs:
            return
        what = self.objective.upper()
        if self.packing:
            raise UserError(f"packing joins rows into blocks, which {what} cannot do with pairs "
                            "of replies; turn packing off.")  # fmt: skip
        if self.teacher:
            raise UserError(f"{what} does not take a teacher; distil with the objective sft.")
        if self.dpo_loss == "ipo" and self.label_smoothing:
            raise UserError("label_smoothing applies to the sigmoid DPO loss, not ipo; set it to 0.")  # fmt: skip

    def _validate_prompt(self) -> None:
        why = ("packing" if self.packing else "a teacher" if self.teacher
               else self.objective.upper() if self.on_pairs else None)  # fmt: skip
        if why:
            raise UserError(f"Prompt tuning learns virtual tokens from the answers of single rows "
                            f"and does not work with {why}; use the method lora for that, or "
                            "turn it off.")  # fmt: skip

    @classmethod
    def from_dict(  # type: ignore[override]
        cls, values: dict[str, Any] | None = None, *, preset: str | None = None
    ) -> TrainOptions:
        """Defaults, then ``preset``, then ``values``; raises ``UserError`` naming a bad field."""
        base: dict[str, Any] = {}
        if preset:
            if preset not in PRESETS:
                raise UserError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
            base = dict(PRESETS[preset])
        given = values or {}
        # a method's own defaults win over the preset's (LoRA) values, not over given ones
        own = METHOD_DEFAULTS.get(given.get("method", base.get("method")), {})  # type: ignore[call-overload]
        return super().from_dict({**own, **given}, base=base)


PRESETS: dict[str, dict[str, Any]] = {
    # a few minutes on a laptop CPU: does the pipeline work, does the loss move?
    "quick": {"rank": 8, "alpha": 16.0, "max_steps": 30, "seq_len": 256, "batch_size": 2,
              "gradient_accumulation": 1, "learning_rate": 3e-4, "warmup_ratio": 0.0,
              "save_every": 10, "eval_every": 10, "eval_rows": 32, "sample_tokens": 32},
    # one pass over the data with the usual LoRA settings (an effective batch of 4)
    "balanced": {"rank": 16, "alpha": 32.0, "epochs": 1.0, "max_steps": 0, "seq_len": 512,
                 "batch_size": 2, "gradient_accumulation": 2, "learning_rate": 2e-4,
                 "save_every": 100, "eval_every": 100},
    # several passes, a bigger adapter, an effective batch of 16; one row per forward pass keeps
    # longer rows within a laptop's memory
    "thorough": {"rank": 32, "alpha": 64.0, "dropout": 0.1, "epochs": 3.0, "max_steps": 0,
                 "seq_len": 1024, "batch_size": 1, "gradient_accumulation": 16,
                 "learning_rate": 1e-4, "warmup_ratio": 0.05, "save_every": 200,
                 "eval_every": 200},
}  # fmt: skip
# what a method takes where the usual value does not fit: virtual tokens learn at ~100x LoRA's rate
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {"prompt": {"learning_rate": 3e-2}}
PRESET_HELP = {
    "quick": "a short test run: does the pipeline work, does the loss go down (minutes)",
    "balanced": "one pass over the data with common LoRA settings",
    "thorough": "three passes, a larger adapter and an effective batch of 16 (slow)",
}


def fields_info() -> list[dict[str, Any]]:
    """Every option for forms: name, group, type, default, help, range, choices, cli flags."""
    keys = ("name", "group", "type", "default", "help", "range", "choices", "cli")
    return [{k: d[k] for k in keys} for d in TrainOptions.describe()]


def presets_info() -> list[dict[str, Any]]:
    return [{"name": k, "help": PRESET_HELP[k], "values": dict(v)} for k, v in PRESETS.items()]
