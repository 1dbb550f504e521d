"""SIGKILL of the engine at a random point of a streaming chat, a dataset import and an ingestion,
then the invariants on the next start: the reply is kept up to its last flush and marked
interrupted; a dataset is absent or whole (and whole when imported again); an ingestion resumed has
every chunk once; the database passes its integrity check."""

from __future__ import annotations

import json
import time

import pytest

from engine.chat.conversations import FLUSH_EVERY_S
from engine.services import Services
from tests.faults.conftest import trials, wait_for

pytestmark = pytest.mark.faults


def _integrity(services: Services) -> str:
    return services.db().execute("PRAGMA integrity_check").fetchone()[0]


@pytest.mark.parametrize(("trial", "rng"), trials())
def test_kill_during_streaming_chat(trial, rng, services, gemma_id, hearth_home, engine_factory):
    conv = services.chats.create(model_id=gemma_id, title="Counting")
    engine = engine_factory()
    engine.send("chat.send", {"conversation_id": conv["id"], "content": "Count from 1 to 1000: 1, 2, 3,",
                              "params": {"max_tokens": 3000, "ignore_eos": True, "temperature": 0,
                                         "template": "alpaca"}})  # fmt: skip
    after = rng.uniform(0.3, 2.0)  # seconds of streaming before the kill
    arrivals: list[tuple[float, str]] = []
    while not arrivals or time.monotonic() - arrivals[0][0] < after:
        msg = engine.read()
        assert "id" not in msg, msg  # still streaming: no answer yet
        if msg.get("method") == "chat.delta":
            arrivals.append((time.monotonic(), msg["params"]["text"]))
    killed_at = time.monotonic()
    engine.kill()

    fresh = Services(hearth_home)
    try:
        user, reply = fresh.chats.thread(conv["id"])["messages"]
        streamed = "".join(t for _, t in arrivals)
        assert reply["state"] == "interrupted" and reply["interrupted"], (trial, after)
        assert streamed.startswith(reply["content"]), (trial, after)
        # everything streamed more than one flush interval (plus scheduling slack) before the
        # kill is on disk
        flushed = "".join(t for at, t in arrivals if at < killed_at - FLUSH_EVERY_S - 0.3)
        assert len(reply["content"]) >= len(flushed), (trial, after, len(reply["content"]), len(flushed))  # fmt: skip
        assert user["content"].startswith("Count from 1 to 1000")
        assert _integrity(fresh) == "ok"
    finally:
        fresh.close()


@pytest.mark.parametrize(("trial", "rng"), trials())
def test_kill_during_dataset_import(trial, rng, services, hearth_home, tmp_path, engine_factory):
    from engine.datasets.library import DatasetLibrary

    rows = 60_000
    source = tmp_path / "rows.jsonl"
    with open(source, "w", encoding="utf-8") as fh:
        for i in range(rows):
            fh.write(json.dumps({"instruction": f"Question {i}?", "output": f"Answer {i}. " * 8}) + "\n")  # fmt: skip
    engine = engine_factory()
    job = engine.call("data.import", {"path": str(source), "name": "big"})["job"]
    kill_at = rng.uniform(0.1, 0.8)
    while True:
        msg = engine.read()
        params = msg.get("params") or {}
        if msg.get("method") == "job.progress" and params.get("job_id") == job["id"]:
            assert params.get("kind") != "end", "the import finished before the kill"
            if (params.get("progress") or 0) >= kill_at:
                break
    engine.kill()

    fresh = Services(hearth_home)
    try:
        assert fresh.jobs.get(job["id"])["state"] == "interrupted"  # the start sweeps, too
        library = DatasetLibrary(fresh)
        listed = [d for d in library.list() if d["name"] == "big"]
        assert not listed or listed[0]["rows"] == rows, (trial, kill_at, listed)  # absent or whole
        folders = [p.name for p in (hearth_home / "datasets").iterdir() if not p.name.startswith(".")]  # fmt: skip
        assert len(folders) == len(library.list()), (trial, kill_at, folders)  # no orphan folder
        if not listed:  # an import is not resumable: started again, it makes the whole dataset
            again = fresh.jobs.start("data.import", fresh.jobs.get(job["id"])["params"])
            done = fresh.jobs.wait(again["id"], 300)
            assert done["state"] == "succeeded", done
        assert [d["rows"] for d in DatasetLibrary(fresh).list() if d["name"] == "big"] == [rows]
        assert _integrity(fresh) == "ok"
    finally:
        fresh.close()


@pytest.mark.parametrize(("trial", "rng"), trials())
def test_kill_during_ingestion(trial, rng, services, hearth_home, tmp_path, engine_factory):
    from tests.engine.documents.test_cli import indexed_count, write_corpus

    files = write_corpus(tmp_path / "notes")
    engine = engine_factory()
    engine.call("docs.create", {"name": "Notes", "settings": {"chunk_tokens": 48, "overlap_tokens": 8, "batch_size": 4}})  # fmt: skip
    job = engine.call("docs.ingest", {"id": "Notes", "paths": [str(tmp_path / "notes")]})["job"]
    stop_after = rng.randint(1, len(files) - 4)
    wait_for(lambda: indexed_count(hearth_home) >= stop_after, 180, f"{stop_after} files indexed")
    engine.kill()

    fresh = Services(hearth_home)
    try:
        assert fresh.jobs.get(job["id"])["state"] == "interrupted"
        done = fresh.jobs.wait(fresh.jobs.resume(job["id"])["id"], 300)
        assert done["state"] == "succeeded", done
        collection = fresh.docs.catalog.get("Notes")
        catalog_rows = fresh.docs.catalog.files(collection["id"])
        assert sorted(r["path"] for r in catalog_rows) == sorted(files)
        assert {r["status"] for r in catalog_rows} == {"indexed"}
        store = fresh.docs.store(collection)
        assert store.file_counts() == {r["path"]: r["chunks"] for r in catalog_rows}
        assert store.count() == sum(r["chunks"] for r in catalog_rows), (trial, stop_after)
        assert _integrity(fresh) == "ok"
    finally:
        fresh.docs.close()
        fresh.close()
