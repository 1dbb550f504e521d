"""The ``Runtime`` interface every inference backend implements, and the pieces they share.

A runtime holds one loaded model: ``load``/``unload``, ``tokenize``/``count_tokens``,
``context_length`` and a streaming ``generate`` that takes prompt token ids and calls ``on_text``
with each piece of reply text as it is decoded, checking ``cancelled()`` between tokens. Prompt
rendering (chat templates), context fitting and conversations live in ``engine.chat``; a runtime
only turns tokens into tokens.

``generate`` is serialized per loaded model (``Runtime.lock``): llama.cpp contexts are not
thread-safe and two generations on one torch model would only fight for the same cores. A waiting
request still honours its cancel flag.

``StopScanner`` is the stop-string logic both backends use: it withholds text that might be the
start of a stop string (so a stop string never leaks into a delta) and trailing whitespace (so the
deltas of a reply always concatenate to its final, stripped text).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from engine.core.errors import UserError
from engine.core.options import Options, option

OnText = Callable[[str], None]
IsCancelled = Callable[[], bool]

_LOCK_POLL_S = 0.05


def _stop_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise UserError("stop must be a string or a list of strings.")
    if len(value) > 16:
        raise UserError("stop takes at most 16 strings.")
    return [s for s in value if s]


@dataclass
class SamplingParams(Options):
    """How to sample a reply (``engine.core.options``: help, ranges and checks in one place)."""

    WHAT = "generation setting"

    temperature: float = option(0.8, "randomness; 0 always picks the most likely token",
                                range=(0.0, 5.0))  # fmt: skip
    top_p: float = option(0.95, "nucleus sampling: keep the smallest set of tokens with this "
                          "total probability", range=(0.0, 1.0))  # fmt: skip
    top_k: int = option(40, "keep only the K most likely tokens (0 = all)", range=(0, 100_000))
    min_p: float = option(0.05, "drop tokens less likely than this fraction of the best one",
                          range=(0.0, 1.0))  # fmt: skip
    repeat_penalty: float = option(1.1, "penalty for repeating recent tokens (1 = none)",
                                   range=(0.1, 5.0))  # fmt: skip
    max_tokens: int = option(512, "longest reply, in tokens", range=(1, 1_000_000))
    seed: int | None = option(None, "random seed; the same seed and settings give the same reply",
                              range=(0, 2**32 - 1))  # fmt: skip
    stop: list[str] = option(help="extra strings that end the reply (added to the template's)",
                             factory=list, check=_stop_strings)  # fmt: skip
    ignore_eos: bool = option(False, "keep generating past end-of-text tokens (benchmarks)")
    cache_prompt: bool = option(True, "reuse the evaluated prefix of the previous prompt "
                                "(llama.cpp; not with a seed)")  # fmt: skip


def sampling_field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(SamplingParams))


@dataclass
class Completion:
    """What one ``Runtime.generate`` call produced."""

    text: str
    finish_reason: str  # "stop" | "length" | "cancelled"
    prompt_tokens: int
    completion_tokens: int
    ttft_s: float | None  # generate() start -> first token sampled (prompt evaluation included)
    decode_s: float  # first token -> last token
    total_s: float

    @property
    def tokens_per_s(self) -> float | None:
        """Decode speed: tokens after the first over the time they took (llama-bench's tg)."""
        if self.completion_tokens > 1 and self.decode_s > 0:
            return (self.completion_tokens - 1) / self.decode_s
        return None


class StopScanner:
    """Turns a stream of decoded pieces into safe-to-show deltas, stopping at any stop string.

    ``push(piece)`` returns ``(delta, stopped)``. Text that could be the beginning of a stop
    string, and trailing whitespace, is held back until the next piece shows what it was; leading
    whitespace of the reply is dropped. ``finish()`` returns what is still held when the reply
    ends for another reason (minus trailing whitespace).

    With ``trim=False`` (a raw completion, where the continuation of ``"The sky is"`` starts with
    its space) nothing is stripped: the deltas concatenate to exactly the decoded text before the
    stop string.
    """

    def __init__(self, stops: Sequence[str], *, trim: bool = True) -> None:
        self.stops = [s for s in dict.fromkeys(stops) if s]
        self._held = ""
        self._started = not trim  # untrimmed (a raw completion): leading whitespace is text too
        self._trim = trim
        self.stopped_by: str | None = None

    def push(self, piece: str) -> tuple[str, bool]:
        if not piece:
            return "", False
        buf = self._held + piece
        cut = -1
        for stop in self.stops:
            at = buf.find(stop)
            if at != -1 and (cut == -1 or at < cut):
                cut, self.stopped_by = at, stop
        if cut != -1:
            self._held = ""
            if not self._trim:
                return buf[:cut], True
            out = buf[:cut].rstrip() if self._started else buf[:cut].strip()
            self._started = self._started or bool(out)
            return out, True
        hold = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(buf)), hold, -1):
                if buf.endswith(stop[:k]):
                    hold = k
                    break
        safe = buf[: len(buf) - hold]
        tail = buf[len(buf) - hold :]
        if not self._started:
            safe = safe.lstrip()  # a reply starts at its first visible character
        trimmed = safe.rstrip() if self._trim else safe
        self._held = safe[len(trimmed) :] + tail
        if trimmed:
            self._started = True
        return trimmed, False

    def finish(self) -> str:
        if not self._trim:
            out, self._held = self._held, ""
            return out
        out = self._held.rstrip() if self._started else ""
        self._held = ""
        return out


class Runtime(ABC):
    """One model loaded in one backend. Subclasses implement the ``_``-prefixed methods."""

    name: str = ""

    def __init__(self, model: dict[str, Any], *, settings: dict[str, Any]) -> None:
        self.model = model
        self.model_id: str = model["id"]
        self.settings = dict(settings)
        self.lock = threading.Lock()  # one generation at a time on this model
        self.device = "cpu"
        self.loaded_at: float | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    @abstractmethod
    def load(self) -> None:
        """Load the weights; raise ``UserError`` saying what to do when they cannot be."""

    @abstractmethod
    def unload(self) -> None:
        """Free the weights (idempotent)."""

    @property
    @abstractmethod
    def is_loaded(self) -> bool: ...

    @abstractmethod
    def memory_bytes(self) -> int:
        """Memory the loaded model holds (weights plus caches), best estimate."""

    def config_key(self) -> tuple[Any, ...]:
        """Settings that need a reload when they change."""
        return (
            self.name,
            self.settings.get("device"),
            self.settings.get("n_ctx"),
            self.settings.get("n_gpu_layers"),
            self.settings.get("n_threads"),
        )

    # ---- tokens --------------------------------------------------------------------------
    @abstractmethod
    def context_length(self) -> int:
        """The context window in tokens (prompt plus reply)."""

    @abstractmethod
    def tokenize(self, text: str, *, add_bos: bool | None = None) -> list[int]:
        """Token ids of ``text`` with special tokens parsed. ``add_bos=None``: add the model's
        beginning-of-text token unless ``text`` already starts with it."""

    def count_tokens(self, text: str, *, add_bos: bool | None = None) -> int:
        return len(self.tokenize(text, add_bos=add_bos))

    @abstractmethod
    def special_tokens(self) -> dict[str, str]:
        """``{"bos_token": ..., "eos_token": ...}`` texts, for chat templates."""

    # ---- generation ----------------------------------------------------------------------
    def generate(
        self,
        prompt_tokens: list[int],
        *,
        sampling: SamplingParams,
        stop: Sequence[str] = (),
        json_schema: dict[str, Any] | None = None,
        on_text: OnText | None = None,
        cancelled: IsCancelled | None = None,
        raw: bool = False,
    ) -> Completion:
        """Sample a reply to ``prompt_tokens``, streaming its text through ``on_text``.

        A chat reply is trimmed of surrounding whitespace; ``raw`` (a plain-text completion)
        keeps the text exactly as decoded, its leading space included.

        Stops at an end-of-text token, a stop string, ``sampling.max_tokens``, the end of the
        context window, or when ``cancelled()`` turns true (checked between tokens, and while
        waiting for another generation on this model to finish).
        """
        is_cancelled = cancelled or (lambda: False)
        start = time.perf_counter()
        while not self.lock.acquire(timeout=_LOCK_POLL_S):
            if is_cancelled():
                return Completion("", "cancelled", len(prompt_tokens), 0, None, 0.0, 0.0)
        try:
            return self._generate(
                prompt_tokens,
                sampling=sampling,
                stop=list(stop) + list(sampling.stop or []),
                json_schema=json_schema,
                on_text=on_text or (lambda _t: None),
                cancelled=is_cancelled,
                start=start,
                trim=not raw,
            )
        finally:
            self.lock.release()

    @abstractmethod
    def _generate(
        self,
        prompt_tokens: list[int],
        *,
        sampling: SamplingParams,
        stop: list[str],
        json_schema: dict[str, Any] | None,
        on_text: OnText,
        cancelled: IsCancelled,
        start: float,
        trim: bool = True,
    ) -> Completion: ...

    def info(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "name": self.model.get("name"),
            "runtime": self.name,
            "device": self.device,
            "memory_bytes": self.memory_bytes() if self.is_loaded else 0,
            "context_length": self.context_length() if self.is_loaded else None,
            "loaded_at": self.loaded_at,
        }


def max_new_tokens(sampling: SamplingParams, prompt_len: int, n_ctx: int) -> int:
    """Tokens the reply may take: ``max_tokens``, but never past the context window."""
    room = max(0, n_ctx - prompt_len)
    wanted = sampling.max_tokens if sampling.max_tokens and sampling.max_tokens > 0 else room
    return max(0, min(wanted, room))
