"""Fixtures for the bias tests: a data root with tiny random models (the pruning tests' builder)."""

from __future__ import annotations

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
    return tmp_path_factory.mktemp("bias-library-models")


@pytest.fixture
def llama_id(services, model_root) -> str:
    return services.library.import_model(build(model_root, "llama", layers=4), mode="reference", name="Tiny Llama")["id"]  # fmt: skip


@pytest.fixture
def gpt2_id(services, model_root) -> str:
    return services.library.import_model(build(model_root, "gpt2", layers=3), mode="reference", name="Tiny GPT-2")["id"]  # fmt: skip


@pytest.fixture
def text_file(tmp_path):
    from tests.engine.pruning.fixtures import TEXT

    path = tmp_path / "calibration.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path
