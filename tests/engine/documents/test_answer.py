"""Grounded answers: numbered sources, citations that point at the right page and span, and the
round trip through the chat engine (stubbed, then once with the bundled Gemma)."""

from __future__ import annotations

import pytest

from engine.documents import methods
from tests.engine.documents.conftest import ingest
from tests.engine.documents.files import write_pdf

PAGES = [
    "Thank you for buying the Aurora kettle.\nRead this manual before first use.",
    "Fill the kettle with water up to the MAX line.\nPress the switch to boil the water.",
    "Warranty: the Aurora kettle is covered for three years from the date of purchase.",
    "Cleaning: wipe the outside with a damp cloth. Never put the kettle in a dishwasher.",
]


@pytest.fixture
def manual(ctx, tmp_path):
    pdf = write_pdf(tmp_path / "manual.pdf", PAGES)
    methods.docs_create(ctx, name="Manuals", settings={"chunk_tokens": 64, "overlap_tokens": 8})
    ingest(ctx, "Manuals", [pdf])
    return pdf


def test_citations_point_at_the_right_page_and_span(ctx, manual):
    grounded = methods.docs_prepare(
        ctx, collections=["Manuals"], question="How long is the warranty?"
    )
    first = grounded["citations"][0]
    assert first["n"] == 1 and first["page"] == 3 and first["name"] == "manual.pdf"
    assert "three years" in first["text"]
    assert "[1] manual.pdf, page 3" in grounded["messages"][1]["content"]
    assert (
        grounded["messages"][1]["content"].rstrip().endswith("Question: How long is the warranty?")
    )

    passage = methods.docs_passage(
        ctx, id="Manuals", file=first["file"], start=first["start"], end=first["end"], context=60
    )
    assert passage["text"] == first["text"]
    assert passage["before"] and passage["after"]  # the pages around it, for context

    cleaning = methods.docs_prepare(
        ctx, collections="Manuals", question="Can it go in the dishwasher?"
    )
    assert cleaning["citations"][0]["page"] == 4


def test_ask_sends_numbered_sources_to_the_chat_engine_and_marks_cited(ctx, manual, monkeypatch):
    import engine.chat.generate as chat_generate

    seen = {}

    def fake_generate(
        services, *, model_id, messages, params=None, on_delta=None, cancelled=None, **_
    ):
        seen["messages"] = messages
        text = "The kettle is covered for three years [1]."
        if on_delta:
            on_delta(text)
        return {"text": text, "finish_reason": "stop", "model_id": "fake", "runtime": "llama_cpp"}

    monkeypatch.setattr(chat_generate, "generate", fake_generate)
    result = methods.docs_ask(ctx, collections=["Manuals"], question="How long is the warranty?")
    assert result["cited"] == [1] and result["citations"][0]["cited"] is True
    assert result["citations"][0]["page"] == 3
    assert seen["messages"][0]["role"] == "system" and "[1]" in seen["messages"][1]["content"]
    assert ("chat.delta", {"id": "test", "text": result["text"]}) in ctx.notes


def test_ask_says_when_nothing_is_relevant_without_calling_the_model(ctx, manual, monkeypatch):
    import engine.chat.generate as chat_generate

    def boom(*_a, **_k):
        raise AssertionError("the model must not be asked")

    monkeypatch.setattr(chat_generate, "generate", boom)
    result = methods.docs_ask(ctx, collections=["Manuals"], question="Who won the 1954 World Cup?")
    assert result["nothing_found"] and result["citations"] == []
    assert "nothing relevant" in result["text"]


def test_ask_with_the_bundled_model(ctx, manual, hearth_home, tmp_path_factory):
    from tests.engine.runtimes.fixtures import bundled_home

    bundled_home(hearth_home)
    try:
        result = methods.docs_ask(
            ctx,
            collections=["Manuals"],
            question="How long is the warranty?",
            params={"max_tokens": 8, "seed": 1, "temperature": 0},
        )
    finally:
        ctx.services.runtimes.close()
    assert result["runtime"] == "llama_cpp" and result["usage"]["completion_tokens"] <= 8
    assert result["citations"][0]["page"] == 3
    assert result["finish_reason"] in ("stop", "length")


def test_ask_with_a_model_on_a_server(ctx, manual):
    """The numbered sources go to the server as the messages; its cited reply is marked."""
    import json

    from engine.models import remote
    from tests.engine.runtimes.servers import Scripted, models_route, stream_route

    server = Scripted()
    server.routes[("GET", "/v1/models")] = models_route(["reader"])
    server.routes[("POST", "/v1/chat/completions")] = stream_route(["Three years ", "[1]."])
    try:
        model = remote.add(ctx.services, server.url, confirm=True)
        result = methods.docs_ask(ctx, collections=["Manuals"], question="How long is the warranty?",
                                  model=model["id"])  # fmt: skip
        sent = json.loads(server.hits[-1][3])["messages"]
    finally:
        server.stop()
    assert result["text"] == "Three years [1]." and result["runtime"] == "remote"
    assert result["cited"] == [1] and result["citations"][0]["page"] == 3
    assert sent[0]["role"] == "system" and "[1] manual.pdf, page 3" in sent[1]["content"]
