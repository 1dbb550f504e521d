"""The catalogue of collections, their sources and their files, in ``hearth.db``.

- ``doc_collections``: name, embedding model, dimension, settings (JSON), optional server URL and
  API key, and a *generation* bumped whenever the chunks change (the semantic cache keys on it).
- ``doc_sources``: the files and folders a user added; re-ingesting with no paths re-reads them.
- ``doc_files``: one row per file seen: status (``indexed``, ``indexing``, ``failed``,
  ``skipped``), reason, content hash, chunk count, size. A row is ``indexed`` only once every chunk
  of that content is in the store, which is what makes an interrupted ingest resumable.

The API key is stored locally (like the rest of the catalogue) and never sent back to the app.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import NotFoundError, UserError
from engine.core.names import slugify
from engine.documents.settings import CollectionSettings

if TYPE_CHECKING:
    from engine.services import Services

STATUSES = ("indexed", "indexing", "failed", "skipped")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise UserError("A collection needs a name.")
    name = name.strip()
    if len(name) > 200:
        raise UserError("A collection name can be at most 200 characters.")
    return name


class Catalog:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.root = Path(services.root)

    def _db(self) -> sqlite3.Connection:
        return self.services.db()

    def folder(self, collection_id: str) -> Path:
        return self.root / "collections" / collection_id

    # ---- collections ------------------------------------------------------------------------
    def create(
        self,
        name: str,
        *,
        embedder_id: str,
        settings: CollectionSettings,
        server_url: str | None = None,
        api_key: str | None = None,
    ) -> dict[str, Any]:
        name = check_name(name)
        if self.find(name) is not None:
            raise UserError(f"There is already a collection named {name!r}; choose another name.")
        cid = f"{slugify(name, limit=32, fallback='collection')}-{secrets.token_hex(3)}"
        now = time.time()
        self._db().execute(
            "INSERT INTO doc_collections (id, name, embedder_id, settings, server_url, api_key, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, name, embedder_id, json.dumps(settings.to_dict()), server_url, api_key, now, now),
        )
        return self.get(cid)

    def find(self, ref: str) -> dict[str, Any] | None:
        """A collection by id, or else by name (case-insensitive)."""
        db = self._db()
        row = db.execute("SELECT * FROM doc_collections WHERE id = ?", (ref,)).fetchone()
        if row is None:
            row = db.execute(
                "SELECT * FROM doc_collections WHERE name = ? COLLATE NOCASE", (ref.strip(),)
            ).fetchone()
        return _collection(row) if row is not None else None

    def get(self, ref: Any) -> dict[str, Any]:
        if not isinstance(ref, str) or not ref.strip():
            raise UserError("Name a collection (its id or name).")
        found = self.find(ref)
        if found is None:
            names = [c["name"] for c in self.list()]
            known = f" Collections: {', '.join(names)}." if names else " There are none yet."
            raise NotFoundError(f"No collection {ref!r}.{known}")
        return found

    def list(self) -> list[dict[str, Any]]:
        rows = self._db().execute("SELECT * FROM doc_collections ORDER BY name COLLATE NOCASE")
        return [_collection(r) for r in rows.fetchall()]

    def update(self, collection_id: str, **fields: Any) -> dict[str, Any]:
        allowed = {"name", "settings", "server_url", "api_key", "dim", "embedder_id"}
        sets, values = [], []
        for key, value in fields.items():
            if key not in allowed:
                raise ValueError(key)
            if key == "settings":
                value = json.dumps(value.to_dict() if hasattr(value, "to_dict") else value)
            sets.append(f"{key} = ?")
            values.append(value)
        sets.append("updated_at = ?")
        values.append(time.time())
        self._db().execute(
            f"UPDATE doc_collections SET {', '.join(sets)} WHERE id = ?", (*values, collection_id)
        )
        return self.get(collection_id)

    def rename(self, collection_id: str, name: str) -> dict[str, Any]:
        name = check_name(name)
        other = self.find(name)
        if other is not None and other["id"] != collection_id:
            raise UserError(f"There is already a collection named {name!r}; choose another name.")
        return self.update(collection_id, name=name)

    def delete(self, collection_id: str) -> None:
        self._db().execute("DELETE FROM doc_collections WHERE id = ?", (collection_id,))

    def bump_generation(self, collection_id: str) -> None:
        self._db().execute(
            "UPDATE doc_collections SET generation = generation + 1, updated_at = ? WHERE id = ?",
            (time.time(), collection_id),
        )

    def generation(self, collection_id: str) -> int:
        row = (
            self._db()
            .execute("SELECT generation FROM doc_collections WHERE id = ?", (collection_id,))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def api_key(self, collection_id: str) -> str | None:
        """The server's key: as given, or read from the environment variable a move named
        (stored as ``env:NAME``, so the key itself is not written here)."""
        row = (
            self._db()
            .execute("SELECT api_key FROM doc_collections WHERE id = ?", (collection_id,))
            .fetchone()
        )
        value = row[0] if row else None
        if isinstance(value, str) and value.startswith("env:"):
            return os.environ.get(value[4:]) or None
        return value

    # ---- sources ----------------------------------------------------------------------------
    def add_sources(self, collection_id: str, paths: list[str]) -> None:
        now = time.time()
        self._db().executemany(
            "INSERT OR IGNORE INTO doc_sources (collection_id, path, added_at) VALUES (?, ?, ?)",
            [(collection_id, p, now) for p in paths],
        )

    def remove_sources(self, collection_id: str, paths: list[str]) -> None:
        self._db().executemany(
            "DELETE FROM doc_sources WHERE collection_id = ? AND path = ?",
            [(collection_id, p) for p in paths],
        )

    def sources(self, collection_id: str) -> list[str]:
        rows = self._db().execute(
            "SELECT path FROM doc_sources WHERE collection_id = ? ORDER BY added_at, path",
            (collection_id,),
        )
        return [r[0] for r in rows.fetchall()]

    # ---- files ------------------------------------------------------------------------------
    def file(self, collection_id: str, path: str) -> dict[str, Any] | None:
        row = (
            self._db()
            .execute(
                "SELECT * FROM doc_files WHERE collection_id = ? AND path = ?",
                (collection_id, path),
            )
            .fetchone()
        )
        return _file(row) if row is not None else None

    def files(
        self,
        collection_id: str,
        *,
        status: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM doc_files WHERE collection_id = ?"
        args: list[Any] = [collection_id]
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY path"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [int(limit), int(offset)]
        return [_file(r) for r in self._db().execute(sql, args).fetchall()]

    def file_stats(self, collection_id: str) -> dict[str, Any]:
        rows = (
            self._db()
            .execute(
                "SELECT status, COUNT(*), COALESCE(SUM(chunks), 0), COALESCE(SUM(size), 0) "
                "FROM doc_files WHERE collection_id = ? GROUP BY status",
                (collection_id,),
            )
            .fetchall()
        )
        stats = {s: 0 for s in STATUSES}
        chunks = size = 0
        for status, n, c, s in rows:
            stats[status] = n
            if status == "indexed":
                chunks += c
                size += s
        return {"files": stats, "chunks": chunks, "size_bytes": size}

    def set_file(self, collection_id: str, path: str, **fields: Any) -> None:
        fields.setdefault("name", Path(path).name)
        fields["updated_at"] = time.time()
        if "notes" in fields and not isinstance(fields["notes"], (str, type(None))):
            fields["notes"] = json.dumps(fields["notes"])
        cols = ["collection_id", "path", *fields]
        placeholders = ", ".join("?" for _ in cols)
        updates = ", ".join(f"{k} = excluded.{k}" for k in fields)
        self._db().execute(
            f"INSERT INTO doc_files ({', '.join(cols)}) VALUES ({placeholders}) "
            f"ON CONFLICT(collection_id, path) DO UPDATE SET {updates}",
            (collection_id, path, *fields.values()),
        )

    def delete_files(self, collection_id: str, paths: list[str]) -> None:
        self._db().executemany(
            "DELETE FROM doc_files WHERE collection_id = ? AND path = ?",
            [(collection_id, p) for p in paths],
        )


def stored_settings(text: str | None) -> CollectionSettings:
    """Settings as stored; names a newer or older Hearth wrote and this one lacks are ignored."""
    from dataclasses import fields

    known = {f.name for f in fields(CollectionSettings)}
    try:
        values = json.loads(text or "{}")
    except ValueError:
        values = {}
    values = {k: v for k, v in values.items() if k in known} if isinstance(values, dict) else {}
    try:
        return CollectionSettings.from_dict(values)
    except UserError:
        return CollectionSettings()


def _collection(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "embedder_id": row["embedder_id"],
        "dim": row["dim"],
        "settings": stored_settings(row["settings"]).to_dict(),
        "server_url": row["server_url"],
        "api_key_set": bool(row["api_key"]),
        "generation": row["generation"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _file(row: sqlite3.Row) -> dict[str, Any]:
    notes = row["notes"]
    try:
        notes = json.loads(notes) if notes else []
    except ValueError:
        notes = [notes]
    return {
        "path": row["path"],
        "name": row["name"],
        "type": row["type"],
        "status": row["status"],
        "reason": row["reason"],
        "hash": row["hash"],
        "chunks": row["chunks"],
        "size": row["size"],
        "pages": row["pages"],
        "notes": notes,
        "chunking": row["chunking"],
        "updated_at": row["updated_at"],
    }
