"""The ``VectorStore`` interface and the plain data that crosses it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.documents.bm25 import Sparse

DENSE = "dense"
SPARSE = "bm25"
INDEXED_FIELDS = ("file", "name", "type")


@dataclass
class ChunkPoint:
    id: str
    dense: list[float]
    sparse: Sparse
    payload: dict[str, Any]


@dataclass
class Filters:
    """Keep chunks of these files (absolute paths), file names, and types; empty = no limit."""

    files: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.files or self.names or self.types)


@dataclass
class Query:
    """One nearest-neighbour search: ``dense`` (a vector) or ``sparse`` (BM25 query terms)."""

    using: str  # DENSE or SPARSE
    vector: Any  # list[float] or Sparse
    limit: int
    filters: Filters | None = None
    with_vector: bool = False
    with_payload: bool = True


@dataclass
class StoreHit:
    id: str
    score: float
    payload: dict[str, Any]
    vector: list[float] | None = None


class VectorStore(ABC):
    """A collection's chunks. Implementations raise ``UserError`` for problems a user can fix."""

    backend: str = ""

    @abstractmethod
    def exists(self) -> bool:
        """Whether the store has been created."""

    @abstractmethod
    def create(self, dim: int) -> None:
        """Create an empty store for ``dim``-dimensional dense vectors."""

    @abstractmethod
    def dimension(self) -> int | None:
        """The dense vector size of an existing store (None if it does not exist)."""

    @abstractmethod
    def upsert(self, points: list[ChunkPoint]) -> None: ...

    @abstractmethod
    def delete_files(self, files: list[str]) -> None:
        """Delete every chunk of these files."""

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def file_counts(self) -> dict[str, int]:
        """Chunks per file path, for checking the catalogue against the store."""

    @abstractmethod
    def search(self, queries: list[Query]) -> list[list[StoreHit]]:
        """Run several searches together; one ranked list per query."""

    @abstractmethod
    def retrieve(self, ids: list[str], *, with_vector: bool = False) -> list[StoreHit]:
        """Points by id (missing ones are left out), score 0."""

    @abstractmethod
    def scroll(self, offset: Any, limit: int) -> tuple[list[ChunkPoint], Any]:
        """Up to ``limit`` points from ``offset`` (None: the first), with their vectors and
        payloads, and the offset of the next page (None after the last)."""

    def flush(self) -> None:  # noqa: B027 - optional: most backends write through
        """Make written points durable (where the backend buffers)."""

    def optimize(self) -> None:  # noqa: B027 - optional: servers optimize on their own
        """Build indexes after a large change (where the backend needs to be told)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def drop(self) -> None:
        """Delete the store and every chunk in it."""

    def info(self) -> dict[str, Any]:
        return {"backend": self.backend}


def build_filter(
    filters: Filters,
    match_any: Callable[[str, list[str]], Any],
    any_of: Callable[[list[Any]], Any],
    all_of: Callable[[list[Any]], Any],
) -> Any:
    """The one payload filter both stores send -- (file in files OR name in names) AND type in
    types -- built with the store library's own constructors (qdrant-edge and qdrant-client name
    the same conditions differently)."""
    must: list[Any] = []
    which = [match_any(key, values) for key, values in (("file", filters.files),
                                                          ("name", filters.names)) if values]  # fmt: skip
    if which:
        must.append(any_of(which))
    if filters.types:
        must.append(match_any("type", filters.types))
    return all_of(must)


def hit_from_point(point: Any) -> StoreHit:
    """A ``StoreHit`` from a scored or retrieved point of either Qdrant library."""
    vector = getattr(point, "vector", None)
    if isinstance(vector, dict):
        vector = vector.get(DENSE)
    return StoreHit(
        id=str(point.id),
        score=float(getattr(point, "score", 0.0) or 0.0),
        payload=dict(point.payload or {}),
        vector=list(vector) if vector is not None else None,
    )


def point_from_record(record: Any) -> ChunkPoint:
    """A ``ChunkPoint`` (both vectors, payload) from a scrolled record of either Qdrant library."""
    vectors = record.vector if isinstance(record.vector, dict) else {DENSE: record.vector}
    sparse = vectors.get(SPARSE)
    return ChunkPoint(
        id=str(record.id),
        dense=list(vectors.get(DENSE) or []),
        sparse=Sparse(list(sparse.indices), list(sparse.values))
        if sparse is not None
        else Sparse([], []),
        payload=dict(record.payload or {}),
    )
