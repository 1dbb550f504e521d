"""Stored conversations over JSON-RPC: send, edit into a branch, switch back, regenerate, search,
export, and what a cancelled reply leaves behind."""

from __future__ import annotations

import json

import pytest

QUICK = {"max_tokens": 12, "seed": 1}


@pytest.fixture
def conv(client, gemma_id):
    return client.call(
        "chat.create", {"model_id": gemma_id, "system_prompt": "You are kind.", "params": QUICK}
    )


def branch(client, conv_id):
    return client.call("chat.get", {"id": conv_id})["messages"]


def test_send_stores_both_messages_and_streams(client, conv):
    rid = client.send("chat.send", {"conversation_id": conv["id"], "content": "Tell me about cats"})
    result = client.wait(rid)["result"]
    deltas = client.deltas(rid)
    assert "".join(d["text"] for d in deltas) == result["text"]
    assert {d["message_id"] for d in deltas} == {result["message"]["id"]}
    user, reply = branch(client, conv["id"])
    assert (user["role"], user["content"]) == ("user", "Tell me about cats")
    assert reply["role"] == "assistant" and reply["content"] == result["text"]
    assert reply["state"] == "complete" and not reply["partial"]
    meta = reply["metadata"]
    assert (
        meta["finish_reason"] == result["finish_reason"] and meta["usage"]["completion_tokens"] > 0
    )
    assert meta["params"] == QUICK and meta["template"] == "plain"
    listed = client.call("chat.list")["conversations"]
    assert listed[0]["title"] == "Tell me about cats" and listed[0]["message_count"] == 2


def test_edit_makes_a_branch_and_the_old_one_stays_reachable(client, conv):
    client.call("chat.send", {"conversation_id": conv["id"], "content": "First question"})
    old_user, old_reply = branch(client, conv["id"])
    client.call("chat.send", {"conversation_id": conv["id"], "content": "Follow-up"})
    assert len(branch(client, conv["id"])) == 4

    edited = client.call("chat.edit", {"message_id": old_user["id"], "content": "Better question"})
    new_user, new_reply = branch(client, conv["id"])
    assert (
        new_user["content"] == "Better question" and edited["edited_message_id"] == old_user["id"]
    )
    assert (
        new_user["siblings"] == [old_user["id"], new_user["id"]] and new_user["sibling_index"] == 1
    )
    assert new_reply["siblings"] == [new_reply["id"]]

    thread = client.call("chat.switch_branch", {"message_id": old_user["id"]})
    contents = [m["content"] for m in thread["messages"]]
    assert contents[0] == "First question" and contents[2] == "Follow-up" and len(contents) == 4
    assert thread["messages"][0]["sibling_index"] == 0
    assert thread["messages"][1]["id"] == old_reply["id"]

    back = client.call("chat.switch_branch", {"message_id": new_user["id"]})["messages"]
    assert [m["id"] for m in back] == [new_user["id"], new_reply["id"]]


def test_regenerate_adds_a_sibling_reply(client, conv):
    client.call("chat.send", {"conversation_id": conv["id"], "content": "Name a colour"})
    _, first = branch(client, conv["id"])
    again = client.call("chat.regenerate", {"conversation_id": conv["id"], "params": {"seed": 2}})
    user, second = branch(client, conv["id"])
    assert second["id"] == again["message"]["id"] != first["id"]
    assert second["parent_id"] == user["id"] and second["siblings"] == [first["id"], second["id"]]
    assert second["metadata"]["params"]["seed"] == 2


def test_cancelled_send_keeps_the_partial_reply(client, conv):
    rid = client.send(
        "chat.send",
        {
            "conversation_id": conv["id"],
            "content": "Count from 1 to 1000: 1, 2, 3,",
            "params": {
                "max_tokens": 2000,
                "ignore_eos": True,
                "temperature": 0,
                "seed": None,
                "template": "alpaca",
            },
        },
    )
    client.wait_for(lambda: len(client.deltas(rid)) >= 5)
    client.cancel(rid)
    error = client.wait(rid)["error"]
    assert error["code"] == -32800 and error["data"]["finish_reason"] == "cancelled"
    _, reply = branch(client, conv["id"])
    assert reply["state"] == "cancelled" and reply["partial"] and not reply["interrupted"]
    assert reply["content"] == error["data"]["text"] != ""


def test_rename_pin_search_export_delete(client, conv, gemma_id, tmp_path):
    other = client.call("chat.create", {"title": "Shopping list"})
    client.call("chat.send", {"conversation_id": conv["id"], "content": "Explain photosynthesis"})
    client.call("chat.rename", {"id": conv["id"], "title": "Plants"})
    client.call("chat.pin", {"id": other["id"], "pinned": True})
    listed = [c["id"] for c in client.call("chat.list")["conversations"]]
    assert listed == [other["id"], conv["id"]]  # pinned first

    hits = client.call("chat.search", {"query": "PHOTOSYNTH"})["results"]
    assert [h["conversation"]["id"] for h in hits] == [conv["id"]]
    assert "photosynthesis" in hits[0]["match"]["snippet"]
    assert [
        h["conversation"]["id"]
        for h in client.call("chat.search", {"query": "shopping"})["results"]
    ] == [other["id"]]
    assert client.call("chat.search", {"query": "100%_"})["results"] == []

    md = client.call("chat.export", {"id": conv["id"], "format": "markdown"})
    assert md["path"] is None
    assert (
        md["content"].startswith("# Plants")
        and "## User\n\nExplain photosynthesis" in md["content"]
    )
    assert "## System\n\nYou are kind." in md["content"]
    target = tmp_path / "out" / "plants.json"
    target.parent.mkdir()
    exported = client.call("chat.export", {"id": conv["id"], "format": "json", "path": str(target)})
    data = json.loads(target.read_text())
    assert exported["path"] == str(target) and data["conversation"]["title"] == "Plants"
    assert len(data["messages"]) == 2 and data["current_branch"] == [
        m["id"] for m in data["messages"]
    ]
    assert client.error("chat.export", {"id": conv["id"], "format": "pdf"})["code"] == -32001

    assert client.call("chat.delete", {"id": conv["id"]}) == {"deleted": conv["id"]}
    assert client.error("chat.get", {"id": conv["id"]})["code"] == -32002


def test_count_tokens_for_a_conversation_and_a_draft(client, conv):
    client.call("chat.send", {"conversation_id": conv["id"], "content": "Hello there"})
    before = client.call("chat.count_tokens", {"conversation_id": conv["id"]})
    after = client.call(
        "chat.count_tokens", {"conversation_id": conv["id"], "content": "a much longer draft " * 5}
    )
    assert 0 < before["used"] < after["used"] <= after["available"]
    assert after["fits"] is True and after["truncated"]["dropped_messages"] == 0


def test_send_to_a_missing_model_keeps_the_question(client, conv, services, tmp_path, gemma_id):
    import os

    moved = tmp_path / "moved.gguf"
    os.link(services.library.get(gemma_id)["path"], moved)
    model = services.library.import_model(moved, mode="reference", name="Moved")
    moved.unlink()
    error = client.error(
        "chat.send",
        {"conversation_id": conv["id"], "content": "Still there?", "model": model["id"]},
    )
    assert error["code"] == -32001 and "relink it" in error["message"]
    (user,) = branch(client, conv["id"])  # the question is kept; regenerate once the model is back
    assert user["content"] == "Still there?"
