"""Fixtures for runtime tests: a data root with the bundled Gemma, and a tiny random HF model."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.services import Services
from tests.engine.runtimes.fixtures import bundled_home, tiny_hf


@pytest.fixture
def services(hearth_home: Path, tmp_path_factory):
    bundled_home(hearth_home)
    svc = Services(hearth_home)
    svc.library.ensure_bundled()
    yield svc
    svc.runtimes.close()
    svc.close()


@pytest.fixture
def gemma_id(services) -> str:
    return next(m["id"] for m in services.library.list() if m["bundled"] and m["role"] == "llm")


@pytest.fixture(scope="session")
def tiny_hf_folder(tmp_path_factory) -> Path:
    return tiny_hf(tmp_path_factory.getbasetemp())


@pytest.fixture
def tiny_id(services, tiny_hf_folder) -> str:
    return services.library.import_model(tiny_hf_folder, mode="reference", name="Tiny Llama")["id"]
