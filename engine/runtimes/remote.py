"""``RemoteRuntime``: a model served by an OpenAI-compatible server, chatted with over HTTP.

Unlike the local runtimes it takes *messages*, not token ids (``takes_messages``): the server
holds the tokenizer and the chat template, so ``engine.chat.generate`` hands it the conversation
as it is and the server renders it. Token counts for the context meter are an estimate (about
four characters a token) until the server reports real usage.

The runtime refuses to send anything to a server the user has not confirmed
(``engine.models.remote.require_confirmed``): the first request to a new server is preceded by a
visible question in the app, or by adding the server on the command line.

Sampling sent: temperature, top_p, max_tokens, seed and the stop strings (also enforced here, for
servers that ignore them); JSON mode asks for ``response_format`` with the schema, and the reply
is validated and retried by the chat path as with transformers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from engine.core.errors import UserError
from engine.runtimes.base import (
    Completion,
    IsCancelled,
    OnText,
    Runtime,
    SamplingParams,
    StopScanner,
)
from engine.runtimes.remote_client import Server

CHARS_PER_TOKEN = 4  # the estimate for counting before the server has said
DEFAULT_CONTEXT = 8192


def estimate_tokens(text: str) -> int:
    return max(1, (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN)


class RemoteRuntime(Runtime):
    name = "remote"
    takes_messages = True

    def __init__(self, model: dict[str, Any], *, settings: dict[str, Any], api_key: str | None = None,
                 before_sending: Callable[[], None] | None = None) -> None:  # fmt: skip
        super().__init__(model, settings=settings)
        self.before_sending = before_sending or (lambda: None)  # raises if the user has not agreed
        remote = model.get("remote") or {}
        self.base: str = remote.get("base") or model["path"]
        self.server_model: str = remote.get("model") or ""
        self.device = self.base
        self._key = api_key
        self._server: Server | None = None

    def config_key(self) -> tuple[Any, ...]:
        return (self.name, self.base, self.server_model, self.settings.get("n_ctx"),
                self.settings.get("timeout_s"), hash(self._key))  # fmt: skip

    # ---- lifecycle: nothing to load but a connection pool ------------------------------------
    def load(self) -> None:
        self._server = Server(self.base, api_key=self._key, read_timeout_s=self.settings.get("timeout_s"))  # fmt: skip
        self.loaded_at = time.time()

    def unload(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    @property
    def is_loaded(self) -> bool:
        return self._server is not None

    def memory_bytes(self) -> int:
        return 0

    # ---- tokens: the server's; estimated here -------------------------------------------------
    def context_length(self) -> int:
        return int(
            self.settings.get("n_ctx") or self.model.get("context_length") or DEFAULT_CONTEXT
        )

    def tokenize(self, text: str, *, add_bos: bool | None = None) -> list[int]:
        raise UserError(
            f"{self.model['name']} runs on {self.base}, which holds its tokenizer; this needs a "
            "model in the library (GGUF or Hugging Face folder)."
        )

    def count_tokens(self, text: str, *, add_bos: bool | None = None) -> int:
        return estimate_tokens(text)

    def count_messages(self, messages: Sequence[dict[str, Any]]) -> int:
        """About as many tokens as the messages take, with a few per message for the template."""
        return sum(estimate_tokens(m["content"]) + 4 for m in messages) + 2

    def special_tokens(self) -> dict[str, str]:
        return {"bos_token": "", "eos_token": ""}

    # ---- generation -----------------------------------------------------------------------
    def _generate(self, prompt_tokens: list[int], **_kwargs: Any) -> Completion:
        raise UserError(f"{self.model['name']} takes messages, not token ids.")

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        sampling: SamplingParams,
        stop: Sequence[str] = (),
        json_schema: dict[str, Any] | None = None,
        on_text: OnText | None = None,
        cancelled: IsCancelled | None = None,
    ) -> Completion:
        """Stream the server's reply to ``messages`` through ``on_text`` (trimmed deltas that
        concatenate to the final text). Raises ``StreamBroken`` with the partial text when the
        server stops half-way."""
        self.before_sending()
        if self._server is None:
            self.load()
        assert self._server is not None
        is_cancelled = cancelled or (lambda: False)
        emit = on_text or (lambda _t: None)
        stops = list(dict.fromkeys([*stop, *(sampling.stop or [])]))
        scanner = StopScanner(stops)
        body: dict[str, Any] = {
            "model": self.server_model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if stops:
            body["stop"] = stops[:4]  # OpenAI's limit; the rest are cut here
        if json_schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "reply", "schema": json_schema}}  # fmt: skip
        out: list[str] = []

        def piece(text: str) -> bool:
            delta, stopped = scanner.push(text)
            if delta:
                out.append(delta)
                emit(delta)
            return stopped

        start = time.perf_counter()
        if is_cancelled():  # nothing is sent for a request cancelled while it waited
            return Completion("", "cancelled", 0, 0, None, 0.0, 0.0)
        # no lock: the server schedules concurrent requests itself (vLLM batches them)
        got = self._server.stream_chat(body, on_piece=piece, cancelled=is_cancelled)
        if scanner.stopped_by is None:
            tail = scanner.finish()
            if tail:
                out.append(tail)
                emit(tail)
        prompt_tokens = got.prompt_tokens if got.prompt_tokens is not None else self.count_messages(messages)  # fmt: skip
        return Completion(
            text="".join(out),
            finish_reason=got.finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=got.completion_tokens,
            ttft_s=got.ttft_s,
            decode_s=got.decode_s,
            total_s=time.perf_counter() - start,
        )
