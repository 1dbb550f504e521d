"""Conversations as message trees in ``hearth.db``.

A conversation holds a title, model, system prompt, sampling params, a pinned flag, the document
collections it answers from (ids; a collection deleted since is left out when read) and its
*current leaf*; its messages form a tree through ``parent_id``. Editing an earlier user message
adds a sibling (a new branch) and moves the current leaf there; the old branch stays in the tree
and ``switch_branch`` goes back to it. What the user sees is the path from a root to the current
leaf, each message with its siblings' ids for the "< 2/3 >" arrows.

An assistant reply is written when generation starts (``state='streaming'``, owned by this process)
and updated as text arrives. A process that dies mid-reply leaves its row ``streaming``; any later
process marks such rows ``interrupted`` (their owner is gone) and keeps the partial text.
States: ``complete``, ``streaming``, ``cancelled``, ``interrupted``, ``error``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
import uuid
from typing import TYPE_CHECKING, Any

from engine.core.errors import NotFoundError, UserError
from engine.jobs.store import owner_alive

if TYPE_CHECKING:
    from engine.services import Services

log = logging.getLogger(__name__)

NEW_TITLE = "New chat"
PARTIAL_STATES = ("streaming", "cancelled", "interrupted", "error")


def _own_start() -> float:
    import psutil

    try:
        return psutil.Process(os.getpid()).create_time()
    except Exception:
        return time.time()


_OWN_START = _own_start()


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def auto_title(text: str, limit: int = 60) -> str:
    line = " ".join(text.strip().split())
    if not line:
        return NEW_TITLE
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


# Full-text search over message contents: an FTS5 trigram index kept in step by triggers, so a
# search is an index lookup rather than a scan of every message. Trigrams match any substring of
# three or more characters, case-insensitively, in any script -- what "contains" meant with LIKE.
# Built outside the numbered migrations: an SQLite without FTS5 or the trigram tokenizer (older
# than 3.34) keeps working with the LIKE scan instead of refusing to open the database.
_FTS_STATEMENTS = (
    "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', "
    "content_rowid='rowid', tokenize='trigram')",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.rowid, "
    "old.content); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.rowid, "
    "old.content); INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
)


_FTS_MAX_HITS = 2000  # more matching messages than this: the scan is the faster way (see search)


class ChatStore:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.fts = False  # set by ensure_search_index()

    def ensure_search_index(self) -> bool:
        """Create the full-text index once (indexing the messages already there); False when this
        SQLite cannot, and search scans with LIKE."""
        db = self._db()
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'messages_fts'").fetchone():
            self.fts = True
            return True
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                if not db.execute(
                    "SELECT 1 FROM sqlite_master WHERE name = 'messages_fts'"
                ).fetchone():  # another process may have built it meanwhile
                    for statement in _FTS_STATEMENTS:
                        db.execute(statement)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            log.info("Chat search uses a scan: no FTS5 trigram index in this SQLite (%s)", exc)
            self.fts = False
            return False
        self.fts = True
        return True

    def _db(self):
        return self.services.db()

    # ---- conversations -----------------------------------------------------------------------
    def create(
        self,
        *,
        title: str | None = None,
        model_id: str | None = None,
        system_prompt: str = "",
        params: dict[str, Any] | None = None,
        collections: list[str] | None = None,
    ) -> dict[str, Any]:
        now = time.time()
        conv_id = _new_id("c")
        self._db().execute(
            "INSERT INTO conversations (id, title, model_id, system_prompt, params, collections,"
            " pinned, current_leaf_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 0, NULL, ?, ?)",
            (
                conv_id,
                (title or "").strip() or NEW_TITLE,
                model_id,
                system_prompt or "",
                json.dumps(params or {}),
                json.dumps(list(collections or [])),
                now,
                now,
            ),
        )
        return self.conversation(conv_id)

    def conversation(self, conv_id: str) -> dict[str, Any]:
        row = self._db().execute("SELECT * FROM conversations WHERE id = ?", (conv_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"No conversation with id {conv_id!r}; it may have been deleted.")
        return self._conv_dict(row, live=self._collection_ids())

    def list(self, *, limit: int = 500, offset: int = 0) -> list[dict[str, Any]]:
        rows = self._db().execute(
            "SELECT c.*, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS n"
            " FROM conversations c ORDER BY c.pinned DESC, c.updated_at DESC LIMIT ? OFFSET ?",
            (int(limit), int(offset)),
        )
        live = self._collection_ids()
        return [self._conv_dict(r, count=r["n"], live=live) for r in rows.fetchall()]

    def _collection_ids(self) -> set[str]:
        """Ids of the document collections that exist now."""
        return {r["id"] for r in self._db().execute("SELECT id FROM doc_collections")}

    def collection_names(self, ids: list[str]) -> list[str]:
        """The names of the document collections ``ids`` (an id stands for one not found)."""
        rows = self._db().execute("SELECT id, name FROM doc_collections").fetchall()
        names = {r["id"]: r["name"] for r in rows}
        return [names.get(i, i) for i in ids]

    def update(self, conv_id: str, **changes: Any) -> dict[str, Any]:
        """Change title, model_id, system_prompt, params, collections or pinned."""
        self.conversation(conv_id)
        columns = {"title", "model_id", "system_prompt", "params", "collections", "pinned"}
        sets, values = [], []
        for key, value in changes.items():
            if key not in columns:
                raise UserError(f"A conversation has no field {key!r}.")
            if key == "params":
                value = json.dumps(value or {})
            elif key == "collections":
                value = json.dumps(list(value or []))
            elif key == "pinned":
                value = int(bool(value))
            elif key == "title":
                value = (value or "").strip() or NEW_TITLE
            sets.append(f"{key} = ?")
            values.append(value)
        if sets:
            sets.append("updated_at = ?")
            values += [time.time(), conv_id]
            self._db().execute(f"UPDATE conversations SET {', '.join(sets)} WHERE id = ?", values)
        return self.conversation(conv_id)

    def delete(self, conv_id: str) -> None:
        self.conversation(conv_id)
        self._db().execute("DELETE FROM conversations WHERE id = ?", (conv_id,))

    def touch(self, conv_id: str) -> None:
        self._db().execute(
            "UPDATE conversations SET updated_at = ? WHERE id = ?", (time.time(), conv_id)
        )

    # ---- messages ----------------------------------------------------------------------------
    def add_message(
        self,
        conv_id: str,
        *,
        parent_id: str | None,
        role: str,
        content: str,
        state: str = "complete",
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append a message under ``parent_id`` (None: a new root) and make it the current leaf."""
        if parent_id is not None:
            parent = self.message(parent_id)
            if parent["conversation_id"] != conv_id:
                raise UserError(f"Message {parent_id} belongs to another conversation.")
        now = time.time()
        msg_id = _new_id("m")
        owner = (os.getpid(), _OWN_START) if state == "streaming" else (None, None)
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO messages (id, conversation_id, parent_id, role, content, state,"
                " metadata, owner_pid, owner_started, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    msg_id,
                    conv_id,
                    parent_id,
                    role,
                    content,
                    state,
                    json.dumps(metadata or {}),
                    owner[0],
                    owner[1],
                    now,
                    now,
                ),
            )
            conn.execute(
                "UPDATE conversations SET current_leaf_id = ?, updated_at = ? WHERE id = ?",
                (msg_id, now, conv_id),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return self.message(msg_id)

    def update_message(
        self,
        msg_id: str,
        *,
        content: str | None = None,
        state: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        sets, values = ["updated_at = ?"], [time.time()]
        if content is not None:
            sets.append("content = ?")
            values.append(content)
        if state is not None:
            sets.append("state = ?")
            values.append(state)
        if metadata is not None:
            sets.append("metadata = ?")
            values.append(json.dumps(metadata, default=str))
        values.append(msg_id)
        self._db().execute(f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", values)

    def message(self, msg_id: str) -> dict[str, Any]:
        if not isinstance(msg_id, str):
            raise NotFoundError(f"No message with id {msg_id!r}.")
        row = self._db().execute("SELECT * FROM messages WHERE id = ?", (msg_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"No message with id {msg_id!r}; it may have been deleted.")
        return self._msg_dict(row)

    def path(self, leaf_id: str | None) -> list[dict[str, Any]]:
        """Messages from the root down to ``leaf_id`` (empty for None)."""
        if leaf_id is None:
            return []
        rows = self._db().execute(
            "WITH RECURSIVE up(id, depth) AS ("
            " SELECT id, 0 FROM messages WHERE id = ?"
            " UNION ALL SELECT m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.id"
            " WHERE m.parent_id IS NOT NULL)"
            " SELECT messages.* FROM up JOIN messages ON messages.id = up.id ORDER BY up.depth DESC",
            (leaf_id,),
        )
        return [self._msg_dict(r) for r in rows.fetchall()]

    def thread(self, conv_id: str) -> dict[str, Any]:
        """The conversation and its current branch, each message with its siblings."""
        conv = self.conversation(conv_id)
        branch = self.path(conv["current_leaf_id"])
        children: dict[str | None, list[str]] = {}
        for row in self._db().execute(
            "SELECT id, parent_id FROM messages WHERE conversation_id = ? ORDER BY created_at, rowid",
            (conv_id,),
        ):
            children.setdefault(row["parent_id"], []).append(row["id"])
        for msg in branch:
            siblings = children.get(msg["parent_id"], [msg["id"]])
            msg["siblings"] = siblings
            msg["sibling_index"] = siblings.index(msg["id"]) if msg["id"] in siblings else 0
        return {"conversation": conv, "messages": branch}

    def all_messages(self, conv_id: str) -> list[dict[str, Any]]:
        rows = self._db().execute(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY created_at, rowid",
            (conv_id,),
        )
        return [self._msg_dict(r) for r in rows.fetchall()]

    def switch_branch(self, msg_id: str) -> dict[str, Any]:
        """Show the branch through ``msg_id``: down to its most recently written descendant."""
        msg = self.message(msg_id)
        row = (
            self._db()
            .execute(
                "WITH RECURSIVE down(id) AS (SELECT ? UNION ALL"
                " SELECT m.id FROM messages m JOIN down ON m.parent_id = down.id)"
                " SELECT messages.id FROM down JOIN messages ON messages.id = down.id"
                " ORDER BY messages.created_at DESC, messages.rowid DESC LIMIT 1",
                (msg_id,),
            )
            .fetchone()
        )
        leaf = row["id"]
        # the newest message of the subtree may not be a leaf (its reply was deleted): go down
        while True:
            child = (
                self._db()
                .execute(
                    "SELECT id FROM messages WHERE parent_id = ? ORDER BY created_at DESC, rowid DESC"
                    " LIMIT 1",
                    (leaf,),
                )
                .fetchone()
            )
            if child is None:
                break
            leaf = child["id"]
        self._db().execute(
            "UPDATE conversations SET current_leaf_id = ? WHERE id = ?",
            (leaf, msg["conversation_id"]),
        )
        return self.thread(msg["conversation_id"])

    def set_leaf(self, conv_id: str, leaf_id: str | None) -> None:
        self._db().execute(
            "UPDATE conversations SET current_leaf_id = ?, updated_at = ? WHERE id = ?",
            (leaf_id, time.time(), conv_id),
        )

    # ---- search and recovery -----------------------------------------------------------------
    def search(self, query: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """Conversations whose title or any message contains ``query`` (case-insensitive)."""
        if not isinstance(query, str) or not query.strip():
            raise UserError("Type something to search for.")
        needle = query.strip()
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        if self.fts and len(needle) >= 3 and self._few_hits(needle):
            phrase = '"' + needle.replace('"', '""') + '"'
            rows = (
                self._db()
                .execute(
                    "WITH hits AS MATERIALIZED (SELECT m.id, m.conversation_id, m.created_at"
                    " FROM messages_fts f JOIN messages m ON m.rowid = f.rowid"
                    " WHERE messages_fts MATCH ?)"
                    " SELECT c.*, (SELECT COUNT(*) FROM messages x WHERE x.conversation_id = c.id)"
                    " AS n, (SELECT h.id FROM hits h WHERE h.conversation_id = c.id"
                    " ORDER BY h.created_at LIMIT 1) AS hit_id"
                    " FROM conversations c"
                    " WHERE c.title LIKE ? ESCAPE '\\' OR c.id IN (SELECT conversation_id FROM hits)"
                    " ORDER BY c.pinned DESC, c.updated_at DESC LIMIT ?",
                    (phrase, pattern, int(limit)),
                )
                .fetchall()
            )
            return self._search_results(rows, needle)
        rows = (
            self._db()
            .execute(
                "SELECT c.*, (SELECT COUNT(*) FROM messages x WHERE x.conversation_id = c.id) AS n,"
                " (SELECT m.id FROM messages m WHERE m.conversation_id = c.id AND m.content LIKE ?"
                "  ESCAPE '\\' ORDER BY m.created_at LIMIT 1) AS hit_id"
                " FROM conversations c"
                " WHERE c.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m WHERE"
                "  m.conversation_id = c.id AND m.content LIKE ? ESCAPE '\\')"
                " ORDER BY c.pinned DESC, c.updated_at DESC LIMIT ?",
                (pattern, pattern, pattern, int(limit)),
            )
            .fetchall()
        )
        return self._search_results(rows, needle)

    def _few_hits(self, needle: str) -> bool:
        """True when the index holds at most ``_FTS_MAX_HITS`` messages with ``needle``.

        Then looking them up beats scanning (30x on 40k messages, benchmarks/bench_chat_search.py).
        A common word is the opposite case: the scan, newest conversations first, meets the
        result limit after a few conversations, while the index would list every match.
        """
        phrase = '"' + needle.replace('"', '""') + '"'
        (count,) = (
            self._db()
            .execute(
                "SELECT COUNT(*) FROM (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?"
                " LIMIT ?)",
                (phrase, _FTS_MAX_HITS + 1),
            )
            .fetchone()
        )
        return count <= _FTS_MAX_HITS

    def _search_results(self, rows: list[Any], needle: str) -> list[dict[str, Any]]:
        results = []
        for row in rows:
            hit = None
            if row["hit_id"]:
                msg = self.message(row["hit_id"])
                hit = {
                    "message_id": msg["id"],
                    "role": msg["role"],
                    "snippet": _snippet(msg["content"], needle),
                }
            conv = self._conv_dict(row, count=row["n"], live=self._collection_ids())
            results.append({"conversation": conv, "match": hit})
        return results

    def recover(self) -> list[str]:
        """Mark replies left ``streaming`` by a process that is gone as ``interrupted``."""
        rows = (
            self._db()
            .execute("SELECT id, owner_pid, owner_started FROM messages WHERE state = 'streaming'")
            .fetchall()
        )
        lost = [r["id"] for r in rows if not owner_alive(r["owner_pid"], r["owner_started"])]
        for msg_id in lost:
            self._db().execute(
                "UPDATE messages SET state = 'interrupted', updated_at = ? WHERE id = ?"
                " AND state = 'streaming'",
                (time.time(), msg_id),
            )
        return lost

    # ---- rows -> dicts -----------------------------------------------------------------------
    @staticmethod
    def _conv_dict(row: Any, count: int | None = None, *, live: set[str]) -> dict[str, Any]:
        attached = json.loads(row["collections"] or "[]")
        out = {
            "id": row["id"],
            "title": row["title"],
            "model_id": row["model_id"],
            "system_prompt": row["system_prompt"],
            "params": json.loads(row["params"] or "{}"),
            "collections": [c for c in attached if c in live],
            "pinned": bool(row["pinned"]),
            "current_leaf_id": row["current_leaf_id"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
        if count is not None:
            out["message_count"] = count
        return out

    @staticmethod
    def _msg_dict(row: Any) -> dict[str, Any]:
        state = row["state"]
        if state == "streaming" and not owner_alive(row["owner_pid"], row["owner_started"]):
            state = "interrupted"
        return {
            "id": row["id"],
            "conversation_id": row["conversation_id"],
            "parent_id": row["parent_id"],
            "role": row["role"],
            "content": row["content"],
            "state": state,
            "partial": state in PARTIAL_STATES,
            "interrupted": state == "interrupted",
            "metadata": json.loads(row["metadata"] or "{}"),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }


def _snippet(text: str, needle: str, width: int = 60) -> str:
    at = text.lower().find(needle.lower())
    if at < 0:
        return text[: 2 * width]
    start, end = max(0, at - width), min(len(text), at + len(needle) + width)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
