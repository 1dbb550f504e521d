"""How option names and choices read in forms: "Learning-rate schedule", not `lr_schedule` or
"Lr schedule"; "LoRA", not "lora". Names the tables do not know are spelled out word by word."""

from __future__ import annotations

from typing import Any

NAMES = {
    "lr_schedule": "Learning-rate schedule",
    "max_grad_norm": "Gradient clipping (max norm)",
    "seq_len": "Sequence length (tokens)",
    "eval_every": "Evaluate every (steps)",
    "eval_rows": "Rows to evaluate on",
    "save_every": "Save a checkpoint every (steps)",
    "keep_checkpoints": "Checkpoints to keep",
    "stop_loss_factor": "Stop if the loss grows by",
    "sample_tokens": "Sample answer length (tokens)",
    "sample_prompts": "Sample prompts",
    "kd_weight": "Distillation weight",
    "kd_temperature": "Distillation temperature",
    "kd_hidden_weight": "Hidden-state distillation weight",
    "train_on_prompt": "Learn the prompts too",
    "group_by_length": "Batch rows of similar length",
    "validation_fraction": "Share held out for validation",
    "target_modules": "Layers to adapt",
    "top_p": "Top p",
    "top_k": "Top k",
    "min_p": "Min p",
    "dpo_loss": "DPO loss",
}
WORDS = {"lr": "learning rate", "kd": "distillation", "len": "length", "seq": "sequence",
         "eval": "evaluation", "id": "ID", "gguf": "GGUF", "mmr": "MMR", "lora": "LoRA",
         "gpu": "GPU", "cpu": "CPU", "kv": "KV", "mb": "MB"}  # fmt: skip
CHOICES = {"lora": "LoRA", "dora": "DoRA", "qlora": "QLoRA", "full": "Full fine-tuning",
           "prompt": "Prompt tuning (virtual tokens)",
           "fp32": "FP32", "bf16": "BF16", "fp16": "FP16", "cpu": "CPU", "cuda": "CUDA (NVIDIA)",
           "mps": "MPS (Apple)", "auto": "Automatic", "cosine": "Cosine", "linear": "Linear",
           "constant": "Constant", "sft": "The answers (SFT)",
           "dpo": "To prefer the chosen replies (DPO)",
           "orpo": "The chosen replies, preferring them (ORPO)", "sigmoid": "Sigmoid (DPO)",
           "ipo": "IPO"}  # fmt: skip


def field_label(name: str) -> str:
    if name in NAMES:
        return NAMES[name]
    words = [WORDS.get(w, w) for w in name.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def choice_label(value: Any) -> str:
    return CHOICES.get(str(value), str(value))
