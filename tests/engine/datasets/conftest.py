"""Fixtures for dataset tests: a data root with its Services, and helpers to write files and run
dataset steps the way their jobs do (with a recording context)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.jobs.registry import SimpleContext
from engine.services import Services


@pytest.fixture
def services(hearth_home: Path):
    svc = Services(hearth_home)
    yield svc
    svc.close()


@pytest.fixture
def ctx(services) -> SimpleContext:
    return SimpleContext(services=services)


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n")
    return path


def alpaca_rows(n: int, *, prefix: str = "Task") -> list[dict[str, str]]:
    return [
        {
            "instruction": f"{prefix} {i}: explain item {i}",
            "input": "",
            "output": f"Item {i} is fine.",
        }
        for i in range(n)
    ]


def import_rows(services, tmp_path: Path, rows: list[Any], name: str = "ds", **params: Any) -> dict:
    from engine.datasets.importer import run_import

    path = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    return run_import(
        services, {"path": str(path), "name": name, **params}, SimpleContext(services=services)
    )
