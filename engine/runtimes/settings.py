"""Per-model settings the user picks: runtime, device, context length, GPU layers, chat template.

Stored in the ``model_settings`` table (model_id, key, value as JSON); rows go with their model
when it is removed (foreign key, cascade). Runtime keys are checked here; ``template`` is checked by
``engine.chat.templates`` before it is saved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.core.options import Options, option

if TYPE_CHECKING:
    from engine.services import Services

RUNTIMES = ("auto", "llama_cpp", "transformers")
DEVICES = ("auto", "cuda", "mps", "cpu")


def _template(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError("template must be a template name.")
    return value.strip()


@dataclass
class ModelSettingValues(Options):
    """The settings one model can have; None (the default) leaves the choice to the engine."""

    WHAT = "model setting"

    runtime: str | None = option(
        None, "which runtime chats with the model: auto, llama_cpp or transformers",
        choices=RUNTIMES,
    )  # fmt: skip
    device: str | None = option(
        None, "transformers device: auto (cuda, then mps, then cpu), cuda, mps or cpu",
        choices=DEVICES,
    )  # fmt: skip
    n_ctx: int | None = option(
        None, "context window in tokens (llama.cpp default: the model's, at most 4096)",
        range=(128, 1 << 20),
    )  # fmt: skip
    n_gpu_layers: int | None = option(
        None, "llama.cpp layers to offload to the GPU (-1 = all; used when the build has GPU "
        "support)", range=(-1, 10_000),
    )  # fmt: skip
    n_threads: int | None = option(
        None, "llama.cpp CPU threads (default: physical cores)", range=(1, 1024)
    )
    template: str | None = option(
        None, "chat template: auto (the model's own, else plain) or a named one", check=_template
    )
    timeout_s: int | None = option(
        None, "model on a server: seconds to wait for its answer before giving up (default 120)",
        range=(5, 3600),
    )  # fmt: skip


SETTINGS_HELP: dict[str, str] = {d["name"]: d["help"] for d in ModelSettingValues.describe()}


class ModelSettings:
    def __init__(self, services: Services) -> None:
        self.services = services

    def get(self, model_id: str) -> dict[str, Any]:
        rows = self.services.db().execute(
            "SELECT key, value FROM model_settings WHERE model_id = ?", (model_id,)
        )
        out: dict[str, Any] = {}
        for row in rows.fetchall():
            try:
                out[row["key"]] = json.loads(row["value"])
            except ValueError:
                continue
        return out

    def update(self, model_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Set (or, with a None value, reset to the default) several settings of one model."""
        if not isinstance(values, dict):
            raise UserError("settings must be an object of setting names and values.")
        self.services.library.get(model_id)  # NotFoundError for an unknown model
        ModelSettingValues.from_dict(values)  # unknown names and bad values, each named
        checked = {
            key: None if value is None else ModelSettingValues.check_value(key, value)
            for key, value in values.items()
        }
        conn = self.services.db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for key, value in checked.items():
                if value is None:
                    conn.execute(
                        "DELETE FROM model_settings WHERE model_id = ? AND key = ?", (model_id, key)
                    )
                else:
                    conn.execute(
                        "INSERT INTO model_settings (model_id, key, value) VALUES (?, ?, ?) "
                        "ON CONFLICT(model_id, key) DO UPDATE SET value = excluded.value",
                        (model_id, key, json.dumps(value)),
                    )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return self.get(model_id)
