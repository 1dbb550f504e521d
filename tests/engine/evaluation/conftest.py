"""Fixtures for the evaluation tests: a data root with tiny random models and small datasets."""

from __future__ import annotations

import json

import pytest

from engine.services import Services
from tests.engine.pruning.fixtures import build


@pytest.fixture
def services(hearth_home):
    svc = Services(hearth_home)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def model_root(tmp_path_factory):
    return tmp_path_factory.mktemp("eval-library-models")


@pytest.fixture
def llama_id(services, model_root) -> str:
    return services.library.import_model(build(model_root, "llama", layers=2), mode="reference", name="Tiny Llama")["id"]  # fmt: skip


@pytest.fixture
def gpt2_id(services, model_root) -> str:
    return services.library.import_model(build(model_root, "gpt2", layers=2), mode="reference", name="Tiny GPT-2")["id"]  # fmt: skip


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
