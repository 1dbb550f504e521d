"""Fixtures for the local API tests: one data root with the bundled models and one server for the
whole module (loading Gemma and MiniLM once keeps the set quick), and an ``openai`` client."""

from __future__ import annotations

import os

import pytest

from tests.engine.runtimes.fixtures import bundled_home

TOKEN = "hearth-test-token-0123456789"


@pytest.fixture(scope="module")
def api_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("api-home")
    bundled_home(home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEARTH_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def api_services(api_home):
    from engine.services import Services

    services = Services(api_home)
    services.library.ensure_bundled()
    yield services
    services.runtimes.close()
    services.close()


@pytest.fixture(scope="module")
def server(api_services):
    from engine.api.server import ApiServer

    srv = ApiServer(api_services, port=0, token=TOKEN).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def oai(server):
    import openai

    return openai.OpenAI(base_url=server.url, api_key=TOKEN, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def gemma(api_services) -> str:
    return next(m["id"] for m in api_services.library.list() if m["role"] == "llm")


def pythonpath_env(home) -> dict[str, str]:
    from tests.conftest import REPO

    return {
        **os.environ,
        "HEARTH_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
