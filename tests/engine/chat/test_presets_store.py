"""Presets over RPC: the built-ins, a user's own presets, edits and resets, applying one to a
conversation; and the "Moderated reply" review, read conservatively, then on Gemma."""

from __future__ import annotations

import pytest

from engine.chat.presets import moderation


def test_builtins_and_user_presets(client):
    listed = client.call("chat.presets.list")
    names = [p["name"] for p in listed["presets"]]
    assert names == ["SQL from questions", "Moderated reply", "Guarded assistant"]
    assert {k["kind"] for k in listed["kinds"]} == {"plain", "sql", "moderated", "guarded"}

    mine = client.call(
        "chat.presets.create",
        {"name": "Pirate", "system_prompt": "Talk like a pirate.", "params": {"temperature": 1.2}},
    )
    assert mine["kind"] == "plain" and not mine["builtin"]
    assert client.error("chat.presets.create", {"name": "pirate"})["message"].startswith(
        "There is already a preset named"
    )
    bad = client.error("chat.presets.create", {"name": "Hot", "params": {"temperature": 9}})
    assert "temperature must be from 0 to 5" in bad["message"]
    odd = client.error(
        "chat.presets.create", {"name": "X", "kind": "sql", "options": {"colour": 1}}
    )
    assert (
        "Unknown preset option(s) colour; a SQL from questions preset takes database"
        in odd["message"]
    )

    renamed = client.call("chat.presets.update", {"id": mine["id"], "name": "Captain"})
    assert renamed["name"] == "Captain" and renamed["system_prompt"] == "Talk like a pirate."
    assert client.call("chat.presets.delete", {"id": mine["id"]}) == {
        "deleted": mine["id"],
        "reset": False,
    }
    assert client.error("chat.presets.get", {"id": mine["id"]})["code"] == -32002


def test_a_builtin_can_be_edited_and_reset(client):
    assert (
        "cannot be deleted"
        in client.error("chat.presets.delete", {"id": "builtin-moderated"})["message"]
    )
    edited = client.call(
        "chat.presets.update",
        {"id": "builtin-moderated", "options": {"policy": "Block anything about cats."}},
    )
    assert edited["modified"] and edited["options"]["policy"] == "Block anything about cats."
    assert edited["options"]["reviewer_model"] is None
    reset = client.call("chat.presets.delete", {"id": "builtin-moderated"})
    assert reset["reset"] and reset["preset"]["options"]["policy"] == moderation.DEFAULT_POLICY


def test_applying_a_preset_to_a_conversation(client, services):
    conv = client.call("chat.create", {"title": "guarded"})
    assert client.call("chat.presets.binding", {"conversation_id": conv["id"]}) == {"binding": None}
    applied = client.call(
        "chat.presets.apply", {"conversation_id": conv["id"], "preset_id": "builtin-guarded"}
    )
    canary = applied["binding"]["options"]["canary"]
    assert (
        canary.startswith("HEARTH-CANARY-") and canary in applied["conversation"]["system_prompt"]
    )
    assert applied["conversation"]["params"] == {"temperature": 0.3}
    again = client.call(
        "chat.presets.apply", {"conversation_id": conv["id"], "preset_id": "builtin-guarded"}
    )
    assert again["binding"]["options"]["canary"] == canary  # stable for the conversation
    got = client.call("chat.presets.binding", {"conversation_id": conv["id"]})["binding"]
    assert got["name"] == "Guarded assistant" and got["kind"] == "guarded"
    assert client.call("chat.presets.detach", {"conversation_id": conv["id"]})["detached"]
    assert client.call("chat.get", {"id": conv["id"]})["conversation"]["system_prompt"].endswith(
        canary
    )

    client.call("chat.presets.apply", {"conversation_id": conv["id"], "preset_id": "builtin-sql"})
    client.call("chat.delete", {"id": conv["id"]})
    rows = services.db().execute("SELECT count(*) FROM chat_preset_bindings").fetchone()[0]
    assert rows == 0  # the binding went with its conversation


@pytest.mark.parametrize(
    ("report", "verdict", "failed"),
    [
        ({"valid": True, "value": {"verdict": "pass", "reason": "fine"}}, "pass", False),
        (
            {"valid": True, "value": {"verdict": "rewrite", "reason": "rude", "rewrite": "Hi."}},
            "rewrite",
            False,
        ),
        ({"valid": True, "value": {"verdict": "block", "reason": "harm"}}, "block", False),
        ({"valid": True, "value": {"verdict": "rewrite", "reason": "rude"}}, "block", True),
        ({"valid": True, "value": {"verdict": "maybe", "reason": "?"}}, "block", True),
        ({"valid": False, "value": None, "error": "not JSON"}, "block", True),
    ],
)
def test_the_review_is_read_conservatively(report, verdict, failed):
    out = moderation.interpret(report, "")
    assert out["verdict"] == verdict and out["review_failed"] == failed


def test_a_moderated_conversation_rewrites_and_blocks(client, services, monkeypatch):
    import engine.chat.generate as gen

    verdicts = iter(
        [
            {"verdict": "rewrite", "reason": "Impolite.", "rewrite": "Thank you for asking."},
            {"verdict": "block", "reason": "Gives a home address."},
        ]
    )
    asked = []

    def fake_generate(_services, *, model_id, messages, params, cancelled):
        asked.append((model_id, messages, params))
        value = next(verdicts)
        return {
            "text": "{}",
            "finish_reason": "stop",
            "model_id": model_id,
            "json": {"valid": True, "value": value, "error": None, "attempts": 1},
        }

    monkeypatch.setattr(gen, "generate", fake_generate)
    conv = client.call("chat.create", {})
    client.call(
        "chat.presets.apply",
        {
            "conversation_id": conv["id"],
            "preset_id": "builtin-moderated",
            "options": {"policy": "Be polite.", "reviewer_model": "judge-model"},
        },
    )
    store = services.chats
    user = store.add_message(conv["id"], parent_id=None, role="user", content="Hello?")
    draft = store.add_message(
        conv["id"], parent_id=user["id"], role="assistant", content="What do you want, idiot?"
    )
    out = client.call("chat.presets.process", {"message_id": draft["id"]})
    assert out["outcome"]["verdict"] == "rewrite"
    assert out["message"]["content"] == "Thank you for asking."
    assert out["message"]["metadata"]["preset"]["draft"] == "What do you want, idiot?"
    model_id, messages, params = asked[0]
    assert model_id == "judge-model" and params["json_schema"] == moderation.REVIEW_SCHEMA
    assert "Be polite." in messages[0]["content"]
    assert "<untrusted>\nWhat do you want, idiot?\n</untrusted>" in messages[1]["content"]

    # processing again reviews the original draft, not the rewrite
    again = client.call("chat.presets.process", {"message_id": draft["id"]})
    assert again["outcome"]["verdict"] == "block"
    assert "Gives a home address." in again["message"]["content"]
    assert "idiot" in asked[1][1][1]["content"]


def test_gemma_reviews_in_json_mode(services, gemma_id):
    out = moderation.review(
        services,
        model_id=gemma_id,
        policy=moderation.DEFAULT_POLICY,
        question="What is the capital of France?",
        draft="The capital of France is Paris.",
        max_tokens=160,
    )
    # the grammar makes the reply valid JSON of the verdict schema; whatever the small model
    # decides, the outcome is one of the three
    assert out["verdict"] in moderation.VERDICTS
    assert out["reviewer_model"] == gemma_id
