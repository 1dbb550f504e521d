"""Conversations with document collections attached: the reply is grounded in retrieved passages
(earlier turns included in the prompt), cites them by number, and the citations are stored with
the message, exported, and shown by the CLI; on llama.cpp (bundled Gemma) and transformers (a tiny
random model)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from engine.documents import methods as docs_methods
from tests.engine.chat.test_cli import hearth
from tests.engine.documents.conftest import Ctx, ingest
from tests.engine.documents.files import write_pdf
from tests.engine.documents.test_answer import PAGES

QUICK = {"max_tokens": 8, "seed": 1, "temperature": 0}
WARRANTY = "How long is the warranty?"


@pytest.fixture
def manuals(services, tmp_path):
    """A collection "Manuals" holding a four-page kettle manual (the warranty is on page 3)."""
    ctx = Ctx(services)
    pdf = write_pdf(tmp_path / "manual.pdf", PAGES)
    made = docs_methods.docs_create(
        ctx, name="Manuals", settings={"chunk_tokens": 64, "overlap_tokens": 8}
    )
    ingest(ctx, "Manuals", [pdf])
    yield made
    services.docs.close()


@pytest.fixture
def prompts(monkeypatch):
    """Replace the model: record the messages it is sent, answer citing source 1."""
    import engine.chat.conversations as conversations

    seen: list[list[dict]] = []

    def fake_generate(services, *, model_id, messages, params=None, on_delta=None, **kw):
        seen.append(messages)
        info = {
            "model_id": model_id,
            "runtime": "llama_cpp",
            "device": "cpu",
            "template": "plain",
            "truncated": {"dropped_messages": 0},
        }
        kw["on_start"](info)
        text = (
            "It is covered for three years [1]." if "Sources:" in messages[-1]["content"] else "Hi"
        )
        on_delta(text)
        return {
            **info,
            "text": text,
            "finish_reason": "stop",
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
            "timings": {"ttft_ms": 1.0, "tokens_per_s": 10.0, "load_ms": 0.0, "total_ms": 2.0},
        }

    monkeypatch.setattr(conversations, "generate", fake_generate)
    return seen


def branch(client, conv_id):
    return client.call("chat.get", {"id": conv_id})["messages"]


def test_reply_cites_the_right_page_and_keeps_the_citations(client, gemma_id, manuals):
    conv = client.call(
        "chat.create", {"model_id": gemma_id, "collections": ["Manuals"], "params": QUICK}
    )
    assert conv["collections"] == [manuals["id"]]
    rid = client.send("chat.send", {"conversation_id": conv["id"], "content": WARRANTY})
    result = client.wait(rid)["result"]
    assert result["runtime"] == "llama_cpp" and result["usage"]["completion_tokens"] <= 8
    assert "".join(d["text"] for d in client.deltas(rid)) == result["text"]
    first = result["message"]["metadata"]["citations"][0]
    assert (first["n"], first["name"], first["page"]) == (1, "manual.pdf", 3)
    assert "three years" in first["text"] and first["collection"] == manuals["id"]
    assert first["start"] < first["end"] and first["file"].endswith("manual.pdf")

    _user, reply = branch(client, conv["id"])  # stored: the same citations come back
    assert reply["metadata"]["citations"] == result["message"]["metadata"]["citations"]
    assert reply["metadata"]["retrieval"]["nothing_found"] is False
    assert reply["metadata"]["retrieval"]["names"] == ["Manuals"]

    markdown = client.call("chat.export", {"id": conv["id"]})["content"]
    assert "- Documents: Manuals" in markdown and "**Sources**" in markdown
    assert "[1] manual.pdf, page 3" in markdown and "covered for three years" in markdown
    exported = json.loads(
        client.call("chat.export", {"id": conv["id"], "format": "json"})["content"]
    )
    stored = next(m for m in exported["messages"] if m["role"] == "assistant")
    assert stored["metadata"]["citations"][0]["page"] == 3
    assert exported["conversation"]["collections"] == [manuals["id"]]


def test_transformers_runtime_answers_with_citations(client, services, tiny_id, tmp_path):
    # the tiny model's window is 256 tokens: a one-page note fits beside the rules
    ctx = Ctx(services)
    pdf = write_pdf(tmp_path / "note.pdf", ["Warranty: three years."])
    docs_methods.docs_create(ctx, name="Notes")
    try:
        ingest(ctx, "Notes", [pdf])
        conv = client.call(
            "chat.create",
            {"model_id": tiny_id, "collections": ["Notes"], "params": {**QUICK, "max_tokens": 4}},
        )
        result = client.call("chat.send", {"conversation_id": conv["id"], "content": "Warranty?"})
    finally:
        services.docs.close()
    assert result["runtime"] == "transformers"
    first = result["message"]["metadata"]["citations"][0]
    assert (first["name"], first["page"]) == ("note.pdf", 1) and "three years" in first["text"]


def test_earlier_turns_go_into_the_grounded_prompt(client, gemma_id, manuals, prompts):
    conv = client.call(
        "chat.create",
        {"model_id": gemma_id, "system_prompt": "You are a kettle expert.", "params": QUICK},
    )
    client.call("chat.send", {"conversation_id": conv["id"], "content": "Hello there"})
    client.call("chat.update", {"id": conv["id"], "collections": ["Manuals"]})
    result = client.call("chat.send", {"conversation_id": conv["id"], "content": WARRANTY})

    system, *turns, question = prompts[-1]
    assert system["role"] == "system"
    assert system["content"].startswith("You are a kettle expert.")
    assert "cite the sources" in system["content"]
    assert turns == [
        {"role": "user", "content": "Hello there"},
        {"role": "assistant", "content": "Hi"},
    ]
    assert question["role"] == "user" and "[1] manual.pdf, page 3" in question["content"]
    assert question["content"].rstrip().endswith(f"Question: {WARRANTY}")

    meta = result["message"]["metadata"]
    assert meta["citations"][0]["cited"] is True and meta["retrieval"]["cited"] == [1]
    assert all(not c["cited"] for c in meta["citations"][1:])

    again = client.call("chat.regenerate", {"conversation_id": conv["id"]})
    assert again["message"]["metadata"]["citations"][0]["page"] == 3
    user = branch(client, conv["id"])[-2]
    edited = client.call(
        "chat.edit", {"message_id": user["id"], "content": "Can it go in the dishwasher?"}
    )
    assert edited["message"]["metadata"]["citations"][0]["page"] == 4
    assert prompts[-1][-1]["content"].rstrip().endswith("Question: Can it go in the dishwasher?")


def test_nothing_relevant_says_so_without_asking_the_model(client, gemma_id, manuals, prompts):
    conv = client.call("chat.create", {"model_id": gemma_id, "collections": [manuals["id"]]})
    rid = client.send(
        "chat.send", {"conversation_id": conv["id"], "content": "Who won the 1954 World Cup?"}
    )
    result = client.wait(rid)["result"]
    assert prompts == []
    assert result["text"] == "I found nothing relevant to this question in Manuals."
    assert [d["text"] for d in client.deltas(rid)] == [result["text"]]
    _user, reply = branch(client, conv["id"])
    assert reply["content"] == result["text"] and reply["state"] == "complete"
    assert reply["metadata"]["citations"] == []
    assert reply["metadata"]["retrieval"]["nothing_found"] is True


def test_unknown_collection_is_refused_and_detaching_returns_to_plain_chat(
    client, gemma_id, manuals, prompts
):
    error = client.error("chat.create", {"model_id": gemma_id, "collections": ["Recipes"]})
    assert error["code"] == -32001 and "'Recipes'" in error["message"]
    assert "Manuals" in error["message"]  # the ones there are
    conv = client.call("chat.create", {"model_id": gemma_id, "collections": ["manuals"]})
    error = client.error("chat.update", {"id": conv["id"], "collections": ["Manuals", "Recipes"]})
    assert error["code"] == -32001 and "'Recipes'" in error["message"]
    assert client.call("chat.get", {"id": conv["id"]})["conversation"]["collections"] == [
        manuals["id"]
    ]

    detached = client.call("chat.update", {"id": conv["id"], "collections": []})
    assert detached["collections"] == []
    result = client.call("chat.send", {"conversation_id": conv["id"], "content": WARRANTY})
    assert prompts[-1] == [{"role": "user", "content": WARRANTY}]
    assert "citations" not in result["message"]["metadata"]


def test_a_deleted_collection_leaves_the_conversation(client, services, gemma_id, manuals):
    conv = client.call("chat.create", {"model_id": gemma_id, "collections": ["Manuals"]})
    docs_methods.docs_delete(Ctx(services), id="Manuals")
    assert client.call("chat.get", {"id": conv["id"]})["conversation"]["collections"] == []
    listed = client.call("chat.list")["conversations"]
    assert listed[0]["collections"] == []


def test_cli_attaches_collections_and_prints_the_sources(services, gemma_id, manuals):
    services.docs.close()  # the store is opened by one process at a time
    out = hearth("chat", WARRANTY, "--collection", "Manuals", "--max-tokens", "8", "--seed", "1")
    assert out.returncode == 0, out.stderr
    assert "Sources:" in out.stdout and "[1] manual.pdf, page 3" in out.stdout
    out = hearth("chat", WARRANTY, "--collection", "Manuals", "--max-tokens", "8", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["citations"][0]["page"] == 3 and result["nothing_found"] is False

    conv = services.chats.create(model_id=gemma_id, params=QUICK)
    args = ("--conversation", conv["id"], "--collection", "Manuals", "--json")
    out = hearth("chat", WARRANTY, *args)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["citations"][0]["page"] == 3
    stored = services.chats.thread(conv["id"])
    assert stored["conversation"]["collections"] == [manuals["id"]]
    assert stored["messages"][-1]["metadata"]["citations"][0]["page"] == 3
    out = hearth("chat", "Hi", "--collection", "Recipes")
    assert out.returncode == 2 and "'Recipes'" in out.stderr and "Manuals" in out.stderr


def test_an_older_database_gains_empty_collections(hearth_home):
    from engine.core import db
    from engine.services import Services

    conn = sqlite3.connect(hearth_home / "hearth.db")
    for script in db.MIGRATIONS[:5]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 5")
    conn.execute(
        "INSERT INTO conversations (id, title, model_id, system_prompt, params, pinned,"
        " current_leaf_id, created_at, updated_at) VALUES ('c-old', 'Old', NULL, '', '{}', 0,"
        " NULL, 0, 0)"
    )
    conn.commit()
    conn.close()
    svc = Services(hearth_home)
    try:
        assert svc.chats.conversation("c-old")["collections"] == []
    finally:
        svc.close()


def test_context_meter_counts_what_the_sources_can_add(client, gemma_id, manuals):
    conv = client.call("chat.create", {"model_id": gemma_id})
    plain = client.call("chat.count_tokens", {"conversation_id": conv["id"], "content": WARRANTY})
    assert "documents" not in plain
    client.call("chat.update", {"id": conv["id"], "collections": ["Manuals"]})
    grounded = client.call(
        "chat.count_tokens", {"conversation_id": conv["id"], "content": WARRANTY}
    )
    budget = grounded["documents"]
    assert budget["names"] == ["Manuals"] and budget["k"] == 5
    # five passages of at most 64 embedder tokens, plus the rules and their numbered headers
    assert 5 * 64 < budget["tokens"] < 5 * 64 + 200
    assert grounded["used"] == plain["used"] + budget["tokens"]
