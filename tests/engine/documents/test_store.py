"""The ``VectorStore`` contract, run against the embedded shard, qdrant-client's in-process mode,
and a real Qdrant server when ``HEARTH_TEST_QDRANT_URL`` is set; plus a server that is down."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from engine.core.errors import UserError
from engine.documents import bm25
from engine.documents.store import ChunkPoint, Filters, Query, point_id
from engine.documents.store.base import DENSE, SPARSE

SERVER_URL = os.environ.get("HEARTH_TEST_QDRANT_URL")


@pytest.fixture(params=["edge", "server-local", "server"])
def store(request, tmp_path):
    if request.param == "edge":
        from engine.documents.store.edge import EdgeStore

        s = EdgeStore(tmp_path / "shard")
    elif request.param == "server-local":
        from qdrant_client import QdrantClient

        from engine.documents.store.server import ServerStore

        s = ServerStore("memory", "test", client=QdrantClient(":memory:"))
    else:
        if not SERVER_URL:
            pytest.skip("set HEARTH_TEST_QDRANT_URL to run the store tests against a Qdrant server")
        from engine.documents.store.server import ServerStore

        s = ServerStore(
            SERVER_URL,
            f"hearth-test-{uuid.uuid4().hex[:8]}",
            api_key=os.environ.get("HEARTH_TEST_QDRANT_API_KEY"),
        )
    yield s
    if request.param == "server":
        s.drop()
    s.close()


def _points(file: str, texts: list[str], kind: str = "txt") -> list[ChunkPoint]:
    out = []
    for i, text in enumerate(texts):
        dense = [0.0] * 8
        dense[i % 8] = 1.0
        out.append(
            ChunkPoint(
                id=point_id(file, "h1", i),
                dense=dense,
                sparse=bm25.document_vector(text, avg_len=10),
                payload={
                    "file": file,
                    "name": file.rsplit("/", 1)[-1],
                    "type": kind,
                    "index": i,
                    "text": text,
                },
            )
        )
    return out


def test_contract(store):
    assert not store.exists() and store.count() == 0
    store.create(8)
    assert store.exists() and store.dimension() == 8
    store.upsert(_points("/d/a.txt", ["the zebra crossing", "apples and pears", "zebra stripes"]))
    store.upsert(_points("/d/b.md", ["apples are red", "bananas are yellow"], kind="md"))
    store.upsert(_points("/d/b.md", ["apples are red", "bananas are yellow"], kind="md"))  # again
    store.flush()
    assert store.count() == 5, "same ids overwrite, never duplicate"
    assert store.file_counts() == {"/d/a.txt": 3, "/d/b.md": 2}

    dense_q = [1.0] + [0.0] * 7
    dense, sparse = store.search(
        [Query(DENSE, dense_q, 2), Query(SPARSE, bm25.query_vector("zebra"), 5, with_vector=True)]
    )
    assert dense[0].payload["index"] == 0 and dense[0].score == pytest.approx(1.0, abs=1e-4)
    assert {h.payload["text"] for h in sparse} == {"the zebra crossing", "zebra stripes"}
    assert all(h.vector is not None and len(h.vector) == 8 for h in sparse)

    (only_md,) = store.search(
        [Query(SPARSE, bm25.query_vector("apples"), 5, Filters(types=["md"]))]
    )
    assert [h.payload["file"] for h in only_md] == ["/d/b.md"]
    (by_name,) = store.search([Query(DENSE, dense_q, 5, Filters(names=["a.txt"]))])
    assert {h.payload["file"] for h in by_name} == {"/d/a.txt"}

    got = store.retrieve([point_id("/d/b.md", "h1", 1), point_id("/d/b.md", "h1", 9)])
    assert [h.payload["text"] for h in got] == ["bananas are yellow"]

    store.delete_files(["/d/a.txt"])
    assert store.count() == 2 and store.file_counts() == {"/d/b.md": 2}
    store.drop()
    assert not store.exists()


def test_idf_makes_rare_terms_count(store):
    store.create(8)
    common = [f"report {i} about the weather" for i in range(20)]
    store.upsert(_points("/d/c.txt", [*common, "report about the quokka"]))
    (hits,) = store.search([Query(SPARSE, bm25.query_vector("report quokka"), 3)])
    assert hits[0].payload["text"] == "report about the quokka"
    assert hits[0].score > 2 * hits[1].score


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_that_is_down_gives_a_clear_error():
    from engine.documents.store.server import ServerStore

    url = f"http://127.0.0.1:{_closed_port()}"
    store = ServerStore(url, "hearth-x")
    with pytest.raises(UserError) as info:
        store.count()
    assert url in info.value.message and "Cannot reach the Qdrant server" in info.value.message
    assert "Nothing local was changed" in info.value.message
