"""The user's preferences that the engine applies: the default chat model and CPU threads.

    prefs = Preferences(services)
    prefs.get()                                  # {"default_model": None, "threads": None}
    prefs.update({"default_model": "my-model-1a2b3c"})

Stored in the ``preferences`` table, one JSON value per key; ``None`` (or no row) is the engine's
own choice: the bundled model (with the starter adapter) for chat, and the machine's physical
cores for llama.cpp. A model's own settings (``n_threads`` in Chat's model settings) win over the
preference. Window matters -- theme, the data folder -- stay with the desktop app.

Read at each use, not cached: the table is a few rows (about 10 us a read), and
``hearth-engine prefs`` in another process may change it under a running engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.core.options import Options, option

if TYPE_CHECKING:
    from engine.services import Services


@dataclass
class PreferenceValues(Options):
    WHAT = "preference"

    default_model: str | None = option(
        None, "chat model used when none is named (default: the bundled model)"
    )
    threads: int | None = option(
        None, "llama.cpp CPU threads for models without their own setting (default: physical "
        "cores)", range=(1, 1024),
    )  # fmt: skip


class Preferences:
    def __init__(self, services: Services) -> None:
        self.services = services

    def get(self) -> dict[str, Any]:
        out = PreferenceValues.defaults()
        for row in self.services.db().execute("SELECT key, value FROM preferences").fetchall():
            if row["key"] in out:
                try:
                    out[row["key"]] = json.loads(row["value"])
                except ValueError:
                    continue  # a damaged value is the default
        return out

    def update(self, values: Any) -> dict[str, Any]:
        """Set (or, with None, reset) preferences; each bad value refused with its reason."""
        if not isinstance(values, dict):
            raise UserError("preferences must be an object of names and values.")
        PreferenceValues.from_dict(values)  # unknown names and bad values, each named
        model_id = values.get("default_model")
        if model_id is not None:
            model = self.services.library.get(model_id)  # NotFoundError names it
            if model["role"] not in ("llm", "adapter"):
                raise UserError(
                    f"{model['name']} is not a chat model ({model['role']}); pick a language "
                    "model or a LoRA adapter."
                )
        conn = self.services.db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for key, value in values.items():
                if value is None:
                    conn.execute("DELETE FROM preferences WHERE key = ?", (key,))
                else:
                    conn.execute(
                        "INSERT INTO preferences (key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (key, json.dumps(PreferenceValues.check_value(key, value))),
                    )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return self.get()

    @staticmethod
    def describe() -> list[dict[str, Any]]:
        return PreferenceValues.describe()
