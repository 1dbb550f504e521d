"""Fixtures for the pruning tests: a data root with tiny random models in the library."""

from __future__ import annotations

import pytest

from engine.services import Services
from tests.engine.pruning.fixtures import build

EXTRA_KINDS = "tests.engine.jobkinds,tests.engine.pruning.jobkinds"


@pytest.fixture
def services(hearth_home, monkeypatch):
    monkeypatch.setenv("HEARTH_EXTRA_JOB_MODULES", EXTRA_KINDS)
    svc = Services(hearth_home)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def model_root(tmp_path_factory):
    return tmp_path_factory.mktemp("pruning-library-models")


@pytest.fixture
def llama_id(services, model_root) -> str:
    return services.library.import_model(build(model_root, "llama"), mode="reference", name="Tiny Llama")["id"]  # fmt: skip


@pytest.fixture
def gemma_id(services, model_root) -> str:
    return services.library.import_model(build(model_root, "gemma3"), mode="reference", name="Tiny Gemma")["id"]  # fmt: skip


@pytest.fixture
def text_file(tmp_path):
    from tests.engine.pruning.fixtures import TEXT

    path = tmp_path / "calibration.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path
