"""Typed errors.

``UserError`` is anything a user can cause and fix (a missing file, a corrupt GGUF, a full
disk). Its message is shown as-is in the GUI and printed as one line by the CLI, so it must
say what went wrong and what to do next. Everything else is a bug and is logged with its
traceback.
"""

from __future__ import annotations

from typing import Any


class HearthError(Exception):
    """Base class for errors the engine raises on purpose."""

    code = -32603

    def __init__(self, message: str, *, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class UserError(HearthError):
    """Bad input or environment a user can fix; the message says how."""

    code = -32001


class NotFoundError(UserError):
    """A model, job or other object named by id does not exist."""

    code = -32002


class Cancelled(Exception):
    """Work stopped because the user asked; ``partial`` is what was done so far."""

    def __init__(self, partial: Any = None) -> None:
        super().__init__("cancelled")
        self.partial = partial


class JobFailed(Exception):
    """A job ended in failure; ``str(exc)`` is the reason shown to the user."""
