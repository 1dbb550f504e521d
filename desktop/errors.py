"""Typed errors for engine calls, so panels can react to *why* a call failed.

``RemoteError`` and its subclasses come from an error response; the ``Engine*`` ones from the
engine process itself going away. ``UserFacingError.message`` is written for the user.
"""

from __future__ import annotations

from typing import Any

CANCELLED = -32800
USER_ERROR = -32001
NOT_FOUND = -32002


class EngineError(Exception):
    """Any failed engine call."""

    def __init__(self, message: str, *, code: int | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.data = data


class RemoteError(EngineError):
    """The engine answered with an error (a bug, bad params, an unknown method)."""


class UserFacingError(RemoteError):
    """Bad input or environment the user can fix; the message says how."""


class CancelledError(RemoteError):
    """The call was cancelled; ``data`` holds the partial result, if any."""


class EngineCrashedError(EngineError):
    """The engine process died while the call was pending."""


class EngineHungError(EngineError):
    """The engine stopped answering pings and was restarted."""


class EngineUnavailableError(EngineError):
    """The engine is not running (starting, or it gave up restarting)."""


def from_response(error: dict[str, Any]) -> RemoteError:
    code = error.get("code")
    message = str(error.get("message") or "Unknown engine error")
    data = error.get("data")
    if code == CANCELLED:
        return CancelledError(message, code=code, data=data)
    if code in (USER_ERROR, NOT_FOUND):
        return UserFacingError(message, code=code, data=data)
    return RemoteError(message, code=code, data=data)
