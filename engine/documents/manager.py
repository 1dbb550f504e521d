"""The live side of Documents in one engine process: open stores, loaded embedders, running ingests.

``services.docs`` returns the process's ``DocsManager``, created on first use and attached to
the ``Services``. Stores and embedders are opened once and shared by searches (RPC threads) and
ingestion (a job thread). The extracted text of each indexed file is kept, gzip-compressed, in
``<collection>/text/<hash>.txt.gz`` so chunk previews and citations can show a passage in context
without re-reading the source.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.documents.catalog import Catalog
from engine.documents.embedder import Embedder, open_embedder, resolve_model
from engine.documents.store.base import VectorStore

if TYPE_CHECKING:
    from engine.documents.gguf_embedder import GgufEmbedder
    from engine.services import Services

log = logging.getLogger(__name__)
# One EdgeStore per shard folder in the whole process: a shard can be opened only once, and
# several Services (tests, in-process CLI calls) may point at the same data root.
_EDGE_STORES: dict[str, VectorStore] = {}
_edge_lock = threading.Lock()


class DocsManager:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.catalog = Catalog(services)
        self._stores: dict[str, VectorStore] = {}
        self._embedders: dict[str, Any] = {}  # path -> Embedder or GgufEmbedder
        self._ingesting: dict[str, str] = {}  # collection id -> job id
        self._counts: dict[str, tuple[tuple[str, int], int]] = {}
        self._lock = threading.RLock()
        # close shards at exit so their files are flushed (the WAL covers a crash anyway)
        ref = weakref.ref(self)
        atexit.register(lambda: (m := ref()) is not None and m.close())

    # ---- stores -------------------------------------------------------------------------------
    def store(self, collection: dict[str, Any]) -> VectorStore:
        cid = collection["id"]
        with self._lock:
            store = self._stores.get(cid)
            if store is None:
                store = self._make_store(collection)
                self._stores[cid] = store
            return store

    def _make_store(self, collection: dict[str, Any]) -> VectorStore:
        if collection.get("server_url"):
            from engine.documents.store.server import ServerStore

            return ServerStore(
                collection["server_url"],
                f"hearth-{collection['id']}",
                api_key=self.catalog.api_key(collection["id"]),
            )
        from engine.documents.store.edge import EdgeStore

        path = str((self.catalog.folder(collection["id"]) / "shard").absolute())
        with _edge_lock:
            store = _EDGE_STORES.get(path)
            if store is None:
                store = _EDGE_STORES[path] = EdgeStore(Path(path))
            return store

    def point_count(self, collection: dict[str, Any], generation: int) -> int:
        """Chunks in the collection's store, remembered until its generation changes."""
        key = (collection["id"], generation)
        cached = self._counts.get(collection["id"])
        if cached is not None and cached[0] == key:
            return cached[1]
        count = self.store(collection).count()
        self._counts[collection["id"]] = (key, count)
        return count

    def forget_store(self, collection_id: str) -> None:
        with self._lock:
            store = self._stores.pop(collection_id, None)
        if store is not None:
            _close(store)

    # ---- embedders ----------------------------------------------------------------------------
    def embedder(self, embedder_id: str | None) -> Embedder | GgufEmbedder:
        model = resolve_model(self.services, embedder_id)
        key = str(model["path"])
        with self._lock:
            emb = self._embedders.get(key)
            if emb is None:
                emb = open_embedder(model)
                self._embedders[key] = emb
            return emb

    # ---- ingestion bookkeeping ---------------------------------------------------------------
    def begin_ingest(self, collection_id: str, job_id: str) -> None:
        with self._lock:
            running = self._ingesting.get(collection_id)
            if running is not None and running != job_id:
                raise UserError(
                    f"Collection is already being ingested (job {running}); wait for it or "
                    "cancel it first."
                )
            self._ingesting[collection_id] = job_id

    def end_ingest(self, collection_id: str, job_id: str) -> None:
        with self._lock:
            if self._ingesting.get(collection_id) == job_id:
                del self._ingesting[collection_id]

    def ingesting(self, collection_id: str) -> str | None:
        with self._lock:
            return self._ingesting.get(collection_id)

    # ---- extracted text ----------------------------------------------------------------------
    def text_path(self, collection_id: str, file_hash: str) -> Path:
        return self.catalog.folder(collection_id) / "text" / f"{file_hash}.txt.gz"

    def read_span(self, collection_id: str, file_hash: str, start: int, end: int) -> str | None:
        """``text[start:end]`` of an indexed file's extracted text, read as a stream."""
        import gzip

        path = self.text_path(collection_id, file_hash)
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                skip = max(0, start)
                while skip > 0:
                    got = fh.read(min(skip, 1 << 20))
                    if not got:
                        return ""
                    skip -= len(got)
                return fh.read(max(0, end - max(0, start)))
        except (OSError, EOFError):
            return None

    def close(self) -> None:
        with self._lock:
            stores = list(self._stores.values())
            self._stores.clear()
        for store in stores:
            _close(store)


def _close(store: VectorStore) -> None:
    with _edge_lock:
        for key, value in list(_EDGE_STORES.items()):
            if value is store:
                del _EDGE_STORES[key]
    try:
        store.close()
    except Exception:  # closing at exit must not raise
        log.exception("closing a collection store failed")
