"""RPC methods are plain functions registered by name.

``@method("models.list")`` registers ``fn(ctx, **params)``. Params are bound by keyword to the
function's signature, so a missing or unknown param is answered with -32602 without the
handler having to check. Handlers raise ``UserError``/``NotFoundError`` for bad input and
``Cancelled(partial)`` when ``ctx.cancelled()`` turns true.

``inline=True`` handlers run on the reader thread: only for answers that take microseconds
(ping, cancel); everything else runs on the worker pool.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from engine.services import Services

# Modules that register methods; imported when the dispatcher starts.
METHOD_MODULES: list[str] = [
    "engine.rpc.core_methods",
    "engine.jobs.methods",
    "engine.models.methods",
    "engine.chat.methods",
    "engine.chat.presets.methods",
    "engine.api.methods",
    "engine.documents.methods",
    "engine.datasets.methods",
    "engine.training.methods",
    "engine.pruning.methods",
    "engine.bias.methods",
    "engine.evaluation.methods",
]


class RequestContext(Protocol):
    """What a method handler can use."""

    request_id: Any
    services: Services

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """Send a notification to the client."""

    def cancelled(self) -> bool:
        """True once the client sent $/cancel for this request."""

    def wait_cancelled(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True if cancelled meanwhile."""


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[..., Any]
    inline: bool = False


_METHODS: dict[str, Method] = {}


def method(
    name: str, *, inline: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        _METHODS[name] = Method(name, fn, inline)
        return fn

    return decorate


def load_methods() -> dict[str, Method]:
    for module in METHOD_MODULES:
        importlib.import_module(module)
    return dict(_METHODS)
