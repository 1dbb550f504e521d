"""``OpenConversation``: the conversation the Chat panel shows, shared with the panel's helpers.

The panel opens conversations; a helper that changes one in the engine (settings, attached
collections) hands the engine's answer to ``merge``, and whoever shows conversations (the list,
the context meter) follows ``sig_saved``. Helpers read the record here instead of reaching into
the panel.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal


class OpenConversation(QObject):
    sig_opened = Signal(object)
    """Another conversation (or none: the blank panel) is open; the argument is its record."""
    sig_saved = Signal(object)
    """The engine changed a conversation; the argument is the record it answered."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.record: dict[str, Any] | None = None
        self.streaming = False  # a reply is being written

    @property
    def id(self) -> str | None:
        return (self.record or {}).get("id")

    def open(self, record: dict[str, Any] | None) -> None:
        self.record = record
        self.sig_opened.emit(record)

    def merge(self, updated: dict[str, Any]) -> None:
        """The engine's answer to a change: taken into the record when it is the open one."""
        if self.record is not None and self.record["id"] == updated.get("id"):
            self.record = {**self.record, **updated}
        self.sig_saved.emit(updated)
