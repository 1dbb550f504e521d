"""Fixtures for chat tests: the runtime tests' data root with the bundled Gemma and tiny random
HF model, plus an in-process RPC client."""

from __future__ import annotations

import pytest

from tests.engine.runtimes.conftest import gemma_id, services, tiny_hf_folder, tiny_id

__all__ = ["gemma_id", "services", "tiny_hf_folder", "tiny_id"]


@pytest.fixture
def client(services):
    from tests.engine.chat.rpc import Client

    c = Client(services)
    yield c
    c.close()
