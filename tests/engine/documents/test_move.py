"""Moving a collection to a Qdrant server and back: the same searches give the same hits, the
collection keeps its id, settings and conversations, a move cut half-way resumes with the embedded
copy untouched until the server copy checks out, and a copy that does not check out is dropped.

The "server" is qdrant-client's local mode behind ``ServerStore`` (one in-memory instance per URL,
shared like a real server): the same client calls a Qdrant server gets, without one running here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.errors import Cancelled, UserError
from engine.documents import methods, move
from engine.jobs.registry import SimpleContext
from tests.engine.documents.conftest import ingest, small_settings
from tests.engine.documents.files import CSV, HTML, MARKDOWN

URL = "http://qdrant.test:6333"
QUERIES = ("how hot to steep green tea", "whales in the ocean", "Grace the admiral in Arlington")


@pytest.fixture
def servers(monkeypatch):
    """URL -> a qdrant-client in local mode, kept across ServerStore objects like a server."""
    from qdrant_client import QdrantClient

    from engine.documents.store.server import ServerStore

    made: dict[str, QdrantClient] = {}

    def client(self):
        if self._client is None:
            self._client = made.setdefault(self.url, QdrantClient(":memory:"))
        return self._client

    monkeypatch.setattr(ServerStore, "client", client)
    monkeypatch.setattr(ServerStore, "close", lambda self: setattr(self, "_client", None))
    return made


@pytest.fixture
def collection(ctx, tmp_path):
    for name, text in (("guide.md", MARKDOWN), ("whales.html", HTML), ("people.csv", CSV)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    made = methods.docs_create(ctx, name="Notes", settings=small_settings(chunk_tokens=32, overlap_tokens=4))  # fmt: skip
    ingest(ctx, "Notes", [tmp_path])
    return made


def _hits(ctx) -> list[list[tuple[str, float]]]:
    out = []
    for q in QUERIES:
        found = methods.docs_search(ctx, id="Notes", query=q, k=5, cache=False, min_score=0.0)
        out.append([(h["id"], round(h["score"], 4)) for h in found["results"]])
    return out


def _move(services, to, ctx=None) -> dict:
    collection = services.docs.catalog.get("Notes")
    ctx = ctx or SimpleContext(services=services)
    return move.run_move(services, {"collection": collection["id"], "to": to}, ctx)


def test_there_and_back_with_the_same_hits(ctx, services, collection, servers):
    before = _hits(ctx)
    assert before[0]
    conv = services.chats.create(title="about whales", collections=[collection["id"]])
    count = services.docs.store(collection).count()
    result = _move(services, URL)
    assert result["to"] == URL and result["chunks"] == count and result["verified"]["searches"] >= 8
    assert result["chunks_per_s"] > 0 and result["first_search_ms"] >= 0
    moved = methods.docs_get(ctx, id="Notes")
    assert moved["id"] == collection["id"] and moved["backend"] == "server"
    assert moved["settings"] == collection["settings"]
    shard = services.docs.catalog.folder(collection["id"]) / "shard"
    assert not shard.exists()  # the embedded copy went once the server's checked out
    assert servers[URL].count(f"hearth-{collection['id']}").count == count
    assert _hits(ctx) == before
    assert services.chats.conversation(conv["id"])["collections"] == [collection["id"]]

    back = _move(services, "embedded")
    assert back["to"] == "embedded" and back["chunks"] == count
    assert methods.docs_get(ctx, id="Notes")["backend"] == "edge" and shard.exists()
    assert not servers[URL].collection_exists(f"hearth-{collection['id']}")
    assert _hits(ctx) == before


def test_a_move_cut_half_way_resumes_and_the_embedded_copy_stays(ctx, services, collection, servers, monkeypatch):  # fmt: skip
    monkeypatch.setattr(move, "PAGE", 2)
    before = _hits(ctx)
    count = services.docs.store(collection).count()
    assert count > 4

    class CutAfterTwoPages(SimpleContext):
        def progress(self, fraction, message=None):
            super().progress(fraction, message)
            self.cancel_flag = sum(1 for e in self.events if e[0] == "progress") >= 2

    with pytest.raises(Cancelled):
        _move(services, URL, CutAfterTwoPages(services=services))
    assert methods.docs_get(ctx, id="Notes")["backend"] == "edge"
    assert services.docs.store(collection).count() == count and _hits(ctx) == before
    assert servers[URL].count(f"hearth-{collection['id']}").count == 4  # two pages of two
    resumed = SimpleContext(services=services)
    result = _move(services, URL, resumed)
    assert result["chunks"] == count
    first = next(m for kind, (_f, m) in resumed.events if kind == "progress")
    assert first.startswith("Copied 6 of")  # went on from chunk 4
    assert _hits(ctx) == before


def test_a_copy_that_does_not_check_out_switches_nothing(ctx, services, collection, servers, monkeypatch):  # fmt: skip
    from engine.documents.store.server import ServerStore

    real = ServerStore.upsert
    monkeypatch.setattr(
        ServerStore, "upsert", lambda self, points: real(self, points[:-1])
    )  # one lost a page
    with pytest.raises(UserError, match=r"The copy has .* chunks where the collection has"):
        _move(services, URL)
    assert methods.docs_get(ctx, id="Notes")["backend"] == "edge"
    assert not servers[URL].collection_exists(f"hearth-{collection['id']}")
    assert not (services.docs.catalog.folder(collection["id"]) / "move.json").exists()


def test_refusals(ctx, services, collection, monkeypatch):
    with pytest.raises(UserError, match="already embedded"):
        methods.docs_move(ctx, id="Notes", to="embedded")
    with pytest.raises(UserError, match="must start with http"):
        methods.docs_move(ctx, id="Notes", to="qdrant.test:6333")
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    with pytest.raises(UserError, match="NO_SUCH_KEY is not set"):
        methods.docs_move(ctx, id="Notes", to=URL, api_key_env="NO_SUCH_KEY")


def test_the_command_line_moves_it(services, collection, servers, capsys):
    import json

    from engine.cli import main

    assert main(["docs", "move", "Notes", "--to", URL, "--json"]) == 0
    moved = json.loads(capsys.readouterr().out)
    assert moved["to"] == URL and moved["id"] == collection["id"] and moved["verified"]["chunks"] == moved["chunks"]  # fmt: skip
    assert main(["docs", "move", "Notes", "--to", "embedded", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["to"] == "embedded"
    assert main(["docs", "move", "Notes", "--to", "embedded"]) == 2
    assert "already embedded" in capsys.readouterr().err


def test_a_server_key_named_by_a_variable_is_not_written_down(services, collection, servers, monkeypatch, hearth_home):  # fmt: skip
    from tests.engine.runtimes.servers import files_containing

    monkeypatch.setenv("QDRANT_KEY", "qk-5e5e5e5e5e")
    cid = collection["id"]
    move.run_move(services, {"collection": cid, "to": URL, "api_key_env": "QDRANT_KEY"}, SimpleContext(services=services))  # fmt: skip
    stored = services.db().execute("SELECT api_key FROM doc_collections WHERE id = ?", (cid,)).fetchone()[0]  # fmt: skip
    assert stored == "env:QDRANT_KEY" and services.docs.catalog.api_key(cid) == "qk-5e5e5e5e5e"
    assert files_containing(hearth_home, b"qk-5e5e5e5e5e") == []


def test_the_same_server_under_another_address_is_never_dropped(ctx, services, collection, servers):
    _move(services, URL)
    count = services.docs.store(services.docs.catalog.get("Notes")).count()
    servers["http://127.0.0.1:6333"] = servers[URL]  # one server, two addresses
    with pytest.raises(UserError, match=r"already has a collection .* with \d+ chunks: perhaps this collection's own copy"):  # fmt: skip
        _move(services, "http://127.0.0.1:6333")
    assert servers[URL].count(f"hearth-{collection['id']}").count == count
    assert methods.docs_get(ctx, id="Notes")["server_url"] == URL


def test_a_paused_move_starts_over_when_the_collection_changed(ctx, services, collection, servers, monkeypatch, tmp_path):  # fmt: skip
    monkeypatch.setattr(move, "PAGE", 2)

    class CutAfterOnePage(SimpleContext):
        def progress(self, fraction, message=None):
            super().progress(fraction, message)
            self.cancel_flag = True

    with pytest.raises(Cancelled):
        _move(services, URL, CutAfterOnePage(services=services))
    extra = tmp_path / "extra.md"
    extra.write_text("# Coffee\n\nGrind the beans just before brewing.\n", encoding="utf-8")
    ingest(ctx, "Notes", [extra])  # allowed while the move waits; the collection changed
    resumed = SimpleContext(services=services)
    result = _move(services, URL, resumed)
    first = next(m for kind, (_f, m) in resumed.events if kind == "progress")
    assert first.startswith("Copied 2 of")  # from the start, not from the old place
    assert result["chunks"] == services.docs.store(services.docs.catalog.get("Notes")).count()
    assert "extra.md" in {Path(f).name for f in services.docs.store(services.docs.catalog.get("Notes")).file_counts()}  # fmt: skip
