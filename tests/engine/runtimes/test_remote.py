"""The remote runtime against real OpenAI-compatible servers on 127.0.0.1 -- llama-cpp-python's
server and Hearth's own API, both serving the bundled Gemma -- and against scripted servers for
the failures real ones show only by chance: a refused key, rate limits, a page that is not an
API, an empty model list, a stream that stops half-way, silence."""

from __future__ import annotations

import threading
import time

import keyring
import pytest

from engine.chat.generate import generate
from engine.core.errors import UserError
from engine.models import remote
from tests.engine.runtimes.fixtures import _assembled
from tests.engine.runtimes.servers import (
    LlamaServer,
    MemoryKeyring,
    Scripted,
    files_containing,
    models_route,
    send_json,
    stream_route,
)

KEY = "sk-test-0d1e2a3d4b5e6e7f"
GREEDY = {"temperature": 0.0, "max_tokens": 24, "seed": 1}


@pytest.fixture(scope="module")
def llama_server():
    gguf = next(_assembled().glob("*.gguf"))
    server = LlamaServer(gguf, KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_peer(tmp_path_factory):
    """Hearth's own API on another data folder: (url, token, its services, its Gemma id)."""
    from engine.api.server import ApiServer
    from engine.services import Services
    from tests.engine.runtimes.fixtures import bundled_home

    home = bundled_home(tmp_path_factory.mktemp("peer"))
    peer = Services(home)
    peer.library.ensure_bundled()
    gemma = next(m["id"] for m in peer.library.list() if m["role"] == "llm" and m["bundled"])
    token = "hearth-peer-token-5a6b7c8d9e"
    server = ApiServer(peer, port=0, token=token).start()
    yield server.url, token, peer, gemma
    server.stop()
    peer.runtimes.close()
    peer.close()


@pytest.fixture
def memory_keyring():
    before = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(before)


@pytest.fixture
def scripted():
    server = Scripted()
    yield server
    server.stop()


def _add(services, url, **kw):
    return remote.add(services, url, confirm=True, **kw)


def test_a_llama_cpp_server_model_streams_like_a_local_one(services, llama_server, memory_keyring, hearth_home):  # fmt: skip
    model = _add(services, llama_server.url, api_key_value=KEY, name="Box")
    assert model["format"] == "remote" and model["sends_off_machine"]
    assert (
        model["remote"]["base"] == llama_server.url + "/v1" and model["remote"]["key"] == "keyring"
    )
    assert model["capabilities"]["chat_remote"] and not model["capabilities"]["train"]
    deltas: list[str] = []
    result = generate(services, model_id=model["id"], params=GREEDY, on_delta=deltas.append,
                      messages=[{"role": "user", "content": "Name three colours."}])  # fmt: skip
    assert result["runtime"] == "remote" and result["template"] == "server"
    assert "".join(deltas) == result["text"] and len(deltas) > 1
    assert result["finish_reason"] in ("stop", "length")
    assert result["usage"]["completion_tokens"] > 0 and result["timings"]["ttft_ms"] > 0
    # the key went to the keyring and to the server, nowhere else
    assert memory_keyring.store == {(remote.KEYRING_SERVICE, llama_server.url + "/v1"): KEY}
    assert files_containing(hearth_home, KEY.encode()) == []


def test_the_same_greedy_reply_as_the_server_gives_its_own_users(services, llama_server, monkeypatch):  # fmt: skip
    """Messages reach the server as they are: Hearth's reply is the one the openai client gets."""
    import openai

    monkeypatch.setenv("BOX_KEY", KEY)
    model = _add(services, llama_server.url, api_key_env="BOX_KEY")
    assert model["remote"]["key"] == "environment" and model["remote"]["key_env"] == "BOX_KEY"
    messages = [{"role": "system", "content": "You answer briefly."},
                {"role": "user", "content": "What is the capital of France?"}]  # fmt: skip
    client = openai.OpenAI(base_url=llama_server.url + "/v1", api_key=KEY, max_retries=0)

    def theirs() -> str:
        got = client.chat.completions.create(model=model["remote"]["model"], messages=messages,
                                             temperature=0.0, max_tokens=24, seed=1, top_p=0.95)  # fmt: skip
        return got.choices[0].message.content.strip()

    # llama.cpp's prompt cache makes a reply depend on the request before it: both replies
    # compared follow the same request
    theirs()
    ours = generate(services, model_id=model["id"], messages=messages, params=GREEDY)
    assert ours["text"] == theirs()


def test_against_hearth_s_own_api(services, api_peer, memory_keyring):
    url, token, peer_services, gemma = api_peer
    model = _add(services, url, api_key_value=token, model=gemma)
    assert model["remote"]["model"] == gemma
    messages = [{"role": "user", "content": "Say hello."}]
    ours = generate(services, model_id=model["id"], messages=messages, params=GREEDY)
    local = generate(peer_services, model_id=gemma, messages=messages, params=GREEDY)
    assert ours["text"] == local["text"] and ours["text"]
    # a wrong key: refused, and the message does not repeat either key
    with pytest.raises(UserError) as info:
        remote.probe(services, url, api_key_value="sk-wrong-key-123")
    assert "401" in info.value.message and "refused the API key" in info.value.message
    assert "sk-wrong-key-123" not in info.value.message and token not in info.value.message


def test_cancel_stops_a_reply_at_once(services, scripted):
    scripted.routes[("GET", "/v1/models")] = models_route(["slow"])
    scripted.routes[("POST", "/v1/chat/completions")] = stream_route(["tick "] * 200, delay_s=0.05)
    model = _add(services, scripted.url)
    seen: list[str] = []
    flag = threading.Event()

    def on_delta(text: str) -> None:
        seen.append(text)
        if len(seen) == 3:
            flag.set()

    started = time.monotonic()
    result = generate(services, model_id=model["id"], messages=[{"role": "user", "content": "go"}],
                      on_delta=on_delta, cancelled=flag.is_set)  # fmt: skip
    assert result["finish_reason"] == "cancelled"
    assert time.monotonic() - started < 5  # 200 pieces would take 10 s
    assert result["text"].startswith("tick tick")


def test_a_stream_that_stops_half_way_keeps_the_part_that_arrived(services, scripted):
    scripted.routes[("GET", "/v1/models")] = models_route(["m"])
    scripted.routes[("POST", "/v1/chat/completions")] = stream_route(["Once ", "upon ", "a"], finish=False)  # fmt: skip
    model = _add(services, scripted.url)
    store = services.chats
    conv = store.create(title="t", model_id=model["id"])
    user = store.add_message(conv["id"], parent_id=None, role="user", content="story")
    from engine.chat.conversations import reply

    with pytest.raises(UserError) as info:
        reply(services, conv["id"], user["id"])
    assert "stopped in the middle of the reply" in info.value.message
    kept = [m for m in store.all_messages(conv["id"]) if m["role"] == "assistant"]
    assert len(kept) == 1 and kept[0]["content"] == "Once upon a" and kept[0]["state"] == "error"
    assert "stopped in the middle" in kept[0]["metadata"]["error"]


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        (
            lambda h: send_json(h, 401, {"error": {"message": "bad key"}}),
            "refused the API key (401: bad key)",
        ),
        (
            lambda h: send_json(h, 429, {"error": {"message": "slow down"}}, {"Retry-After": "7"}),
            "limiting requests (429: slow down); wait 7 s",
        ),
        (
            lambda h: send_json(h, 500, {"detail": "out of memory"}),
            "failed while answering (500: out of memory)",
        ),
    ],
)
def test_refusals_while_answering_say_what_to_do(services, scripted, route, expected):
    scripted.routes[("GET", "/v1/models")] = models_route(["m"])
    model = _add(services, scripted.url)
    scripted.routes[("POST", "/v1/chat/completions")] = route
    with pytest.raises(UserError) as info:
        generate(services, model_id=model["id"], messages=[{"role": "user", "content": "hi"}])
    assert expected in info.value.message


def test_an_address_that_is_not_an_openai_server(services, scripted):
    def html(h):
        data = b"<html>router login</html>"
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    scripted.routes[("GET", "/v1/models")] = html
    with pytest.raises(UserError, match="not an OpenAI-compatible server: GET /v1/models did not answer a model list"):  # fmt: skip
        remote.probe(services, scripted.url)
    del scripted.routes[("GET", "/v1/models")]
    with pytest.raises(UserError, match="answered 404"):
        remote.probe(services, scripted.url)
    assert services.library.list() == [] or all(m["format"] != "remote" for m in services.library.list())  # fmt: skip


def test_a_server_with_no_models_and_a_model_it_does_not_serve(services, scripted):
    scripted.routes[("GET", "/v1/models")] = models_route([])
    with pytest.raises(UserError, match="lists no models; load a model on the server first"):
        remote.add(services, scripted.url)
    scripted.routes[("GET", "/v1/models")] = models_route(["a", "b"])
    with pytest.raises(UserError, match=r"serves 2 models; pick one .*: a, b"):
        remote.add(services, scripted.url)
    with pytest.raises(UserError, match="does not serve 'c'; it serves: a, b"):
        remote.add(services, scripted.url, model="c")


def test_refused_connections_and_silence_time_out_with_a_clear_message(services, scripted):
    from engine.runtimes.remote_client import Server
    from tests.engine.runtimes.servers import free_port

    with pytest.raises(UserError, match=r"Cannot connect to .* is the server running"):
        remote.probe(services, f"http://127.0.0.1:{free_port()}")
    scripted.routes[("GET", "/v1/models")] = lambda h: time.sleep(3)
    server = Server(scripted.url, read_timeout_s=0.5)
    with pytest.raises(UserError, match=r"sent nothing for 0 s while listing its models; the server may be overloaded"):  # fmt: skip
        server.models()
    server.close()


def test_nothing_is_sent_to_a_server_the_user_has_not_confirmed(services, scripted):
    scripted.routes[("GET", "/v1/models")] = models_route(["m"])
    scripted.routes[("POST", "/v1/chat/completions")] = stream_route(["hi"])
    model = remote.add(services, scripted.url)  # as the app adds it: asked before the first use
    assert not model["remote"]["confirmed"]
    from engine.chat.generate import count_tokens

    counted = count_tokens(services, model_id=model["id"], messages=[{"role": "user", "content": "secret " * 40}])  # fmt: skip
    assert counted["estimated"] and 70 < counted["used"] < 100  # the meter needs no consent
    with pytest.raises(remote.NotConfirmed) as info:
        generate(services, model_id=model["id"], messages=[{"role": "user", "content": "secret"}])
    assert info.value.data["base"] == scripted.url + "/v1"
    assert scripted.chat_hits() == 0 and not any(b"secret" in hit[3] for hit in scripted.hits)
    remote.confirm(services, model["remote"]["base"])
    assert generate(services, model_id=model["id"], messages=[{"role": "user", "content": "x"}])["text"] == "hi"  # fmt: skip
    assert scripted.chat_hits() == 1


@pytest.mark.parametrize("backend", ["fail", "null"])
def test_no_keyring_says_to_use_an_environment_variable(services, scripted, backend):
    import importlib

    before = keyring.get_keyring()
    keyring.set_keyring(importlib.import_module(f"keyring.backends.{backend}").Keyring())
    try:
        scripted.routes[("GET", "/v1/models")] = models_route(["m"])
        with pytest.raises(UserError, match=r"no keyring .* environment variable"):
            remote.add(services, scripted.url, api_key_value="k-123")
    finally:
        keyring.set_keyring(before)
    assert all(m["format"] != "remote" for m in services.library.list())


def test_removing_the_last_model_of_a_server_forgets_its_key(services, scripted, memory_keyring):
    scripted.routes[("GET", "/v1/models")] = models_route(["a", "b"])
    a = _add(services, scripted.url, model="a", api_key_value="k-1")
    b = _add(services, scripted.url, model="b")
    assert b["remote"]["key"] == "keyring"  # one key per server
    assert _add(services, scripted.url, model="a")["id"] == a["id"]  # added twice: one entry
    auth = [h[2].get("Authorization") for h in scripted.hits]
    assert auth and all(v == "Bearer k-1" for v in auth)
    services.library.remove(a["id"])
    assert memory_keyring.store
    services.library.remove(b["id"])
    assert memory_keyring.store == {}
    assert remote.server_info(services, scripted.url + "/v1")["known"] is False


def test_scoring_evaluations_refuse_a_server_model(services, scripted):
    from engine.evaluation.records import check_models

    scripted.routes[("GET", "/v1/models")] = models_route(["m"])
    model = _add(services, scripted.url)
    assert check_models(services, [model["id"]]) == [model["id"]]
    with pytest.raises(UserError, match="not the token probabilities"):
        check_models(services, [model["id"]], scoring=True)


def test_the_address_is_normalised():
    from engine.runtimes.remote_client import api_base

    for given in ("127.0.0.1:8080", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1",
                  "http://127.0.0.1:8080/v1/models", "http://127.0.0.1:8080/v1/chat/completions"):  # fmt: skip
        assert api_base(given) == "http://127.0.0.1:8080/v1"
    assert api_base("https://h.example/ollama") == "https://h.example/ollama/v1"
    for bad in ("", "ftp://x", "http://user:pw@h/v1"):
        with pytest.raises(UserError):
            api_base(bad)


def test_the_command_line_adds_a_server_and_chats_with_it(hearth_home, scripted):
    import json
    import os
    import subprocess
    import sys

    scripted.routes[("GET", "/v1/models")] = models_route(["box/model-a.gguf", "other"])
    scripted.routes[("POST", "/v1/chat/completions")] = stream_route(["Hi", " there"])
    env = {
        **os.environ,
        "HEARTH_HOME": str(hearth_home),
        "BOX_KEY": "k-9",
        "HEARTH_SKIP_BUNDLED": "1",
    }

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "engine", *args], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    listed = cli(
        "models", "add-remote", scripted.url, "--list", "--api-key-env", "BOX_KEY", "--json"
    )
    assert listed.returncode == 0, listed.stderr
    assert [m["id"] for m in json.loads(listed.stdout)["models"]] == ["box/model-a.gguf", "other"]
    refused = cli("models", "add-remote", scripted.url, "--api-key-env", "BOX_KEY")
    assert refused.returncode == 2 and "serves 2 models; pick one" in refused.stderr
    added = cli("models", "add-remote", scripted.url, "--model", "box/model-a.gguf", "--api-key-env", "BOX_KEY", "--json")  # fmt: skip
    model = json.loads(added.stdout)
    assert model["name"] == "model-a" and model["remote"]["confirmed"]  # the command line confirms
    said = cli("chat", "--model", model["id"], "hello", "--json")
    assert said.returncode == 0, said.stderr
    assert json.loads(said.stdout)["text"] == "Hi there"
    assert all(h[2].get("Authorization") == "Bearer k-9" for h in scripted.hits)


def test_a_server_that_repeats_the_key_does_not_get_it_into_messages(services, scripted, memory_keyring, hearth_home):  # fmt: skip
    from engine.chat.conversations import reply

    scripted.routes[("GET", "/v1/models")] = models_route(["m"])
    model = _add(services, scripted.url, api_key_value="sk-echoed-424242")

    def echo(h):
        said = h.headers.get("Authorization", "")
        send_json(h, 401, {"error": {"message": f"bad credentials: {said}"}})

    scripted.routes[("POST", "/v1/chat/completions")] = echo
    conv = services.chats.create(title="t", model_id=model["id"])
    user = services.chats.add_message(conv["id"], parent_id=None, role="user", content="hi")
    with pytest.raises(UserError) as info:
        reply(services, conv["id"], user["id"])
    assert "Bearer [the key]" in info.value.message and "sk-echoed-424242" not in info.value.message
    assert files_containing(hearth_home, b"sk-echoed-424242") == []
