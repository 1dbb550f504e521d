"""The SQLite database ``hearth.db`` in the data root.

WAL mode so the engine, a CLI command and a job worker can read while one writes. The schema
version lives in ``PRAGMA user_version``; ``MIGRATIONS[i]`` moves a database from version i
to i + 1, so an old data root upgrades in place and a newer one is refused rather than damaged.
Append to ``MIGRATIONS``; never edit an entry that has shipped.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from engine.core.errors import UserError
from engine.core.paths import data_root

MIGRATIONS: list[str] = [
    # 0 -> 1: jobs and the model library
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        params TEXT NOT NULL,
        state TEXT NOT NULL,
        progress REAL,
        message TEXT,
        result TEXT,
        error TEXT,
        attempt INTEGER NOT NULL DEFAULT 1,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        owner_pid INTEGER,
        owner_started REAL,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX jobs_state ON jobs(state);
    CREATE INDEX jobs_created ON jobs(created_at);
    CREATE TABLE job_log (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        ts REAL NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
    );
    CREATE TABLE job_metrics (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        ts REAL NOT NULL,
        name TEXT NOT NULL,
        value REAL NOT NULL
    );
    CREATE INDEX job_metrics_job ON job_metrics(job_id, step);
    CREATE TABLE models (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        format TEXT NOT NULL,
        role TEXT NOT NULL,
        path TEXT NOT NULL,
        managed INTEGER NOT NULL,
        bundled INTEGER NOT NULL DEFAULT 0,
        meta TEXT NOT NULL,
        torch_path TEXT,
        added_at REAL NOT NULL
    );
    """,
    # 1 -> 2: chat -- conversations as message trees, and per-model settings
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        model_id TEXT,
        system_prompt TEXT NOT NULL DEFAULT '',
        params TEXT NOT NULL DEFAULT '{}',
        pinned INTEGER NOT NULL DEFAULT 0,
        current_leaf_id TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX conversations_order ON conversations(pinned, updated_at);
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id TEXT REFERENCES messages(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'complete',
        metadata TEXT NOT NULL DEFAULT '{}',
        owner_pid INTEGER,
        owner_started REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX messages_conversation ON messages(conversation_id, created_at);
    CREATE INDEX messages_parent ON messages(parent_id);
    CREATE INDEX messages_state ON messages(state);
    CREATE TABLE model_settings (
        model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (model_id, key)
    );
    """,
    # 2 -> 3: documents -- collections, the files and folders added to them, per-file status,
    # and the semantic cache of retrievals
    """
    CREATE TABLE doc_collections (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        embedder_id TEXT NOT NULL,
        dim INTEGER,
        settings TEXT NOT NULL DEFAULT '{}',
        server_url TEXT,
        api_key TEXT,
        generation INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX doc_collections_name ON doc_collections(name COLLATE NOCASE);
    CREATE TABLE doc_sources (
        collection_id TEXT NOT NULL REFERENCES doc_collections(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        added_at REAL NOT NULL,
        PRIMARY KEY (collection_id, path)
    );
    CREATE TABLE doc_files (
        collection_id TEXT NOT NULL REFERENCES doc_collections(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        name TEXT NOT NULL,
        type TEXT,
        status TEXT NOT NULL,
        reason TEXT,
        hash TEXT,
        chunking TEXT,
        size INTEGER,
        mtime REAL,
        chunks INTEGER NOT NULL DEFAULT 0,
        pages INTEGER,
        notes TEXT,
        updated_at REAL NOT NULL,
        PRIMARY KEY (collection_id, path)
    );
    CREATE INDEX doc_files_status ON doc_files(collection_id, status);
    CREATE TABLE doc_cache (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_id TEXT NOT NULL REFERENCES doc_collections(id) ON DELETE CASCADE,
        generation INTEGER NOT NULL,
        options TEXT NOT NULL,
        query TEXT NOT NULL,
        embedding BLOB NOT NULL,
        result TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX doc_cache_lookup ON doc_cache(collection_id, generation, options);
    """,
    # 3 -> 4: datasets -- each with a tree of versions; rows live under datasets/<id>/
    """
    CREATE TABLE datasets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL DEFAULT '{}',
        current_version INTEGER NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE dataset_versions (
        dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        parent INTEGER,
        operation TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        summary TEXT NOT NULL DEFAULT '{}',
        format TEXT NOT NULL,
        rows INTEGER NOT NULL,
        fields TEXT NOT NULL DEFAULT '[]',
        splits TEXT,
        created_at REAL NOT NULL,
        PRIMARY KEY (dataset_id, version)
    );
    """,
    # 4 -> 5: chat presets (saved system prompt + params + options) and the preset each
    # conversation uses, with that conversation's options (e.g. its SQLite file)
    """
    CREATE TABLE chat_presets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        system_prompt TEXT NOT NULL DEFAULT '',
        params TEXT NOT NULL DEFAULT '{}',
        options TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE chat_preset_bindings (
        conversation_id TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
        preset_id TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '{}',
        applied_at REAL NOT NULL
    );
    """,
    # 5 -> 6: the document collections a conversation answers from (a JSON list of ids)
    """
    ALTER TABLE conversations ADD COLUMN collections TEXT NOT NULL DEFAULT '[]';
    """,
    # 6 -> 7: the user's preferences (engine.core.preferences), one JSON value per key
    """
    CREATE TABLE preferences (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 7 -> 8: OpenAI-compatible servers the user added (engine.models.remote): where the API key
    # is kept (never the key itself) and when the user agreed to send text there
    """
    CREATE TABLE remote_servers (
        base TEXT PRIMARY KEY,
        key_source TEXT NOT NULL DEFAULT '',
        confirmed_at REAL,
        added_at REAL NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
_migrate_lock = threading.Lock()


def db_path() -> Path:
    return data_root() / "hearth.db"


def connect(path: Path | None = None) -> sqlite3.Connection:
    """Open the database (migrating it if needed). One connection per thread."""
    path = Path(path) if path else db_path()
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    except sqlite3.OperationalError as exc:
        raise UserError(
            f"Cannot open the Hearth database {path}: {exc}. Check the data folder's permissions."
        ) from exc
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":  # e.g. a network file system; still works, just less concurrent
        conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA synchronous = NORMAL")
    migrate(conn)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring ``conn`` up to ``SCHEMA_VERSION``; returns the version it started at."""
    with _migrate_lock:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UserError(
                f"The Hearth database was written by a newer Hearth (schema {version}, this one knows "
                f"{SCHEMA_VERSION}); update Hearth or point HEARTH_HOME at another folder."
            )
        for target in range(version, SCHEMA_VERSION):
            conn.execute("BEGIN IMMEDIATE")
            try:
                # re-check inside the write lock: another process may have migrated meanwhile
                current = conn.execute("PRAGMA user_version").fetchone()[0]
                if current > target:
                    conn.execute("COMMIT")
                    continue
                for statement in _split(MIGRATIONS[target]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return version


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
