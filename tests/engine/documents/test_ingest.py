"""Ingestion on a folder of every file type and the bad files: statuses, incremental re-ingest,
repair of a damaged store, cancel and resume (with the real bundled embedder)."""

from __future__ import annotations

import os

import pytest

from engine.documents import methods
from engine.documents.ingest import Ingestor
from engine.jobs.registry import SimpleContext
from tests.engine.documents.conftest import ingest, small_settings
from tests.engine.documents.corpus import BAD, GOOD, make_corpus


@pytest.fixture
def corpus(tmp_path):
    return make_corpus(tmp_path / "docs")


@pytest.fixture
def collection(ctx):
    return methods.docs_create(ctx, name="Office", settings=small_settings())


def consistent(ctx, collection_id: str) -> None:
    """The store holds exactly the chunks the catalogue says, one set per indexed file."""
    docs = ctx.services.docs
    store = docs.store(docs.catalog.get(collection_id))
    rows = [r for r in docs.catalog.files(collection_id) if r["status"] == "indexed"]
    assert store.file_counts() == {r["path"]: r["chunks"] for r in rows}
    assert store.count() == sum(r["chunks"] for r in rows)


def test_a_folder_of_every_type_with_bad_files(ctx, corpus, collection):
    result = ingest(ctx, collection["id"], [corpus])
    names = lambda paths: sorted(os.path.basename(p) for p in paths)  # noqa: E731
    assert names(result["indexed"]) == sorted(GOOD)
    failed = {os.path.basename(f["file"]): f["reason"] for f in result["failed"]}
    assert set(failed) == set(BAD)
    for name, words in BAD.items():
        assert words in failed[name], (name, failed[name])
    assert [os.path.basename(s["file"]) for s in result["skipped"]] == ["image.png"]
    assert "unsupported file type .png" in result["skipped"][0]["reason"]
    assert not any("ignored" in p for p in result["indexed"])

    files = methods.docs_files(ctx, id="Office")
    assert files["counts"]["indexed"] == len(GOOD) and files["counts"]["failed"] == len(BAD)
    by_name = {f["name"]: f for f in files["files"]}
    assert by_name["manual.pdf"]["pages"] == 3 and by_name["manual.pdf"]["chunks"] >= 1
    assert by_name["scan.pdf"]["status"] == "failed" and "OCR" in by_name["scan.pdf"]["reason"]
    info = methods.docs_get(ctx, id="office")
    assert info["chunks"] == files["chunks"] > 0 and info["backend"] == "edge"
    consistent(ctx, collection["id"])


def test_incremental_reingest(ctx, corpus, collection):
    ingest(ctx, collection["id"], [corpus])
    again = ingest(ctx, collection["id"])  # no paths: re-read the sources
    assert again["indexed"] == [] and again["chunks_added"] == 0
    assert sorted(
        os.path.basename(s["file"]) for s in again["skipped"] if s["reason"] == "unchanged"
    ) == sorted(GOOD)

    guide = corpus / "guide.md"
    guide.write_text(
        "# Brewing guide\n\nOolong tea wants 90 degrees and three minutes.\n", encoding="utf-8"
    )
    (corpus / "notes.txt").unlink()
    (corpus / "new.md").write_text("# New\n\nA brand new page about rooibos.", encoding="utf-8")
    third = ingest(ctx, collection["id"])
    assert sorted(os.path.basename(p) for p in third["indexed"]) == ["guide.md", "new.md"]
    assert [os.path.basename(p) for p in third["removed"]] == ["notes.txt"]
    consistent(ctx, collection["id"])
    hits = methods.docs_search(
        ctx, id="Office", query="green tea 80 degrees", mode="bm25", min_score=0
    )
    assert not any("green tea" in h["text"].lower() for h in hits["results"]), "old chunks are gone"
    hits = methods.docs_search(ctx, id="Office", query="oolong temperature", k=1)
    assert hits["results"][0]["name"] == "guide.md"


def test_chunking_change_reindexes_and_a_damaged_store_is_repaired(ctx, corpus, collection):
    ingest(ctx, collection["id"], [corpus / "guide.md", corpus / "manual.pdf"])
    docs = ctx.services.docs
    store = docs.store(docs.catalog.get(collection["id"]))
    store.delete_files([str(corpus / "manual.pdf")])  # chunks lost behind the catalogue's back
    repaired = ingest(ctx, collection["id"])
    assert [os.path.basename(p) for p in repaired["indexed"]] == ["manual.pdf"]
    consistent(ctx, collection["id"])

    methods.docs_update(ctx, id="Office", settings={"chunk_tokens": 32})
    rechunked = ingest(ctx, collection["id"])
    assert sorted(os.path.basename(p) for p in rechunked["indexed"]) == ["guide.md", "manual.pdf"]
    consistent(ctx, collection["id"])


class CancelAfterFirstFile(SimpleContext):
    def cancelled(self) -> bool:
        return any(
            kind == "metrics" and values["files_done"] >= 1
            for kind, (_, values) in self.events
            if kind == "metrics"
        )


def test_cancel_then_resume_gives_every_chunk_once(ctx, corpus, collection):
    from engine.core.errors import Cancelled

    runner = CancelAfterFirstFile(services=ctx.services)
    with pytest.raises(Cancelled) as info:
        Ingestor(ctx.services, collection["id"], runner).run([str(corpus)])
    partial = info.value.partial
    assert partial["cancelled"] and len(partial["indexed"]) < len(GOOD)
    resumed = Ingestor(ctx.services, collection["id"], SimpleContext(services=ctx.services)).run()
    done = {os.path.basename(p) for p in partial["indexed"] + resumed["indexed"]}
    assert done == set(GOOD)
    assert not set(partial["indexed"]) & set(resumed["indexed"]), "finished files are not redone"
    consistent(ctx, collection["id"])


def test_ingest_rejects_missing_paths_and_a_second_run(ctx, collection, tmp_path):
    from engine.core.errors import UserError

    with pytest.raises(UserError, match="Not found"):
        methods.docs_ingest(ctx, id="Office", paths=[str(tmp_path / "nope")])
    with pytest.raises(UserError, match="Nothing to ingest"):
        methods.docs_ingest(ctx, id="Office")


def test_loading_the_embedder_is_a_step_of_its_own(ctx, corpus, collection):
    """Not "1/10 files" for half a minute: the model load says what it is, before any count."""
    ctx.services.docs.embedder(collection["embedder_id"])._model = None  # as on a fresh start
    runner = SimpleContext(services=ctx.services)
    Ingestor(ctx.services, collection["id"], runner).run([str(corpus)])
    messages = [e[1][1] for e in runner.events if e[0] == "progress"]
    loading = [i for i, m in enumerate(messages) if m.startswith("Loading the embedding model")]
    counted = [i for i, m in enumerate(messages) if " files · " in m]
    assert len(loading) == 1 and counted and loading[0] < counted[0], messages
    assert "all-MiniLM-L6-v2" in messages[loading[0]]
