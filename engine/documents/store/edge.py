"""``EdgeStore``: a collection's chunks in an embedded Qdrant shard (qdrant-edge), on local disk.

The shard lives in ``<data root>/collections/<id>/shard``; qdrant-edge writes a WAL, so points
written before a crash or a kill are there when the shard is loaded again. One process at a time
can open a shard; a second gets a clear "in use" error. Calls are serialised with a lock: ingestion
writes from a job thread while searches arrive on RPC threads.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.core.errors import UserError
from engine.documents.store.base import (
    DENSE,
    INDEXED_FIELDS,
    SPARSE,
    ChunkPoint,
    Filters,
    Query,
    StoreHit,
    VectorStore,
    build_filter,
    hit_from_point,
    point_from_record,
)


@contextlib.contextmanager
def _errors(path: Path) -> Iterator[None]:
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        text = str(exc)
        if "WouldBlock" in text or "lock" in text.lower():
            raise UserError(
                f"The collection store {path} is open in another Hearth process (the app or a "
                "command still running); close that one and try again."
            ) from exc
        if "No space left" in text:
            raise UserError(
                f"The disk is full while writing {path}; free some space and ingest again."
            ) from exc
        raise


class EdgeStore(VectorStore):
    backend = "edge"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._shard: Any = None
        self._lock = threading.RLock()

    # ---- lifecycle --------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.path / "edge_config.json").is_file()

    def _open(self) -> Any:
        if self._shard is None:
            if not self.exists():
                raise UserError(f"The collection store {self.path} does not exist yet.")
            from qdrant_edge import EdgeShard

            with _errors(self.path):
                self._shard = EdgeShard.load(str(self.path))
        return self._shard

    def create(self, dim: int) -> None:
        import qdrant_edge as qe

        with self._lock, _errors(self.path):
            if self.exists():
                return
            self.path.mkdir(parents=True, exist_ok=True)
            config = qe.EdgeConfig(
                vectors={DENSE: qe.EdgeVectorParams(size=int(dim), distance=qe.Distance.Cosine)},
                sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            )
            shard = qe.EdgeShard.create(str(self.path), config)
            for name in INDEXED_FIELDS:
                shard.update(
                    qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword)
                )
            shard.flush()
            self._shard = shard

    def dimension(self) -> int | None:
        import json

        try:
            config = json.loads((self.path / "edge_config.json").read_text(encoding="utf-8"))
            return int(config["vectors"][DENSE]["size"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def close(self) -> None:
        with self._lock:
            if self._shard is not None:
                with contextlib.suppress(Exception):
                    self._shard.flush()
                self._shard.close()
                self._shard = None

    def drop(self) -> None:
        with self._lock:
            if self._shard is not None:
                with contextlib.suppress(Exception):
                    self._shard.close()
                self._shard = None
            shutil.rmtree(self.path, ignore_errors=True)

    # ---- writing ----------------------------------------------------------------------------
    def upsert(self, points: list[ChunkPoint]) -> None:
        if not points:
            return
        import qdrant_edge as qe

        converted = []
        for p in points:
            vectors: dict[str, Any] = {DENSE: p.dense}
            if p.sparse:
                vectors[SPARSE] = qe.SparseVector(p.sparse.indices, p.sparse.values)
            converted.append(qe.Point(p.id, vectors, p.payload))
        with self._lock, _errors(self.path):
            self._open().update(qe.UpdateOperation.upsert_points(converted))

    def delete_files(self, files: list[str]) -> None:
        if not files:
            return
        import qdrant_edge as qe

        flt = qe.Filter(must=[qe.FieldCondition("file", match=qe.MatchAny(list(files)))])
        with self._lock, _errors(self.path):
            self._open().update(qe.UpdateOperation.delete_points_by_filter(flt))

    def flush(self) -> None:
        with self._lock, _errors(self.path):
            if self._shard is not None:
                self._shard.flush()

    def optimize(self) -> None:
        with self._lock, _errors(self.path):
            self._open().optimize()

    # ---- reading ----------------------------------------------------------------------------
    def count(self) -> int:
        import qdrant_edge as qe

        if not self.exists():
            return 0
        with self._lock, _errors(self.path):
            return int(self._open().count(qe.CountRequest(exact=True)))

    def file_counts(self) -> dict[str, int]:
        import qdrant_edge as qe

        if not self.exists():
            return {}
        with self._lock, _errors(self.path):
            response = self._open().facet(qe.FacetRequest("file", limit=1_000_000, exact=True))
        return {str(h.value): int(h.count) for h in response if h.count}

    def search(self, queries: list[Query]) -> list[list[StoreHit]]:
        import qdrant_edge as qe

        requests = []
        for q in queries:
            vector = (
                qe.SparseVector(q.vector.indices, q.vector.values)
                if q.using == SPARSE
                else q.vector
            )
            requests.append(
                qe.QueryRequest(
                    limit=q.limit,
                    query=qe.Query.Nearest(vector, using=q.using),
                    filter=_filter(q.filters),
                    with_payload=q.with_payload,
                    with_vector=[DENSE] if q.with_vector else False,
                )
            )
        with self._lock, _errors(self.path):
            shard = self._open()
            results = (
                [shard.query(requests[0])]
                if len(requests) == 1
                else shard.query_batch(qe.QueryBatchRequest(requests))
            )
        return [[hit_from_point(p) for p in points] for points in results]

    def retrieve(self, ids: list[str], *, with_vector: bool = False) -> list[StoreHit]:
        if not ids:
            return []
        with self._lock, _errors(self.path):
            records = self._open().retrieve(
                list(ids), with_payload=True, with_vector=[DENSE] if with_vector else False
            )
        return [hit_from_point(r) for r in records]

    def scroll(self, offset: Any, limit: int) -> tuple[list[ChunkPoint], Any]:
        import qdrant_edge as qe

        request = qe.ScrollRequest(offset=offset, limit=limit, with_payload=True, with_vector=True)
        with self._lock, _errors(self.path):
            records, after = self._open().scroll(request)
        return [point_from_record(r) for r in records], after

    def info(self) -> dict[str, Any]:
        return {"backend": self.backend, "path": str(self.path)}


def _filter(filters: Filters | None) -> Any:
    if not filters:
        return None
    import qdrant_edge as qe

    return build_filter(
        filters,
        match_any=lambda key, values: qe.FieldCondition(key, match=qe.MatchAny(list(values))),
        any_of=lambda conditions: qe.Filter(should=conditions),
        all_of=lambda conditions: qe.Filter(must=conditions),
    )
