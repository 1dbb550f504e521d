"""The fake engines' answers to describe-type methods, produced by the real engine code.

A fake engine that wrote these by hand drifted (its ``chat.params`` once lacked three params);
answering with the real handlers keeps every option, default, range and help text the GUI is
tested with identical to what it gets from the engine.
"""

from __future__ import annotations

from functools import cache
from typing import Any

# methods whose answer depends on nothing but the engine's code (no data root, no models)
DESCRIBE_METHODS = (
    "chat.params",
    "docs.settings",
    "data.formats",
    "data.step_options",
    "prune.describe",
)


@cache
def _answer(method: str) -> dict[str, Any]:
    from engine.rpc.registry import load_methods

    if method not in DESCRIBE_METHODS:
        raise KeyError(f"{method} is not a describe-type method")
    return load_methods()[method].fn(None)


def real_answer(method: str) -> dict[str, Any]:
    """A JSON round trip of the real handler's answer, as the client would receive it."""
    import json

    return json.loads(json.dumps(_answer(method)))


def formats() -> dict[str, tuple[list[str], list[str]]]:
    """Dataset formats as ``{name: (required, optional)}``, from the engine."""
    return {
        f["name"]: (f["required"], f["optional"]) for f in real_answer("data.formats")["formats"]
    }


def collection_defaults() -> dict[str, Any]:
    return {d["name"]: d["default"] for d in real_answer("docs.settings")["collection"]}
