"""Presets and the preset each conversation uses, in ``hearth.db``.

Built-in presets live in code (``builtin.py``). Editing one stores the edited copy under the same
id in ``chat_presets``; deleting that copy resets the preset to the shipped version (a built-in
itself cannot be deleted). A user's presets are plain rows. Names are unique, case-insensitively,
so the CLI can pick a preset by name.

A **binding** (``chat_preset_bindings``) records that a conversation uses a preset, with that
conversation's own options (its SQLite file, say) merged over the preset's.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from engine.chat.params import ChatParams
from engine.chat.presets.builtin import BUILTIN_IDS, BUILTINS
from engine.chat.presets.options import KIND_LABELS, check_kind, check_options
from engine.core.errors import NotFoundError, UserError

if TYPE_CHECKING:
    from engine.services import Services

MAX_NAME = 80
_FIELDS = ("name", "description", "system_prompt", "params", "options")


class PresetStore:
    def __init__(self, services: Services) -> None:
        self.services = services

    def _db(self):
        return self.services.db()

    # ---- presets --------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        rows = {r["id"]: r for r in self._db().execute("SELECT * FROM chat_presets").fetchall()}
        out = []
        for spec in BUILTINS:
            row = rows.pop(spec["id"], None)
            out.append(self._dict(row) if row is not None else self._builtin(spec))
        users = sorted((self._dict(r) for r in rows.values()), key=lambda p: p["name"].lower())
        return out + users

    def get(self, preset_id: str) -> dict[str, Any]:
        row = self._db().execute("SELECT * FROM chat_presets WHERE id = ?", (preset_id,)).fetchone()
        if row is not None:
            return self._dict(row)
        for spec in BUILTINS:
            if spec["id"] == preset_id:
                return self._builtin(spec)
        raise NotFoundError(f"No preset with id {preset_id!r}; it may have been deleted.")

    def find(self, name_or_id: str) -> dict[str, Any]:
        """A preset by id, or by name (case-insensitive)."""
        for preset in self.list():
            if preset["id"] == name_or_id or preset["name"].lower() == name_or_id.lower():
                return preset
        names = ", ".join(repr(p["name"]) for p in self.list())
        raise NotFoundError(f"No preset named {name_or_id!r}; the presets are {names}.")

    def create(
        self,
        *,
        name: str,
        kind: str = "plain",
        description: str = "",
        system_prompt: str = "",
        params: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        kind = check_kind(kind)
        values = self._checked(
            kind,
            {
                "name": name,
                "description": description,
                "system_prompt": system_prompt,
                "params": params or {},
                "options": options or {},
            },
        )
        self._unique(values["name"], None)
        now = time.time()
        preset_id = "p-" + uuid.uuid4().hex[:12]
        self._db().execute(
            "INSERT INTO chat_presets (id, name, kind, description, system_prompt, params,"
            " options, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (preset_id, values["name"], kind, *self._row_values(values), now, now),
        )
        return self.get(preset_id)

    def update(self, preset_id: str, **changes: Any) -> dict[str, Any]:
        current = self.get(preset_id)
        unknown = sorted(set(changes) - set(_FIELDS))
        if unknown:
            raise UserError(f"A preset has no field(s) {', '.join(unknown)}.")
        merged = {k: current[k] for k in _FIELDS}
        merged.update({k: v for k, v in changes.items() if v is not None})
        if changes.get("options") is not None:
            merged["options"] = check_options(
                current["kind"], changes["options"], base=current["options"]
            )
        values = self._checked(current["kind"], merged)
        self._unique(values["name"], preset_id)
        now = time.time()
        conn = self._db()
        conn.execute(
            "INSERT INTO chat_presets (id, name, kind, description, system_prompt, params,"
            " options, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET name = excluded.name, description ="
            " excluded.description, system_prompt = excluded.system_prompt, params ="
            " excluded.params, options = excluded.options, updated_at = excluded.updated_at",
            (
                preset_id,
                values["name"],
                current["kind"],
                *self._row_values(values),
                current["created_at"] or now,
                now,
            ),
        )
        return self.get(preset_id)

    def delete(self, preset_id: str) -> dict[str, Any]:
        """Delete a user's preset; for a built-in, drop the user's edits (reset)."""
        self.get(preset_id)
        cur = self._db().execute("DELETE FROM chat_presets WHERE id = ?", (preset_id,))
        if preset_id in BUILTIN_IDS:
            if not cur.rowcount:
                raise UserError(
                    "Built-in presets cannot be deleted; duplicate one to make your own version."
                )
            return {"deleted": preset_id, "reset": True, "preset": self.get(preset_id)}
        self._db().execute("DELETE FROM chat_preset_bindings WHERE preset_id = ?", (preset_id,))
        return {"deleted": preset_id, "reset": False}

    # ---- bindings -------------------------------------------------------------------------
    def binding(self, conversation_id: str) -> dict[str, Any] | None:
        row = (
            self._db()
            .execute(
                "SELECT * FROM chat_preset_bindings WHERE conversation_id = ?", (conversation_id,)
            )
            .fetchone()
        )
        if row is None:
            return None
        try:
            preset = self.get(row["preset_id"])
        except NotFoundError:
            return None
        return {
            "conversation_id": row["conversation_id"],
            "preset_id": row["preset_id"],
            "kind": preset["kind"],
            "name": preset["name"],
            "options": check_options(preset["kind"], None, base=json.loads(row["options"])),
            "applied_at": row["applied_at"],
        }

    def bind(self, conversation_id: str, preset_id: str, options: dict[str, Any]) -> None:
        self._db().execute(
            "INSERT INTO chat_preset_bindings (conversation_id, preset_id, options, applied_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT(conversation_id) DO UPDATE SET preset_id ="
            " excluded.preset_id, options = excluded.options, applied_at = excluded.applied_at",
            (conversation_id, preset_id, json.dumps(options), time.time()),
        )

    def unbind(self, conversation_id: str) -> bool:
        cur = self._db().execute(
            "DELETE FROM chat_preset_bindings WHERE conversation_id = ?", (conversation_id,)
        )
        return bool(cur.rowcount)

    # ---- helpers --------------------------------------------------------------------------
    def _checked(self, kind: str, values: dict[str, Any]) -> dict[str, Any]:
        name = values.get("name")
        if not isinstance(name, str) or not name.strip():
            raise UserError("A preset needs a name.")
        if len(name.strip()) > MAX_NAME:
            raise UserError(f"A preset's name is at most {MAX_NAME} characters.")
        for key in ("description", "system_prompt"):
            if not isinstance(values.get(key) or "", str):
                raise UserError(f"A preset's {key} must be text.")
        ChatParams.from_dict(values.get("params") or {})
        return {
            **values,
            "name": name.strip(),
            "description": values.get("description") or "",
            "system_prompt": values.get("system_prompt") or "",
            "params": dict(values.get("params") or {}),
            "options": check_options(kind, values.get("options") or {}),
        }

    def _unique(self, name: str, own_id: str | None) -> None:
        for preset in self.list():
            if preset["id"] != own_id and preset["name"].lower() == name.lower():
                raise UserError(f"There is already a preset named {name!r}; choose another name.")

    @staticmethod
    def _row_values(values: dict[str, Any]) -> tuple[Any, ...]:
        return (
            values["description"],
            values["system_prompt"],
            json.dumps(values["params"]),
            json.dumps(values["options"]),
        )

    @staticmethod
    def _builtin(spec: dict[str, Any]) -> dict[str, Any]:
        return {
            **spec,
            "params": dict(spec["params"]),
            "options": check_options(spec["kind"], spec["options"]),
            "kind_label": KIND_LABELS[spec["kind"]],
            "builtin": True,
            "modified": False,
            "created_at": None,
            "updated_at": None,
        }

    @staticmethod
    def _dict(row: Any) -> dict[str, Any]:
        kind = row["kind"]
        return {
            "id": row["id"],
            "name": row["name"],
            "kind": kind,
            "kind_label": KIND_LABELS.get(kind, kind),
            "description": row["description"],
            "system_prompt": row["system_prompt"],
            "params": json.loads(row["params"]),
            "options": check_options(kind, None, base=json.loads(row["options"])),
            "builtin": row["id"] in BUILTIN_IDS,
            "modified": row["id"] in BUILTIN_IDS,
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
