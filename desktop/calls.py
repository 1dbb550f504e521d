"""Engine calls whose answers may come after the asking widget is gone.

An answer can arrive after its widget was deleted: the user closed a dialog, or the app is
closing and the stopping engine fails every pending call. A callback that touched the deleted
widget would raise inside Qt's event delivery, so every callback here runs only while its owner
(a widget, model or other ``QObject``) still exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject

from desktop.engine_client import Call, EngineClient


def alive(owner: QObject, callback: Callable[..., Any]) -> Callable[..., None]:
    """``callback``, or nothing once ``owner``'s C++ object is deleted."""

    def guarded(*args: Any) -> None:
        if shiboken6.isValid(owner):
            callback(*args)

    return guarded


def request(
    owner: QObject,
    client: EngineClient,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    ok: Callable[[Any], Any] | None = None,
    fail: Callable[[Any], Any] | None = None,
) -> Call:
    """``client.call(method, params)`` with ``ok``/``fail`` guarded by ``owner``'s life."""
    call = client.call(method, params)
    if ok is not None:
        call.on_success(alive(owner, ok))
    if fail is not None:
        call.on_failure(alive(owner, fail))
    return call
