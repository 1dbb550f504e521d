"""The local API's persisted settings: the bearer token and the last port, in ``api.json`` in the
config folder (written atomically, readable only by the user where the OS allows it).

The token is generated on first use and stays until the user regenerates it, so a client set up
once keeps working across restarts; ``hearth-engine api --token T`` uses T for that run only.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from engine.core.paths import atomic_write_text, config_dir

DEFAULT_PORT = 8470
TOKEN_PREFIX = "hearth-"
_lock = threading.Lock()


def settings_path() -> Path:
    return config_dir() / "api.json"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


def load() -> dict[str, Any]:
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    return data if isinstance(data, dict) else {}


def save(values: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        data = {**load(), **values}
        path = settings_path()
        atomic_write_text(path, json.dumps(data, indent=1))
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass
        return data


def token() -> str:
    """The persisted token, created on first use."""
    current = load().get("token")
    if isinstance(current, str) and len(current) >= 16:
        return current
    return save({"token": new_token()})["token"]


def regenerate_token() -> str:
    return save({"token": new_token()})["token"]


def port() -> int:
    value = load().get("port")
    return value if isinstance(value, int) and 0 < value < 65536 else DEFAULT_PORT


def check_token(value: Any) -> str:
    from engine.core.errors import UserError

    if not isinstance(value, str) or len(value) < 8 or any(c.isspace() for c in value):
        raise UserError("An API token is at least 8 characters with no spaces.")
    return value
