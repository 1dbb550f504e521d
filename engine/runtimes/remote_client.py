"""HTTP to an OpenAI-compatible model server (vLLM, llama.cpp's server, Ollama, LM Studio, TGI,
another Hearth): its model list and streamed chat completions, every failure turned into a
``UserError`` that names the server and says what to do.

    server = Server("http://gpu-box:8000/v1", api_key="...")
    server.models()                    # [{"id": ..., "context_length": ...}, ...]
    result = server.stream_chat(body, on_piece=print, cancelled=lambda: False)

Only a server the user added is ever contacted (``engine.models.remote`` keeps the list), and
the API key is sent only as the ``Authorization`` header of requests to that server: it is never
logged, and no error message repeats it.

Streaming reads server-sent events line by line. Cancelling closes the response from a watcher
thread, so a stalled server cannot hold a cancel up until its read timeout. A stream that ends
without its final event, or a connection that drops half-way, raises ``StreamBroken`` carrying
the text that did arrive: the chat keeps it, marked as cut off.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from engine.core.errors import UserError

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0  # a long prompt on a busy server may take a while to its first token
_CANCEL_POLL_S = 0.05
_USER_AGENT = "Hearth (OpenAI-compatible client)"


class StreamBroken(UserError):
    """The server stopped in the middle of a reply; ``partial`` is the text that arrived."""

    def __init__(self, message: str, partial: str) -> None:
        super().__init__(message, data={"partial": partial})
        self.partial = partial


def api_base(url: Any) -> str:
    """The ``.../v1`` base of a server address the user typed (``http://host:8000``,
    ``http://host:8000/v1/``, ``http://host:11434/v1/models`` all work)."""
    if not isinstance(url, str) or not url.strip():
        raise UserError("Give the server's address, e.g. http://127.0.0.1:8080 or http://gpu-box:8000/v1.")  # fmt: skip
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{url!r} is not an http:// or https:// address of a model server.")
    if parts.username or parts.password:
        raise UserError("Put the API key in the key field, not in the address.")
    path = parts.path.rstrip("/")
    for tail in ("/chat/completions", "/completions", "/models"):
        if path.endswith(tail):
            path = path[: -len(tail)]
            break
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _message(response: httpx.Response) -> str:
    """The server's own words for an error, from OpenAI's JSON shape or FastAPI's."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err.get("msg") or json.dumps(err)[:300]
        if isinstance(err, list):  # FastAPI validation errors
            err = "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in err)
        if err:
            return str(err)[:300]
    return json.dumps(body)[:300]


@dataclass
class StreamResult:
    text: str
    finish_reason: str  # "stop" | "length" | "cancelled"
    prompt_tokens: int | None
    completion_tokens: int
    ttft_s: float | None
    decode_s: float


class Server:
    """One OpenAI-compatible server; keeps its connections open between requests."""

    def __init__(self, base: str, *, api_key: str | None = None, read_timeout_s: float | None = None) -> None:  # fmt: skip
        self.base = api_base(base)
        self._key = api_key or None
        self.read_timeout_s = float(read_timeout_s or READ_TIMEOUT_S)
        headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self.read_timeout_s, connect=CONNECT_TIMEOUT_S),
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    # ---- errors ----------------------------------------------------------------------------
    def _problem(self, exc: Exception, doing: str) -> UserError:
        where = self.base
        if isinstance(exc, httpx.ConnectTimeout):
            return UserError(f"{where} did not accept a connection within {CONNECT_TIMEOUT_S:.0f} s while {doing}; check the address and that the machine is reachable.")  # fmt: skip
        if isinstance(exc, httpx.ConnectError):
            return UserError(f"Cannot connect to {where} while {doing} (connection refused or no route); is the server running, and is the address right?")  # fmt: skip
        if isinstance(exc, httpx.ReadTimeout):
            return UserError(f"{where} sent nothing for {self.read_timeout_s:.0f} s while {doing}; the server may be overloaded. Try again, or raise the model's request timeout.")  # fmt: skip
        if isinstance(exc, httpx.TimeoutException):
            return UserError(f"{where} timed out while {doing}; try again.")
        return UserError(f"The connection to {where} failed while {doing}: {type(exc).__name__}; try again.")  # fmt: skip

    def _status_problem(self, response: httpx.Response, doing: str) -> UserError:
        code = response.status_code
        said = _message(response)
        if self._key:  # a server (or a proxy) that repeats the key it got: never passed on
            said = said.replace(self._key, "[the key]")
        if code in (401, 403):
            return UserError(
                f"{self.base} refused the API key ({code}: {said}). Set the server's key in Models "
                "(Server key…) or with `hearth-engine models add-remote URL --api-key-env VAR`."
            )
        if code == 429:
            wait = response.headers.get("Retry-After")
            when = f"wait {wait} s" if wait else "wait a little"
            return UserError(f"{self.base} is limiting requests (429: {said}); {when} and try again.")  # fmt: skip
        if code == 404:
            return UserError(f"{self.base} has no such endpoint or model while {doing} (404: {said}); check the address and the model name.")  # fmt: skip
        if code >= 500:
            return UserError(f"{self.base} failed while {doing} ({code}: {said}); check the server's log.")  # fmt: skip
        return UserError(f"{self.base} refused the request while {doing} ({code}: {said}).")

    # ---- the model list --------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """``GET /v1/models``: ``[{id, context_length}]`` (the window when the server says it)."""
        doing = "listing its models"
        try:
            response = self._http.get(self.base + "/models")
        except httpx.HTTPError as exc:
            raise self._problem(exc, doing) from None
        if response.status_code != 200:
            if response.status_code == 404:
                raise UserError(f"{self.base} is not an OpenAI-compatible server: GET /v1/models answered 404. Give the address of a vLLM, llama.cpp, Ollama, LM Studio, TGI or Hearth API server.")  # fmt: skip
            raise self._status_problem(response, doing)
        try:
            body = response.json()
        except ValueError:
            body = None
        rows = body.get("data") if isinstance(body, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), str) for r in rows):  # fmt: skip
            kind = response.headers.get("content-type", "no content type")
            raise UserError(f"{self.base} is not an OpenAI-compatible server: GET /v1/models did not answer a model list ({kind}).")  # fmt: skip
        if not rows:
            raise UserError(f"{self.base} lists no models; load a model on the server first, then add it again.")  # fmt: skip
        return [{"id": r["id"], "context_length": _context_of(r)} for r in rows]

    # ---- chat --------------------------------------------------------------------------------
    def stream_chat(
        self,
        body: dict[str, Any],
        *,
        on_piece: Callable[[str], bool | None],
        cancelled: Callable[[], bool],
    ) -> StreamResult:
        """POST ``/chat/completions`` with ``stream: true``; each piece of text goes to
        ``on_piece`` (which returns True to stop reading: a stop string seen client-side)."""
        doing = "answering"
        start = time.perf_counter()
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        text: list[str] = []
        first: float | None = None
        last = start
        finish: str | None = None
        usage: dict[str, Any] | None = None
        chunks = 0
        done = False
        stop_watch = threading.Event()
        cancel_seen = threading.Event()
        try:
            with self._http.stream("POST", self.base + "/chat/completions", json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise self._status_problem(response, doing)
                watcher = threading.Thread(
                    target=_watch, args=(response, cancelled, stop_watch, cancel_seen), daemon=True
                )
                watcher.start()
                try:
                    for line in response.iter_lines():
                        if cancel_seen.is_set() or cancelled():
                            cancel_seen.set()
                            break
                        if not line.startswith("data:"):
                            continue
                        data = line[5:].strip()
                        if data == "[DONE]":
                            done = True
                            break
                        event = _event(data, self.base)
                        if event.get("usage"):
                            usage = event["usage"]
                        for choice in event.get("choices") or ():
                            piece = (choice.get("delta") or {}).get("content") or ""
                            if piece:
                                now = time.perf_counter()
                                first = first if first is not None else now
                                last = now
                                chunks += 1
                                text.append(piece)
                                if on_piece(piece):  # a stop string, seen on this side
                                    finish, done = "stop", True
                            if choice.get("finish_reason"):
                                finish = choice["finish_reason"]
                        if done:
                            break
                finally:
                    stop_watch.set()
        except UserError:
            raise
        except httpx.HTTPError as exc:
            if cancel_seen.is_set():
                done = True
            elif text:
                raise StreamBroken(f"{self.base} stopped in the middle of the reply ({type(exc).__name__}); the part that arrived is kept.", "".join(text)) from None  # fmt: skip
            else:
                raise self._problem(exc, doing) from None
        if cancel_seen.is_set():
            finish = "cancelled"
        elif not done and finish is None:
            raise StreamBroken(f"{self.base} stopped in the middle of the reply (the stream ended before its last event); the part that arrived is kept.", "".join(text))  # fmt: skip
        prompt_tokens = usage.get("prompt_tokens") if usage else None
        completion_tokens = (usage or {}).get("completion_tokens") or chunks
        return StreamResult(
            text="".join(text),
            finish_reason=_finish(finish),
            prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else None,
            completion_tokens=int(completion_tokens),
            ttft_s=None if first is None else first - start,
            decode_s=0.0 if first is None else last - first,
        )


def _finish(reason: str | None) -> str:
    if reason in ("length", "cancelled"):
        return reason
    return "stop"


def _event(data: str, base: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except ValueError:
        raise UserError(f"{base} sent a stream event that is not JSON; it may not be OpenAI-compatible.") from None  # fmt: skip
    if not isinstance(event, dict):
        raise UserError(f"{base} sent a stream event that is not an object.")
    if event.get("error"):
        err = event["error"]
        said = err.get("message") if isinstance(err, dict) else str(err)
        raise UserError(f"{base} reported an error in the middle of the reply: {said}")
    return event


def _watch(response: httpx.Response, cancelled: Callable[[], bool], done: threading.Event,
           seen: threading.Event) -> None:  # fmt: skip
    """Close the response when the user cancels, so a read waiting on a stalled server ends."""
    while not done.wait(_CANCEL_POLL_S):
        if cancelled():
            seen.set()
            response.close()
            return


def _context_of(row: dict[str, Any]) -> int | None:
    """The context window a server reports for a model, under the names servers use."""
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    for value in (row.get("max_model_len"), row.get("context_length"), row.get("context_window"),
                  meta.get("n_ctx_train"), meta.get("n_ctx")):  # fmt: skip
        if isinstance(value, int) and value > 0:
            return value
    return None
