"""The semantic cache: a question close enough to an earlier one reuses that retrieval.

Entries live in ``doc_cache`` (so they outlive the engine and serve the CLI too), keyed by the
collection, its *generation* (any ingest or removal bumps it, so a cached result never outlives
the chunks it points at) and the search options. A lookup compares the query embedding with the
cached ones by cosine similarity; at or above the collection's ``cache_similarity`` it is a hit.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.services import Services

MAX_ENTRIES = 512  # per collection
_SCAN = 256  # most recent entries compared on a lookup


class SemanticCache:
    def __init__(self, services: Services) -> None:
        self.services = services

    def lookup(
        self, collection_id: str, generation: int, options: str, vector: Any, threshold: float
    ) -> dict[str, Any] | None:
        import numpy as np

        rows = (
            self.services.db()
            .execute(
                "SELECT query, embedding, result, created_at FROM doc_cache "
                "WHERE collection_id = ? AND generation = ? AND options = ? "
                "ORDER BY id DESC LIMIT ?",
                (collection_id, generation, options, _SCAN),
            )
            .fetchall()
        )
        if not rows:
            return None
        q = np.asarray(vector, dtype=np.float32)
        dim = q.shape[0]
        matrix = np.stack(
            [
                np.frombuffer(r["embedding"], dtype=np.float32)
                if len(r["embedding"]) == dim * 4
                else np.zeros(dim, np.float32)
                for r in rows
            ]
        )  # (n, dim)
        sims = matrix @ q / (np.linalg.norm(matrix, axis=1) * (np.linalg.norm(q) or 1.0) + 1e-9)
        best = int(np.argmax(sims))
        similarity = float(sims[best])
        if similarity < threshold:
            return None
        row = rows[best]
        return {
            "query": row["query"],
            "similarity": round(similarity, 4),
            "created_at": row["created_at"],
            "result": json.loads(row["result"]),
        }

    def store(
        self,
        collection_id: str,
        generation: int,
        options: str,
        query: str,
        vector: Any,
        result: Any,
    ) -> None:
        import numpy as np

        db = self.services.db()
        blob = np.asarray(vector, dtype=np.float32).tobytes()
        db.execute(
            "INSERT INTO doc_cache (collection_id, generation, options, query, embedding, result, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (collection_id, generation, options, query, blob, json.dumps(result), time.time()),
        )
        db.execute(
            "DELETE FROM doc_cache WHERE collection_id = ? AND (generation < ? OR id NOT IN "
            "(SELECT id FROM doc_cache WHERE collection_id = ? ORDER BY id DESC LIMIT ?))",
            (collection_id, generation, collection_id, MAX_ENTRIES),
        )

    def clear(self, collection_id: str) -> int:
        cur = self.services.db().execute(
            "DELETE FROM doc_cache WHERE collection_id = ?", (collection_id,)
        )
        return int(cur.rowcount or 0)
