"""Fixtures for the fine-tuning tests: a data root with the tiny random Llama (2 layers, hidden 64,
byte-level BPE, ChatML template) and small datasets, and helpers that train a run in-process the
way its job does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.jobs.registry import SimpleContext
from engine.services import Services
from tests.engine.runtimes.fixtures import tiny_hf

EXTRA_KINDS = "tests.engine.jobkinds,tests.engine.training.jobkinds"


@pytest.fixture
def services(hearth_home: Path, monkeypatch):
    monkeypatch.setenv("HEARTH_EXTRA_JOB_MODULES", EXTRA_KINDS)
    svc = Services(hearth_home)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory) -> Path:
    return tiny_hf(tmp_path_factory.getbasetemp())


@pytest.fixture
def tiny_id(services, tiny_folder) -> str:
    return services.library.import_model(tiny_folder, mode="reference", name="Tiny")["id"]


def memo_rows(n: int = 12) -> list[dict[str, str]]:
    """A memorisable set: each answer follows from its prompt."""
    return [
        {
            "instruction": f"Say the word number {i}",
            "input": "",
            "output": f"word {i} is fox dog {i}",
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def import_dataset(services, tmp_path: Path, rows: list[Any], name: str = "memo") -> str:
    from engine.datasets.importer import run_import

    path = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    run_import(services, {"path": str(path), "name": name}, SimpleContext(services=services))
    return name


@pytest.fixture
def memo(services, tmp_path) -> str:
    return import_dataset(services, tmp_path, memo_rows())


FAST = {"max_steps": 12, "learning_rate": 1e-2, "batch_size": 4, "seq_len": 64, "rank": 8,
        "alpha": 16.0, "eval_every": 0, "save_every": 0, "sample_tokens": 8, "warmup_ratio": 0.0}  # fmt: skip


class StepContext(SimpleContext):
    """A recording context that asks to cancel once step ``cancel_at`` has finished."""

    def __init__(self, *, cancel_at: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.cancel_at = cancel_at

    def metrics(self, step: int, values: dict[str, float]) -> None:
        super().metrics(step, values)
        if self.cancel_at is not None and step >= self.cancel_at and "loss" in values:
            self.cancel_flag = True


def new_run(services, model_id: str, dataset: str, **options: Any) -> str:
    from engine.training.launch import create_run

    run, _plan = create_run(
        services, model_id=model_id, dataset=dataset, options={**FAST, **options}
    )
    return run["id"]


def train(services, run_id: str, ctx: SimpleContext | None = None) -> dict[str, Any]:
    from engine.training.trainer import LoraTrainer

    ctx = ctx or SimpleContext(services=services, params={"run_id": run_id})
    ctx.services = services
    return LoraTrainer(services, run_id, ctx).train()


def losses(services, run_id: str) -> dict[int, float]:
    from engine.training.runs import RunStore

    return {m["step"]: m["loss"] for m in RunStore(services).metrics(run_id) if "loss" in m}


def straight_and_resumed(services, model_id: str, dataset: str, *, cancel_at: int, **options: Any) -> tuple[dict[int, float], dict[int, float]]:  # fmt: skip
    """The per-step losses of a run trained straight through, and of the same run cancelled after
    step ``cancel_at`` and resumed from its checkpoint."""
    from engine.core.errors import Cancelled

    straight = new_run(services, model_id, dataset, **options)
    train(services, straight)
    interrupted = new_run(services, model_id, dataset, **options)
    try:
        train(services, interrupted, StepContext(services=services, cancel_at=cancel_at))
    except Cancelled:
        pass
    else:
        raise AssertionError(f"the run was not cancelled after step {cancel_at}")
    train(services, interrupted, StepContext(services=services, attempt=2))
    return losses(services, straight), losses(services, interrupted)
