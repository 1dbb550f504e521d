"""``ReplyStream``: one streaming chat call (``chat.send``/``regenerate``/``edit``) seen by the GUI.

``chat.delta`` notifications arrive one per token; repainting per token would stall the GUI
thread on a fast model. The stream only appends them to a buffer and a frame timer (~30 fps)
publishes the text so far once per frame, with live figures: time to first token as the user
saw it (request to first delta, model loading included) and tokens per second after the first
one (a delta is one decoded piece, about one token). The final figures come from the engine's
``ChatResult.timings``.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.engine_client import Call
from desktop.errors import EngineError

FRAME_MS = 33


class ReplyStream(QObject):
    sig_text = Signal(str)
    """The reply's whole text so far; emitted at most once per frame."""
    sig_stats = Signal(object)
    """Live figures: ``{tokens, ttft_ms, tokens_per_s}`` (the last two may be None)."""
    sig_finished = Signal(object)
    """The call succeeded; the argument is its ChatResult."""
    sig_failed = Signal(object)
    """The call failed (``CancelledError`` carries the partial ChatResult in ``data``)."""

    def __init__(
        self,
        call: Call,
        *,
        conversation_id: str | None,
        kind: str,
        frame_ms: int = FRAME_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.call = call
        self.conversation_id = conversation_id
        self.kind = kind  # "send", "regenerate" or "edit"
        self.message_id: str | None = None  # the reply's id, from the first delta
        self.stopping = False
        self.done = False
        self.flushes = 0
        self._parts: list[str] = []
        self._dirty = False
        self._tokens = 0
        self._started = time.monotonic()
        self._first: float | None = None
        self._last: float | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(frame_ms)
        self._timer.timeout.connect(self.flush)
        call.on_progress(self._on_delta).on_success(self._on_finished).on_failure(self._on_failed)

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def stop(self) -> None:
        """Ask the engine to stop; the text so far stays and the call fails as cancelled."""
        if not self.done:
            self.stopping = True
            self.call.cancel()

    def stats(self) -> dict[str, Any]:
        ttft = None if self._first is None else (self._first - self._started) * 1000
        rate = None
        if self._first is not None and self._last is not None and self._last > self._first:
            rate = (self._tokens - 1) / (self._last - self._first)
        return {"tokens": self._tokens, "ttft_ms": ttft, "tokens_per_s": rate}

    # -- input ----------------------------------------------------------------------------

    def _on_delta(self, params: dict[str, Any]) -> None:
        if self.done:
            return
        if params.get("message_id"):
            self.message_id = params["message_id"]
        if params.get("reset"):  # JSON mode retry: the engine starts the reply over
            self._parts.clear()
            self._dirty = True
        text = params.get("text") or ""
        if text:
            now = time.monotonic()
            self._first = self._first or now
            self._last = now
            self._tokens += 1
            self._parts.append(text)
            self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Publish what arrived since the last frame (the frame timer calls this)."""
        if not self._dirty:
            return
        self._dirty = False
        self.flushes += 1
        self.sig_text.emit(self.text)
        self.sig_stats.emit(self.stats())

    def _end(self) -> None:
        self._timer.stop()
        self.flush()
        self.done = True

    def _on_finished(self, result: dict[str, Any]) -> None:
        if isinstance(result, dict) and isinstance(result.get("text"), str):
            if result["text"] != self.text:
                self._parts, self._dirty = [result["text"]], True
            message = result.get("message") or {}
            self.message_id = message.get("id", self.message_id)
        self._end()
        self.sig_finished.emit(result)

    def _on_failed(self, error: EngineError) -> None:
        partial = error.data if isinstance(error.data, dict) else None
        if partial and isinstance(partial.get("text"), str) and partial["text"] != self.text:
            self._parts, self._dirty = [partial["text"]], True
        self._end()
        self.sig_failed.emit(error)
