"""The local API with the official ``openai`` client on the bundled Gemma and MiniLM: models,
chat completions (streaming and not), completions, embeddings, the token, errors in OpenAI's
shape, and a client that hangs up mid-stream cancelling the generation."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request

import numpy as np
import openai
import pytest

from tests.engine.api.conftest import TOKEN


def test_lists_models(oai, gemma):
    models = {m.id: m for m in oai.models.list().data}
    assert gemma in models and models[gemma].owned_by == "hearth"
    assert any(getattr(m, "role", None) == "embedding" for m in models.values())


def test_chat_completion(oai, gemma):
    reply = oai.chat.completions.create(
        model=gemma,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}],
        max_tokens=8,
        seed=3,
        temperature=0.5,
    )
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and reply.model == gemma
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert 0 < reply.usage.completion_tokens <= 8
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    again = oai.chat.completions.create(
        model="Gemma 3 270M (base)",  # a model's name works too
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}],
        max_tokens=8,
        seed=3,
        temperature=0.5,
    )
    assert again.choices[0].message.content == choice.message.content  # same seed, same reply


def test_chat_completion_streams(oai, gemma):
    stream = oai.chat.completions.create(
        model=gemma,
        messages=[{"role": "user", "content": "Write a sentence about the sea."}],
        max_tokens=12,
        seed=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finals = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finals in (["stop"], ["length"])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens <= 12
    whole = oai.chat.completions.create(
        model=gemma,
        messages=[{"role": "user", "content": "Write a sentence about the sea."}],
        max_tokens=12,
        seed=5,
    )
    assert text == whole.choices[0].message.content  # the chunks add up to the reply


def test_completions(oai, gemma):
    done = oai.completions.create(model=gemma, prompt="One, two, three,", max_tokens=6, seed=1)
    assert done.object == "text_completion" and done.choices[0].text
    assert done.usage.completion_tokens <= 6
    pieces = oai.completions.create(
        model=gemma, prompt="One, two, three,", max_tokens=6, seed=1, stream=True
    )
    assert "".join(c.choices[0].text for c in pieces) == done.choices[0].text
    # a raw completion keeps the text as the model wrote it, the space after the comma included
    greedy = oai.completions.create(
        model=gemma, prompt="One, two, three,", max_tokens=3, temperature=0
    )
    assert greedy.choices[0].text.startswith(" four"), repr(greedy.choices[0].text)


def test_embeddings(oai):
    texts = ["A cat sat on the mat.", "A kitten sat on a rug.", "Stock markets fell sharply."]
    got = oai.embeddings.create(model="all-MiniLM-L6-v2", input=texts)  # base64 on the wire
    vectors = np.array([d.embedding for d in got.data])
    assert vectors.shape == (3, 384) and got.usage.prompt_tokens > 0
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2]  # cats are closer to each other than to stocks
    by_id = next(m.id for m in oai.models.list().data if getattr(m, "role", "") == "embedding")
    plain = oai.embeddings.create(
        model=by_id, input="A cat sat on the mat.", encoding_format="float"
    )
    assert plain.model == by_id and np.allclose(plain.data[0].embedding, vectors[0], atol=1e-5)


def test_a_bad_token_is_refused(server, gemma):
    bad = openai.OpenAI(base_url=server.url, api_key="wrong-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.models.list()
    assert info.value.status_code == 401 and info.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model=gemma, messages=[{"role": "user", "content": "x"}])
    request = urllib.request.Request(server.url + "/models")  # no Authorization at all
    with pytest.raises(urllib.error.HTTPError) as raw:
        urllib.request.urlopen(request, timeout=10)
    assert raw.value.code == 401
    assert "didn't provide an API key" in json.loads(raw.value.read())["error"]["message"]


def test_errors_have_openai_shape(oai, server, gemma):
    with pytest.raises(openai.NotFoundError) as missing:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert (
        missing.value.body["code"] == "model_not_found" and gemma in missing.value.body["message"]
    )
    with pytest.raises(openai.BadRequestError) as many:
        oai.chat.completions.create(model=gemma, messages=[{"role": "user", "content": "x"}], n=2)
    assert many.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError) as hot:
        oai.chat.completions.create(
            model=gemma, messages=[{"role": "user", "content": "x"}], temperature=9
        )
    assert "temperature" in hot.value.body["message"]
    with pytest.raises(openai.BadRequestError, match="embedding model"):
        oai.chat.completions.create(
            model="all-MiniLM-L6-v2", messages=[{"role": "user", "content": "x"}]
        )
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/v1/nothing", headers={"Authorization": f"Bearer {TOKEN}"})
    response = conn.getresponse()
    assert response.status == 404 and json.loads(response.read())["error"]["code"] == "unknown_url"
    conn.close()


def test_server_listens_on_loopback_only(server):
    assert server.server_address[0] == "127.0.0.1"


def test_hanging_up_mid_stream_cancels_generation(server, gemma, oai):
    body = json.dumps(
        {
            "model": gemma,
            "messages": [{"role": "user", "content": "Tell me a very long story."}],
            "max_tokens": 3000,
            "ignore_eos": True,
            "stream": True,
        }
    )
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    sock.sendall(
        (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
    )
    received = b""
    while received.count(b"data: ") < 4:  # the role chunk and a few tokens
        chunk = sock.recv(4096)
        assert chunk, f"the server closed the stream early: {received[-2000:]!r}"
        received += chunk
    assert b"200 OK" in received and b"text/event-stream" in received
    sock.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        entry = next(
            (r for r in reversed(server.recent) if r["path"] == "/v1/chat/completions"), None
        )
        if entry and entry.get("finish_reason") == "cancelled":
            break
        time.sleep(0.05)
    assert entry["finish_reason"] == "cancelled" and entry["client_gone"]
    # the model is free again at once: a short request completes
    reply = oai.chat.completions.create(
        model=gemma, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
    )
    assert reply.usage.completion_tokens <= 2
