"""The Hearth starter adapter: the instruction set it was trained on, its place in the library as
the default chat model (removable), and what it does to grounded answers with the bundled Gemma."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from engine.chat.generate import default_model_id
from engine.core.errors import NotFoundError
from engine.documents import answer, methods
from engine.models import starter
from engine.models.bundled import starter_id
from tests.engine.documents.conftest import Ctx, ingest
from tests.engine.runtimes.fixtures import bundled_home

RECIPE = Path(__file__).resolve().parents[3] / "scripts" / "starter"
sys.path.insert(0, str(RECIPE))
import build  # noqa: E402
import heldout  # noqa: E402

_SOURCE = re.compile(r"^\[(\d+)\] (\S+)$", re.MULTILINE)


@pytest.fixture
def home(hearth_home, tmp_path_factory):
    """A data folder with the bundled Gemma already in place (linked, not reassembled)."""
    return bundled_home(hearth_home)


def _rows() -> list[dict]:
    return [json.loads(line) for line in starter.INSTRUCTIONS.read_text(encoding="utf-8").splitlines()]  # fmt: skip


def test_grounded_rows_are_what_docs_ask_sends_and_cite_only_their_sources():
    rows = _rows()
    kinds = Counter(r["kind"] for r in rows)
    assert {"who", "when", "where", "what", "not-found", "chat"} <= set(kinds)
    assert kinds["not-found"] >= 0.08 * (len(rows) - kinds["chat"])
    giveaways = [name.lower() for name in heldout.GIVEAWAYS]
    for row in rows:
        *prompt, reply = row["messages"]
        assert reply["role"] == "assistant" and reply["content"].strip()
        cited = [int(n) for n in re.findall(r"\[(\d+)\]", reply["content"])]
        if row["kind"] == "chat":
            assert not any("Sources:" in m["content"] for m in prompt) and not cited
            continue
        assert prompt[0] == {"role": "system", "content": answer.SYSTEM_PROMPT}
        sources = _SOURCE.findall(prompt[-1]["content"])
        assert [int(n) for n, _ in sources] == list(range(1, len(sources) + 1))
        paragraphs = [line.lower() for line in prompt[-1]["content"].splitlines()[1:]
                      if line and not _SOURCE.match(line) and not line.startswith("Question:")]  # fmt: skip
        leaked = [g for g in giveaways if any(g in p for p in paragraphs)]
        assert not leaked, f"a held-out answer leaked into training: {leaked}"
        if row["kind"] == "not-found":
            assert reply["content"] == build.NOT_FOUND
        else:
            assert len(cited) == 1 and 1 <= cited[0] <= len(sources)


@pytest.mark.skipif(
    not (build.foldoc.DICT_DIR / "foldoc.index").exists(), reason="dict-foldoc is not installed"
)
def test_the_recipe_writes_the_same_instruction_set_without_the_held_out_entries(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(build, "OUT", tmp_path / "instructions.jsonl")
    monkeypatch.setattr(build, "ROOT", tmp_path)
    build.main()
    written = (tmp_path / "instructions.jsonl").read_text(encoding="utf-8")
    assert written == starter.INSTRUCTIONS.read_text(encoding="utf-8")
    entries = {h.lower(): e for e in build.foldoc.read() for h in e.heads}
    for term, _question, _span in heldout.QUESTIONS:
        assert entries[term.lower()].text[:80] not in written, term


def test_the_starter_is_the_default_chat_model_until_removed(home, services):
    sid = starter_id()
    assert default_model_id(services) == sid
    model = services.library.get(sid)
    gemma = next(m for m in services.library.list() if m["role"] == "llm")
    assert model["role"] == "adapter" and model["bundled"] and model["base_model_id"] == gemma["id"]
    assert model["size_bytes"] < 16 * 1024 * 1024  # a few MB beside the 253 MB base

    services.library.remove(sid)  # the bare base model is the default again, and stays so
    assert default_model_id(services) == gemma["id"]
    services.library.ensure_bundled()
    with pytest.raises(NotFoundError):
        services.library.get(sid)
    assert starter.ADAPTER_FILE.is_file()  # a bundled file is never deleted

    services.library.ensure_bundled(restore=True)
    assert default_model_id(services) == sid


ENTRIES = {
    "harrow-engine.txt": (
        "Harrow engine\n\nThe Harrow engine was a mechanical tabulating machine designed by "
        "Edith Lindqvist at the Malmo Institute of Technology in 1931. It sorted punched cards "
        "by four columns at once and was used for census work until 1950."
    ),
    "quill-language.txt": (
        "Quill\n\nQuill is a typesetting language written by Tomas Oberg in 1974 for printing "
        "scientific journals. Its documents are plain text with commands that begin with a colon."
    ),
    "marrow-protocol.txt": (
        "Marrow protocol\n\nThe Marrow protocol is a method for sending files over telephone "
        "lines, developed by the Kestrel Group in 1983. It checks every block with a sum."
    ),
}


def test_starter_answers_from_its_sources_cites_and_stops(home, services, tmp_path):
    """Facts that exist nowhere but in these sources: the answer must come from them."""
    ctx = Ctx(services)
    folder = tmp_path / "entries"
    folder.mkdir()
    for name, text in ENTRIES.items():
        (folder / name).write_text(text, encoding="utf-8")
    methods.docs_create(ctx, name="Entries", settings={"chunk_tokens": 96, "overlap_tokens": 8})
    ingest(ctx, "Entries", [folder / name for name in ENTRIES])
    greedy = {"temperature": 0, "seed": 0, "max_tokens": 96}
    try:
        for question, span in (
            ("Who designed the Harrow engine?", "Lindqvist"),
            ("When was Quill written?", "1974"),
            ("Who developed the Marrow protocol?", "Kestrel"),
        ):
            got = methods.docs_ask(ctx, collections=["Entries"], question=question, params=greedy)
            assert got["model_id"] == starter_id()
            assert span in got["text"], got["text"]
            given = len(got["citations"])
            cited = [int(n) for n in re.findall(r"\[(\d+)\]", got["text"])]
            assert cited and all(1 <= n <= given for n in cited), got["text"]
            right = next(c["n"] for c in got["citations"] if span in c["text"])
            assert right in cited and got["finish_reason"] == "stop"
    finally:
        ctx.services.runtimes.close()


def test_without_its_file_the_bare_base_model_is_the_default(home, services, monkeypatch):
    monkeypatch.setattr(starter, "ADAPTER_FILE", starter.HERE / "gone.gguf")
    bundled = services.library.ensure_bundled()  # no error: Hearth works without the adapter
    assert sorted(m["role"] for m in bundled) == ["embedding", "llm"]
    assert default_model_id(services) == next(m["id"] for m in bundled if m["role"] == "llm")
