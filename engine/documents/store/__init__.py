"""Vector stores behind one interface: an embedded Qdrant shard per collection (``EdgeStore``,
qdrant-edge) or a collection on a Qdrant server (``ServerStore``, qdrant-client).

Each point is one chunk: a dense vector ``dense``, a BM25 sparse vector ``bm25`` (IDF applied by
the store) and the chunk's payload. Point ids are deterministic (file path, file hash, chunk
index), so writing a chunk twice overwrites it instead of duplicating it.
"""

from __future__ import annotations

import uuid

from engine.documents.store.base import ChunkPoint, Filters, Query, StoreHit, VectorStore

__all__ = ["ChunkPoint", "Filters", "Query", "StoreHit", "VectorStore", "point_id"]

_NAMESPACE = uuid.UUID("5b0c6f1e-2d1a-4c1e-9a57-6f3c7e0d9a11")


def point_id(file: str, file_hash: str, index: int) -> str:
    """The id of chunk ``index`` of ``file`` at content ``file_hash`` (a UUID string)."""
    return str(uuid.uuid5(_NAMESPACE, f"{file}\x00{file_hash}\x00{index}"))
