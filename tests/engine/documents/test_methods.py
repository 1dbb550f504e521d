"""The ``docs.*`` methods around collections: create/rename/delete, settings, previews, chunk
listings, removing files, and a Qdrant server that is down."""

from __future__ import annotations

import socket

import pytest

from engine.core.errors import NotFoundError, UserError
from engine.documents import methods
from engine.documents.settings import CollectionSettings
from tests.engine.documents.conftest import ingest, small_settings
from tests.engine.documents.files import MARKDOWN


def test_create_list_rename_delete(ctx, tmp_path):
    made = methods.docs_create(ctx, name="Research", settings={"chunk_tokens": 120})
    assert made["settings"]["chunk_tokens"] == 120 and made["settings"]["overlap_tokens"] == 32
    assert made["embedder_id"].startswith("all-minilm-l6-v2") and made["backend"] == "edge"
    assert made["files"] == {"indexed": 0, "indexing": 0, "failed": 0, "skipped": 0}
    with pytest.raises(UserError, match="already a collection"):
        methods.docs_create(ctx, name="research")
    renamed = methods.docs_rename(ctx, id=made["id"], name="Papers")
    assert renamed["name"] == "Papers" and renamed["id"] == made["id"]
    assert [c["name"] for c in methods.docs_list(ctx)["collections"]] == ["Papers"]

    note = tmp_path / "note.md"
    note.write_text(MARKDOWN, encoding="utf-8")
    ingest(ctx, "Papers", [note])
    folder = ctx.services.docs.catalog.folder(made["id"])
    assert (folder / "shard").is_dir()
    assert methods.docs_delete(ctx, id="Papers") == {"deleted": made["id"]}
    assert not folder.exists() and note.exists(), "the user's file stays"
    assert methods.docs_list(ctx)["collections"] == []
    with pytest.raises(NotFoundError):
        methods.docs_get(ctx, id="Papers")
    assert ("docs.changed", {}) in ctx.notes


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"chunk_tokens": 4}, "chunk_tokens must be from 32 to 2048"),
        ({"chunk_tokens": 100, "overlap_tokens": 80}, "at most half"),
        ({"chunk_tokens": 400}, "leave room"),
        ({"mode": "magic"}, "mode must be one of"),
        ({"colour": "blue"}, "Unknown setting"),
        ({"mmr": "yes"}, "true or false"),
    ],
)
def test_bad_settings_are_refused(ctx, settings, message):
    with pytest.raises(UserError, match=message):
        methods.docs_create(ctx, name="X", settings=settings)
    assert methods.docs_list(ctx)["collections"] == []


def test_update_settings_checks_them_like_create(ctx):
    made = methods.docs_create(ctx, name="Notes", settings={"chunk_tokens": 120})
    with pytest.raises(UserError, match="leave room"):
        methods.docs_update(ctx, id="Notes", settings={"chunk_tokens": 400})
    with pytest.raises(UserError, match="at most half"):
        methods.docs_update(ctx, id="Notes", settings={"overlap_tokens": 100})
    assert methods.docs_get(ctx, id="Notes")["settings"]["chunk_tokens"] == 120  # unchanged
    updated = methods.docs_update(ctx, id=made["id"], settings={"chunk_tokens": 200, "k": 8})
    assert updated["settings"]["chunk_tokens"] == 200 and updated["settings"]["k"] == 8
    assert updated["settings"]["overlap_tokens"] == 32  # fields not sent keep their values


def test_preview_chunks_and_removing_files(ctx, tmp_path):
    note = tmp_path / "guide.md"
    note.write_text(MARKDOWN, encoding="utf-8")
    preview = methods.docs_preview(
        ctx, path=str(note), settings={"chunk_tokens": 32, "overlap_tokens": 0}
    )
    assert preview["type"] == "md" and preview["total"] == len(preview["chunks"]) >= 3
    assert all(c["tokens"] <= 32 for c in preview["chunks"])
    assert preview["chunks"][1]["heading"].startswith("Brewing guide")

    methods.docs_create(ctx, name="Tea", settings=small_settings())
    ingest(ctx, "Tea", [tmp_path])
    stored = methods.docs_chunks(ctx, id="Tea", file=str(note))
    assert stored["total"] == len(stored["chunks"]) >= 1
    assert [c["index"] for c in stored["chunks"]] == list(range(stored["total"]))
    assert "Green tea" in " ".join(c["heading"] for c in stored["chunks"])

    removed = methods.docs_remove_files(ctx, id="Tea", paths=[str(tmp_path)])
    assert removed["removed"] == [str(note)] and removed["sources_removed"] == [str(tmp_path)]
    assert methods.docs_get(ctx, id="Tea")["chunks"] == 0
    assert ctx.services.docs.store(ctx.services.docs.catalog.get("Tea")).count() == 0
    with pytest.raises(UserError, match="not an indexed file"):
        methods.docs_chunks(ctx, id="Tea", file=str(note))


def test_eval_from_a_qa_file(ctx, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(MARKDOWN, encoding="utf-8")
    methods.docs_create(ctx, name="Tea", settings=small_settings())
    ingest(ctx, "Tea", [tmp_path / "docs"])
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        '{"question": "How hot should green tea be?", "answer": "80 degrees"}\n'
        '\n{"question": "black tea steeping time", "source": "guide.md"}\n',
        encoding="utf-8",
    )
    report = methods.docs_eval(ctx, id="Tea", qa=str(qa))
    assert report["questions"] == 2 and report["hybrid"]["hit@5"] == 1.0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no way to judge"}\n', encoding="utf-8")
    with pytest.raises(UserError, match="answer"):
        methods.docs_eval(ctx, id="Tea", qa=str(bad))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_qdrant_server_down_is_a_clear_error_and_nothing_local_is_lost(ctx, tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(UserError, match="Cannot reach the Qdrant server"):
        methods.docs_create(ctx, name="Team", server_url=url)
    assert methods.docs_list(ctx)["collections"] == []

    # a local collection with content, and a server collection whose server went away
    note = tmp_path / "guide.md"
    note.write_text(MARKDOWN, encoding="utf-8")
    methods.docs_create(ctx, name="Local", settings=small_settings())
    ingest(ctx, "Local", [note])
    docs = ctx.services.docs
    team = docs.catalog.create(
        "Team",
        embedder_id=methods.docs_get(ctx, id="Local")["embedder_id"],
        settings=CollectionSettings(),
        server_url=url,
    )
    started = methods.docs_ingest(ctx, id=team["id"], paths=[str(note)])
    job = ctx.services.jobs.wait(started["job"]["id"], 120)
    assert job["state"] == "failed"
    assert url in job["error"] and "Nothing local was changed" in job["error"]
    assert methods.docs_files(ctx, id="Team")["files"] == []
    local = methods.docs_search(ctx, id="Local", query="green tea temperature")
    assert local["results"], "the local collection still works"
    with pytest.raises(UserError, match="Cannot reach"):
        methods.docs_search(ctx, id="Team", query="tea")
