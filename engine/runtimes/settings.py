"""Per-model settings the user picks: runtime, device, context length, GPU layers, chat template.

Stored in the ``model_settings`` table (model_id, key, value as JSON); rows go with their model
when it is removed (foreign key, cascade). Runtime keys are checked here; ``template`` is checked by
``engine.chat.templates`` before it is saved.
"""

from __future__ import annotations

import json
from typing import Any

from engine.core.errors import UserError

RUNTIMES = ("auto", "llama_cpp", "transformers")
DEVICES = ("auto", "cuda", "mps", "cpu")

# key -> (help, validator returning the value to store, or raising UserError)
SETTINGS_HELP: dict[str, str] = {
    "runtime": "which runtime chats with the model: auto, llama_cpp or transformers",
    "device": "transformers device: auto (cuda, then mps, then cpu), cuda, mps or cpu",
    "n_ctx": "context window in tokens (llama.cpp default: the model's, at most 4096)",
    "n_gpu_layers": "llama.cpp layers to offload to the GPU (-1 = all; used when the build has GPU support)",
    "n_threads": "llama.cpp CPU threads (default: physical cores)",
    "template": "chat template: auto (the model's own, else plain) or a named one",
}


def _choice(key: str, allowed: tuple[str, ...]):
    def check(value: Any) -> str:
        if value not in allowed:
            raise UserError(f"{key} must be one of {', '.join(allowed)}, not {value!r}.")
        return value

    return check


def _int(key: str, low: int, high: int):
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise UserError(f"{key} must be a whole number from {low} to {high}, not {value!r}.")
        return value

    return check


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError("template must be a template name.")
    return value.strip()


_CHECKS = {
    "runtime": _choice("runtime", RUNTIMES),
    "device": _choice("device", DEVICES),
    "n_ctx": _int("n_ctx", 128, 1 << 20),
    "n_gpu_layers": _int("n_gpu_layers", -1, 10_000),
    "n_threads": _int("n_threads", 1, 1024),
    "template": _text,
}


class ModelSettings:
    def __init__(self, services: Any) -> None:
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
        checked: dict[str, Any] = {}
        for key, value in values.items():
            if key not in _CHECKS:
                raise UserError(
                    f"Unknown model setting {key!r}; known settings: {', '.join(sorted(_CHECKS))}."
                )
            checked[key] = None if value is None else _CHECKS[key](value)
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
