"""``generate`` and the stateless ``chat.generate`` method on the bundled Gemma (llama.cpp)."""

from __future__ import annotations

import json

import pytest

from engine.chat.generate import count_tokens, generate
from engine.chat.schema import validate
from engine.core.errors import UserError

FEW_SHOT = [
    {"role": "user", "content": "Hi!"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4."},
    {"role": "user", "content": "And 3+3?"},
]
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}


def test_base_model_reply_ends_where_the_turn_ends(services, gemma_id):
    result = generate(
        services, model_id=gemma_id, messages=FEW_SHOT, params={"max_tokens": 60, "temperature": 0}
    )
    # the base model goes on to write the next "User:" line itself; the plain template's stop
    # string cuts the reply there
    assert result["template"] == "plain"
    assert result["finish_reason"] == "stop"
    assert result["text"] and "User:" not in result["text"] and "\n" not in result["text"]
    assert result["usage"]["completion_tokens"] < 60


def test_json_mode_on_llama_cpp_gives_json_valid_against_the_schema(services, gemma_id):
    result = generate(
        services,
        model_id=gemma_id,
        messages=[{"role": "user", "content": "Invent a person. Give name and age."}],
        params={"max_tokens": 80, "seed": 4, "json_schema": PERSON},
    )
    value = json.loads(result["text"])
    assert validate(value, PERSON) == []
    assert result["json"] == {"valid": True, "value": value, "error": None, "attempts": 1}


@pytest.mark.parametrize(
    ("schema", "match"),
    [
        ({"type": "bogus"}, "unknown type"),
        ({"type": "object", "properties": 5}, "#/properties: 5 is not of type 'object'"),
        ({"$ref": "https://example.com/person.json"}, "does not fetch schemas"),
        ({"$ref": "#/$defs/Nope"}, "points nowhere"),
        ("{not json", "not valid JSON"),
        ({"type": "string", "pattern": "(unclosed"}, "not a valid regular expression"),
    ],
)
def test_invalid_schema_is_a_user_error(services, gemma_id, schema, match):
    with pytest.raises(UserError, match=match):
        generate(services, model_id=gemma_id, messages=FEW_SHOT, params={"json_schema": schema})


def test_long_conversation_drops_oldest_turns_and_says_so(services, gemma_id):
    services_settings = services.runtimes.settings
    services_settings.update(gemma_id, {"n_ctx": 256})
    messages = [{"role": "system", "content": "You are terse."}]
    for i in range(12):
        messages.append(
            {"role": "user", "content": f"Question {i}: tell me about the number {i} in detail."}
        )
        messages.append({"role": "assistant", "content": f"The number {i} is a fine number. " * 2})
    messages.append({"role": "user", "content": "Thanks. Which number was last?"})
    meter = count_tokens(services, model_id=gemma_id, messages=messages, params={"max_tokens": 32})
    result = generate(
        services, model_id=gemma_id, messages=messages, params={"max_tokens": 32, "seed": 1}
    )
    report = result["truncated"]
    assert report["dropped_messages"] > 0 and report["dropped_messages"] % 2 == 0  # whole turns
    assert report["dropped_indexes"][0] == 1  # the oldest turn went first, the system prompt stayed
    assert report["prompt_tokens"] <= 256 - 32 and report["context_length"] == 256
    assert report["dropped_tokens"] > 0
    assert meter["truncated"]["dropped_messages"] == report["dropped_messages"]
    assert meter["available"] == 256 and meter["used"] == report["prompt_tokens"]


def test_a_single_message_longer_than_the_context_is_refused(services, gemma_id):
    services.runtimes.settings.update(gemma_id, {"n_ctx": 256})
    huge = "word " * 600
    with pytest.raises(UserError, match=r"256-token context window.*Shorten the message"):
        generate(services, model_id=gemma_id, messages=[{"role": "user", "content": huge}])
    meter = count_tokens(services, model_id=gemma_id, messages=[{"role": "user", "content": huge}])
    assert meter["fits"] is False and meter["used"] > 256


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"temperature": -1}, "temperature must be from 0 to 5"),
        ({"max_tokens": 2.5}, "whole number"),
        ({"bogus": 1}, "Unknown generation setting"),
        ({"stop": [1]}, "stop must be"),
        ({"template": "nope"}, "Unknown chat template"),
    ],
)
def test_bad_params_are_user_errors(services, gemma_id, params, match):
    with pytest.raises(UserError, match=match):
        generate(services, model_id=gemma_id, messages=FEW_SHOT, params=params)


def test_rpc_streams_deltas_that_concatenate_to_the_answer(client, gemma_id):
    rid = client.send(
        "chat.generate",
        {
            "model": gemma_id,
            "messages": [{"role": "user", "content": "Tell me a story."}],
            "params": {"max_tokens": 40, "seed": 2},
        },
    )
    answer = client.wait(rid)["result"]
    deltas = client.deltas(rid)
    assert len(deltas) > 3
    assert "".join(d["text"] for d in deltas) == answer["text"]
    assert answer["finish_reason"] in ("stop", "length")
    assert set(answer["usage"]) >= {"prompt_tokens", "completion_tokens"}
    assert answer["timings"]["ttft_ms"] > 0 and answer["timings"]["tokens_per_s"] > 0


def test_rpc_cancel_answers_32800_with_the_partial_text(client, gemma_id):
    rid = client.send(
        "chat.generate",
        {
            "model": gemma_id,
            "messages": [{"role": "user", "content": "Count from 1 to 1000: 1, 2, 3,"}],
            "params": {
                "max_tokens": 2000,
                "ignore_eos": True,
                "temperature": 0,
                "template": "alpaca",
            },
        },
    )
    client.wait_for(lambda: len(client.deltas(rid)) >= 5)
    client.cancel(rid)
    error = client.wait(rid)["error"]
    assert error["code"] == -32800
    partial = error["data"]
    assert partial["finish_reason"] == "cancelled"
    assert partial["text"] and partial["text"] == "".join(d["text"] for d in client.deltas(rid))
    assert partial["usage"]["completion_tokens"] < 2000


def test_rpc_user_errors(client, gemma_id):
    error = client.error("chat.generate", {"model": "no-such-model", "messages": FEW_SHOT})
    assert error["code"] == -32002
    error = client.error(
        "chat.generate", {"model": gemma_id, "messages": [{"role": "bot", "content": "x"}]}
    )
    assert error["code"] == -32001 and "role" in error["message"]
    error = client.error(
        "chat.generate",
        {"model": gemma_id, "messages": FEW_SHOT, "params": {"json_schema": {"type": 3}}},
    )
    assert error["code"] == -32001 and "JSON Schema" in error["message"]


def test_templates_settings_and_loaded_over_rpc(client, gemma_id):
    info = client.call("chat.templates", {"model_id": gemma_id})
    assert {t["name"] for t in info["templates"]} == {
        "chatml",
        "llama3",
        "gemma",
        "mistral",
        "alpaca",
        "plain",
    }
    assert info["model"] == {
        "model_id": gemma_id,
        "template": "auto",
        "has_own_template": False,
        "effective": "plain",
        "stop": ["\nUser:", "\nSystem:", "\nAssistant:"],
    }
    info = client.call("chat.set_template", {"model_id": gemma_id, "template": "gemma"})
    assert info["model"]["template"] == "gemma" and info["model"]["effective"] == "gemma"
    result = client.call(
        "chat.generate", {"model": gemma_id, "messages": FEW_SHOT, "params": {"max_tokens": 8}}
    )
    assert result["template"] == "gemma"
    assert (
        client.error("chat.set_template", {"model_id": gemma_id, "template": "model"})["code"]
        == -32001
    )
    loaded = client.call("chat.loaded")["loaded"]
    assert [(m["model_id"], m["runtime"], m["device"]) for m in loaded] == [
        (gemma_id, "llama_cpp", "cpu")
    ]
    assert loaded[0]["memory_bytes"] > 0
    settings = client.call(
        "chat.set_model_settings", {"model_id": gemma_id, "settings": {"n_ctx": 1024}}
    )
    assert settings["settings"] == {"template": "gemma", "n_ctx": 1024}
    assert (
        client.error(
            "chat.set_model_settings", {"model_id": gemma_id, "settings": {"n_ctx": "big"}}
        )["code"]
        == -32001
    )
    assert client.call("chat.unload", {"model_id": gemma_id}) == {
        "unloaded": [gemma_id],
        "pending": [],
    }
    assert client.call("chat.loaded") == {"loaded": []}
