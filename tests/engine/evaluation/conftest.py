"""Fixtures for the evaluation tests: a data root with tiny random models and small datasets."""

from __future__ import annotations

import json

from tests.engine.bias.conftest import (  # the same tiny models
    gpt2_id,
    llama_id,
    model_root,
    services,
)

__all__ = ["gpt2_id", "llama_id", "model_root", "services"]

QA = [
    {"instruction": "What is the capital of France?", "output": "Paris"},
    {"instruction": "What is 2 + 2?", "output": "four"},
    {"instruction": "Name a colour of the sky.", "output": "blue"},
    {"instruction": "Who wrote Hamlet?", "output": "William Shakespeare"},
    {"instruction": "What do bees make?", "output": "honey"},
]
CHOICE = [
    {
        "question": "What is the capital of France?",
        "choices": ["Berlin", "Paris", "Rome"],
        "answer": 1,
    },
    {"question": "Which is a planet?", "choices": ["Mars", "Moon", "Sun"], "answer": "A"},
    {"question": "What do bees make?", "choices": ["honey", "silk"], "answer": "honey"},
]


def import_rows(services, tmp_path, name: str, rows: list[dict]) -> str:
    from engine.cli import main

    path = tmp_path / f"{name}.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert main(["data", "import", str(path), "--name", name]) == 0
    return name
