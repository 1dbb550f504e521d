"""``ServerStore``: a collection's chunks on a Qdrant server (or cluster), through qdrant-client.

For corpora that outgrow a laptop, or a team sharing one index: the collection's settings name a
URL (and an API key). The Qdrant collection is ``hearth-<collection id>`` with the same named
vectors as the embedded store. Anything that goes wrong on the way to the server -- refused
connection, timeout, a wrong API key -- becomes a ``UserError`` naming the URL; nothing local is
touched by a failed call.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
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

TIMEOUT_S = 10


def check_url(value: Any) -> str | None:
    """A Qdrant server address as given (None for none), or a ``UserError``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not value.strip().startswith(("http://", "https://")):
        raise UserError(
            "server_url must start with http:// or https:// (e.g. http://localhost:6333)."
        )
    return value.strip().rstrip("/")


class ServerStore(VectorStore):
    backend = "server"

    def __init__(
        self, url: str, collection: str, *, api_key: str | None = None, client: Any = None
    ) -> None:
        self.url = url
        self.name = collection
        self.api_key = api_key or None
        self._client = client

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except UserError:
            raise
        except Exception as exc:
            from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

            if isinstance(exc, UnexpectedResponse):
                code = exc.status_code
                hint = (
                    "check the collection's API key"
                    if code in (401, 403)
                    else "check the server's log"
                )
                raise UserError(
                    f"The Qdrant server at {self.url} refused {doing} (HTTP {code}); {hint}. "
                    "Nothing local was changed."
                ) from exc
            if isinstance(exc, (ResponseHandlingException, ConnectionError, TimeoutError, OSError)):
                raise UserError(
                    f"Cannot reach the Qdrant server at {self.url} while {doing} "
                    f"({_reason(exc)}); check that it is running and the URL is right. "
                    "Nothing local was changed."
                ) from exc
            raise

    def client(self) -> Any:
        if self._client is None:
            from qdrant_client import QdrantClient

            with self._errors("connecting"):
                self._client = QdrantClient(
                    url=self.url, api_key=self.api_key, timeout=TIMEOUT_S, check_compatibility=False
                )
        return self._client

    def check(self) -> None:
        """Raise a ``UserError`` unless the server answers."""
        with self._errors("checking the connection"):
            self.client().get_collections()

    # ---- lifecycle --------------------------------------------------------------------------
    def exists(self) -> bool:
        with self._errors("looking up the collection"):
            return bool(self.client().collection_exists(self.name))

    def create(self, dim: int) -> None:
        from qdrant_client import models as m

        with self._errors("creating the collection"):
            client = self.client()
            if client.collection_exists(self.name):
                return
            client.create_collection(
                self.name,
                vectors_config={DENSE: m.VectorParams(size=int(dim), distance=m.Distance.COSINE)},
                sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            )
            with warnings.catch_warnings():  # local mode warns that it ignores payload indexes
                warnings.simplefilter("ignore")
                for name in INDEXED_FIELDS:
                    client.create_payload_index(self.name, name, m.PayloadSchemaType.KEYWORD)

    def dimension(self) -> int | None:
        with self._errors("reading the collection"):
            client = self.client()
            if not client.collection_exists(self.name):
                return None
            vectors = client.get_collection(self.name).config.params.vectors
        params = vectors.get(DENSE) if isinstance(vectors, dict) else vectors
        return int(params.size) if params is not None else None

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def drop(self) -> None:
        with self._errors("deleting the collection"):
            client = self.client()
            if client.collection_exists(self.name):
                client.delete_collection(self.name)

    # ---- writing ----------------------------------------------------------------------------
    def upsert(self, points: list[ChunkPoint]) -> None:
        if not points:
            return
        from qdrant_client import models as m

        structs = []
        for p in points:
            vectors: dict[str, Any] = {DENSE: list(p.dense)}
            if p.sparse:
                vectors[SPARSE] = m.SparseVector(indices=p.sparse.indices, values=p.sparse.values)
            structs.append(m.PointStruct(id=p.id, vector=vectors, payload=p.payload))
        with self._errors("writing chunks"):
            self.client().upsert(self.name, points=structs, wait=True)

    def scroll(self, offset: Any, limit: int) -> tuple[list[ChunkPoint], Any]:
        with self._errors("reading chunks"):
            records, after = self.client().scroll(
                self.name, offset=offset, limit=limit, with_payload=True, with_vectors=True
            )
        return [point_from_record(r) for r in records], after

    def delete_files(self, files: list[str]) -> None:
        if not files:
            return
        from qdrant_client import models as m

        selector = m.FilterSelector(
            filter=m.Filter(must=[m.FieldCondition(key="file", match=m.MatchAny(any=list(files)))])
        )
        with self._errors("deleting chunks"):
            self.client().delete(self.name, points_selector=selector, wait=True)

    # ---- reading ----------------------------------------------------------------------------
    def count(self) -> int:
        with self._errors("counting chunks"):
            client = self.client()
            if not client.collection_exists(self.name):
                return 0
            return int(client.count(self.name, exact=True).count)

    def file_counts(self) -> dict[str, int]:
        with self._errors("counting chunks per file"):
            client = self.client()
            if not client.collection_exists(self.name):
                return {}
            response = client.facet(self.name, key="file", limit=1_000_000, exact=True)
        return {str(h.value): int(h.count) for h in response.hits if h.count}

    def search(self, queries: list[Query]) -> list[list[StoreHit]]:
        from qdrant_client import models as m

        requests = []
        for q in queries:
            vector = (
                m.SparseVector(indices=q.vector.indices, values=q.vector.values)
                if q.using == SPARSE
                else list(q.vector)
            )
            requests.append(
                m.QueryRequest(
                    query=vector,
                    using=q.using,
                    limit=q.limit,
                    filter=_filter(q.filters),
                    with_payload=q.with_payload,
                    with_vector=[DENSE] if q.with_vector else False,
                )
            )
        with self._errors("searching"):
            results = self.client().query_batch_points(self.name, requests=requests)
        return [[hit_from_point(p) for p in r.points] for r in results]

    def retrieve(self, ids: list[str], *, with_vector: bool = False) -> list[StoreHit]:
        if not ids:
            return []
        with self._errors("reading chunks"):
            records = self.client().retrieve(
                self.name,
                ids=list(ids),
                with_payload=True,
                with_vectors=[DENSE] if with_vector else False,
            )
        return [hit_from_point(r) for r in records]

    def info(self) -> dict[str, Any]:
        return {"backend": self.backend, "url": self.url, "collection": self.name}


def _filter(filters: Filters | None) -> Any:
    if not filters:
        return None
    from qdrant_client import models as m

    return build_filter(
        filters,
        match_any=lambda key, values: m.FieldCondition(key=key, match=m.MatchAny(any=list(values))),
        any_of=lambda conditions: m.Filter(should=conditions),
        all_of=lambda conditions: m.Filter(must=conditions),
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
