"""Running the API: ``api.start``/``api.stop``/``api.status``/``api.regenerate_token`` inside the
engine (the GUI's toggle), with the token persisted; and ``hearth-engine api`` as a process that
prints one JSON line when ready and serves until interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.engine.api.conftest import pythonpath_env


def get_models(url: str, token: str) -> int:
    request = urllib.request.Request(url + "/models", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def rpc(hearth_home):
    from engine.services import Services
    from tests.engine.chat.rpc import Client

    services = Services(hearth_home)
    client = Client(services)
    yield client
    client.call("api.stop")
    client.close()


def test_start_stop_and_a_new_token(rpc):
    from engine.api import settings

    before = rpc.call("api.status")
    assert not before["running"] and before["url"] is None
    token = before["token"]
    assert token.startswith("hearth-") and settings.load()["token"] == token  # persisted

    status = rpc.call("api.start", {"port": 0})
    assert status["running"] and status["url"].startswith("http://127.0.0.1:")
    assert status["token"] == token
    assert get_models(status["url"], token) == 200
    assert any(n["method"] == "api.changed" and n["params"]["running"] for n in rpc.notes)

    renewed = rpc.call("api.regenerate_token")
    assert renewed["token"] != token and settings.load()["token"] == renewed["token"]
    assert get_models(status["url"], token) == 401
    assert get_models(status["url"], renewed["token"]) == 200

    stopped = rpc.call("api.stop")
    assert not stopped["running"]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(status["url"] + "/models", timeout=5)


def test_a_port_in_use_is_a_clear_error(rpc):
    first = rpc.call("api.start", {"port": 0})
    port = first["port"]
    from engine.api.server import ApiServer

    with pytest.raises(Exception, match="port may be in use"):
        ApiServer(rpc.dispatcher.services, port=port, token="hearth-xxxxxxxxxx")
    assert rpc.call("api.start", {"port": port})["url"] == first["url"]  # already running


def test_cli_prints_one_line_and_serves_until_interrupted(hearth_home):
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "api", "--port", "0", "--token", "hearth-cli-token-1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**pythonpath_env(hearth_home), "HEARTH_SKIP_BUNDLED": "1"},
        text=True,
    )
    try:
        line = proc.stdout.readline()
        info = json.loads(line)
        assert set(info) == {"url", "token"} and info["token"] == "hearth-cli-token-1"
        assert info["url"].startswith("http://127.0.0.1:") and info["url"].endswith("/v1")
        assert get_models(info["url"], info["token"]) == 200
        assert get_models(info["url"], "nope") == 401
        proc.send_signal(signal.SIGINT)
        out, _err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and out == ""  # nothing but the one line on stdout
