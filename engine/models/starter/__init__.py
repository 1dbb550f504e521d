"""The Hearth starter adapter: a LoRA for the bundled Gemma 3 270M that makes it answer.

The bundled Gemma is a base model: it continues text rather than answering, runs on to the token
cap and invents source numbers. The starter adapter (``hearth-starter.gguf`` here, a llama.cpp
LoRA of a few MB) was trained with Hearth's own pipeline on ``instructions.jsonl`` in this
folder -- grounded answers in the exact shape ``docs ask`` sends, and short hand-written chat
turns -- and is registered as a bundled model on the bundled Gemma, the default chat model. The
user can remove it like any bundled model (it stays removed) and chat with the bare base.

How the instruction set and the adapter are made (``RECIPE``) is written down in
``docs/starter-adapter.md``; ``benchmarks/bench_starter.py`` measures it against the base. Its
library entry: ``engine.models.bundled.starter_model``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ADAPTER_FILE = HERE / "hearth-starter.gguf"
INSTRUCTIONS = HERE / "instructions.jsonl"
KEY = "hearth-starter-gemma-3-270m"
NAME = "Hearth starter"

# the options of the training run that made ``hearth-starter.gguf`` (hearth-engine train lora)
RECIPE: dict[str, Any] = {
    "method": "lora",
    "rank": 16,
    "alpha": 32,
    "dropout": 0.05,
    "learning_rate": 2e-4,
    "lr_schedule": "cosine",
    "warmup_ratio": 0.05,
    "epochs": 1,
    "batch_size": 4,
    "gradient_accumulation": 2,
    "seq_len": 1280,
    "seed": 0,
}
