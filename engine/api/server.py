"""The local API's HTTP server: ``ThreadingHTTPServer`` on 127.0.0.1, one thread per connection,
a bounded number of connections (beyond it: 503 and Retry-After), idle ones closed.

Every request needs ``Authorization: Bearer <token>`` (compared in constant time); anything else
answers 401 before the body is read. Errors are OpenAI's JSON shape. Streaming responses are
server-sent events (``data: {...}\\n\\n`` ... ``data: [DONE]``) in HTTP/1.1 chunked encoding, one
socket write per event with Nagle off, so each token leaves as soon as it is decoded; the response
headers are sent only once the prompt has been checked, so a bad request still gets a proper
status. While a reply is generated the handler checks, at most every ``_PEEK_EVERY_S``, whether
the client hung up (a readable socket with nothing to read), and a write that fails says the same:
either way generation is cancelled between two tokens.

Why the standard library's server and not an ASGI framework: it is already at the speed of the
model. ``benchmarks/bench_api.py`` (bundled Gemma 3 270M, 2 CPU threads, 5 rounds, medians)
measured 42.0 tok/s through this server against 42.9 for raw llama-cpp-python in the same run --
0.999x round by round -- and a time to first token 2.4 ms *under* raw (noise). Nothing is left for
a framework to win, and it would add an event loop and several packages to the offline
installer. (The official ``openai`` client reads the same stream at 0.82x: its own parsing.)
"""

from __future__ import annotations

import collections
import hmac
import logging
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from engine.api import completions, embeddings, models, openai_shapes
from engine.api.openai_shapes import ApiError, dumps
from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
_PEEK_EVERY_S = 0.05


MAX_CONNECTIONS = 64
IDLE_TIMEOUT_S = 15.0
RETRY_AFTER_S = 2
_BUSY_BODY = dumps({"error": {
    "message": "Hearth's local API is serving as many connections as it allows; retry shortly, "
               "or close idle connections (a client's keep-alive pool).",
    "type": "server_error", "param": None, "code": "too_many_connections"}})  # fmt: skip


class ApiServer(ThreadingHTTPServer):
    """One thread per connection, at most ``max_connections`` of them: a connection beyond the
    cap is answered ``503`` with ``Retry-After`` on the accepting thread and closed, so no client
    can make the engine start threads without bound. A connection that sends nothing for
    ``idle_timeout`` seconds (between requests, or half-way through one) is closed; a reply being
    generated is not idle (each token is a write)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 32

    def __init__(self, services: Services, *, port: int, token: str,
                 max_connections: int = MAX_CONNECTIONS, idle_timeout: float = IDLE_TIMEOUT_S) -> None:  # fmt: skip
        self.services = services
        self.token = token
        self.max_connections = max(1, int(max_connections))
        self.idle_timeout = float(idle_timeout)
        self.connections = self.peak_connections = 0
        self.refused = 0
        self._slots = threading.Lock()
        self.stopping = threading.Event()
        self.requests = 0
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=50)
        self._stats_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        try:
            super().__init__((HOST, port), ApiHandler)
        except OSError as exc:
            raise UserError(
                f"Cannot serve the API on {HOST}:{port} ({exc.strerror or exc}); the port may be "
                "in use by another program -- choose another port."
            ) from None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> ApiServer:
        """Serve on a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.2}, name="api", daemon=True
        )
        self._thread.start()
        log.info("local API serving on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop accepting, cancel replies being generated, close the socket."""
        self.stopping.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
        self.server_close()
        log.info("local API on port %d stopped", self.port)

    close = stop

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._slots:
            full = self.connections >= self.max_connections
            if not full:
                self.connections += 1
                self.peak_connections = max(self.peak_connections, self.connections)
            else:
                self.refused += 1
        if full:
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # the thread did not start: give its slot back
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._slots:
            self.connections -= 1

    def _refuse(self, sock: socket.socket) -> None:
        """``503`` + ``Retry-After`` without reading the request (the reply fits any send
        buffer, and the short timeout bounds a peer that does not read), then close."""
        head = (f"HTTP/1.1 503 Service Unavailable\r\nServer: Hearth\r\nRetry-After: {RETRY_AFTER_S}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(_BUSY_BODY)}\r\n"
                "Connection: close\r\n\r\n").encode("ascii")  # fmt: skip
        try:
            sock.settimeout(1.0)
            sock.sendall(head + _BUSY_BODY)
        except OSError:
            pass
        self.shutdown_request(sock)

    def record(self, entry: dict[str, Any]) -> None:
        with self._stats_lock:
            self.requests += 1
            self.recent.append(entry)

    def check_token(self, header: str | None) -> None:
        if not header:
            raise ApiError(
                401,
                "You didn't provide an API key. Send 'Authorization: Bearer <token>' with the "
                "token Hearth shows (Chat > Local API, or the line `hearth-engine api` printed).",
                code="invalid_api_key",
            )
        scheme, _, value = header.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode("utf-8"), self.token.encode("utf-8")
        )
        if not ok:
            raise ApiError(
                401,
                "Incorrect API key provided. Use the token Hearth shows (it changes when you "
                "regenerate it).",
                code="invalid_api_key",
            )


class ApiHandler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"
    server_version = "Hearth"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_S  # replaced per connection by the server's idle_timeout (setup)

    # ---- plumbing -----------------------------------------------------------------------
    def setup(self) -> None:
        self.timeout = self.server.idle_timeout
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("api %s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, verb: str) -> None:
        started = time.perf_counter()
        self._gone = False
        self._last_peek = 0.0
        self._headers_sent = False
        self._outcome: dict[str, Any] = {}
        path = self.path.split("?", 1)[0].rstrip("/")
        status = 200
        try:
            if self.server.stopping.is_set():
                raise ApiError(503, "The API is stopping.", type="server_error")
            try:
                self.server.check_token(self.headers.get("Authorization"))
            except ApiError:
                self.close_connection = True  # the body stays unread
                raise
            routes = {
                "/v1/models": ("GET", self._models),
                "/v1/chat/completions": ("POST", self._chat),
                "/v1/completions": ("POST", self._completions),
                "/v1/embeddings": ("POST", self._embeddings),
            }
            route = routes.get(path)
            if route is None and path.startswith("/v1/models/"):
                route = ("GET", self._one_model)
            if route is None:
                self.close_connection = True
                raise ApiError(404, f"Unknown request URL: {verb} {path}.", code="unknown_url")
            if route[0] != verb:
                self.close_connection = True
                raise ApiError(
                    405, f"Use {route[0]} for {path}, not {verb}.", code="method_not_allowed"
                )
            route[1]()
        except ApiError as exc:
            status = exc.status
            self._error(exc)
        except UserError as exc:
            status = 400
            self._error(ApiError(400, exc.message, code=_user_error_code(exc)))
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self._gone, status = True, 499
            self.close_connection = True
        except Exception as exc:
            log.exception("API request %s %s failed", verb, path)
            status = 500
            self._error(
                ApiError(
                    500,
                    f"Internal error: {type(exc).__name__}: {exc}. Details are in the engine log.",
                    type="server_error",
                )
            )
        self.server.record(
            {
                "method": verb,
                "path": path,
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "client_gone": self._gone,
                **self._outcome,
            }
        )

    def _read_json(self) -> dict[str, Any]:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            raise ApiError(411, "Send the request body with a Content-Length.")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > openai_shapes.MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(413, "The request body is too large (at most 8 MB).")
        return openai_shapes.parse_body(self.rfile.read(length) if length else b"")

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self._headers_sent = True

    def _error(self, exc: ApiError) -> None:
        if self._gone:
            return
        try:
            if self._headers_sent:  # mid-stream: the status is gone, say it in the stream
                self._event(exc.body())
                self._end_stream()
            else:
                self._send_json(exc.status, exc.body())
        except OSError:
            self._gone = True

    # ---- streaming ------------------------------------------------------------------------
    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()
        self._headers_sent = True

    def _chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        except OSError:
            self._gone = True
            self.close_connection = True

    def _event(self, payload: dict[str, Any] | str) -> None:
        body = payload.encode() if isinstance(payload, str) else dumps(payload)
        self._chunk(b"data: " + body + b"\n\n")

    def _end_stream(self) -> None:
        self._event("[DONE]")
        self._chunk(b"")  # the zero-length chunk ends the body

    def _cancelled(self) -> bool:
        """Whether generation should stop: the client hung up, or the server is stopping."""
        if self._gone or self.server.stopping.is_set():
            return True
        now = time.monotonic()
        if now - self._last_peek >= _PEEK_EVERY_S:
            self._last_peek = now
            self._gone = _peer_closed(self.connection)
        return self._gone

    # ---- routes ---------------------------------------------------------------------------
    def _models(self) -> None:
        data = [openai_shapes.model_object(m) for m in models.listed(self.server.services)]
        self._send_json(200, {"object": "list", "data": data})

    def _one_model(self) -> None:
        name = self.path.split("?", 1)[0].rstrip("/")[len("/v1/models/") :]
        for model in models.listed(self.server.services):
            if model["id"] == name:
                self._send_json(200, openai_shapes.model_object(model))
                return
        raise ApiError(404, f"The model {name!r} does not exist.", code="model_not_found")

    def _chat(self) -> None:
        from engine.chat.generate import generate

        request = openai_shapes.parse_chat(self._read_json())
        model_id = models.chat_model(self.server.services, request["model"])
        rid, created = openai_shapes.new_id("chatcmpl"), int(time.time())
        stream = request["stream"]

        def started(_info: dict[str, Any]) -> None:
            if stream:
                self._start_stream()
                delta = {"role": "assistant", "content": ""}
                self._event(openai_shapes.chat_chunk(rid, created, model_id, delta))

        def delta(text: str) -> None:
            if not self._gone:
                self._event(openai_shapes.chat_chunk(rid, created, model_id, {"content": text}))

        def reset() -> None:  # JSON mode retried on transformers: clients cannot un-receive
            pass

        result = generate(
            self.server.services,
            model_id=model_id,
            messages=request["messages"],
            params=request["params"],
            on_delta=delta if stream else None,
            on_start=started,
            on_reset=reset,
            cancelled=self._cancelled,
        )
        self._outcome = {"model": model_id, "finish_reason": result["finish_reason"]}
        if self._gone:
            return
        if not stream:
            self._send_json(200, openai_shapes.chat_response(rid, model_id, result))
            return
        reason = openai_shapes.finish_reason(result["finish_reason"])
        self._event(openai_shapes.chat_chunk(rid, created, model_id, {}, reason))
        if request["include_usage"]:
            self._event(
                openai_shapes.usage_chunk(rid, created, model_id, "chat.completion.chunk", result)
            )
        self._end_stream()

    def _completions(self) -> None:
        request = openai_shapes.parse_completion(self._read_json())
        model_id = models.chat_model(self.server.services, request["model"])
        rid, created = openai_shapes.new_id("cmpl"), int(time.time())
        stream, prompt = request["stream"], request["prompt"]

        def started(_info: dict[str, Any]) -> None:
            if stream:
                self._start_stream()
                if request["echo"]:
                    self._event(openai_shapes.completion_chunk(rid, created, model_id, prompt))

        def delta(text: str) -> None:
            if not self._gone:
                self._event(openai_shapes.completion_chunk(rid, created, model_id, text))

        result = completions.complete(
            self.server.services,
            model_id=model_id,
            prompt=prompt,
            params=request["params"],
            on_delta=delta if stream else None,
            on_start=started,
            cancelled=self._cancelled,
        )
        self._outcome = {"model": model_id, "finish_reason": result["finish_reason"]}
        if self._gone:
            return
        if not stream:
            text = (prompt if request["echo"] else "") + result["text"]
            self._send_json(200, openai_shapes.completion_response(rid, model_id, text, result))
            return
        reason = openai_shapes.finish_reason(result["finish_reason"])
        self._event(openai_shapes.completion_chunk(rid, created, model_id, "", reason))
        if request["include_usage"]:
            self._event(
                openai_shapes.usage_chunk(rid, created, model_id, "text_completion", result)
            )
        self._end_stream()

    def _embeddings(self) -> None:
        request = openai_shapes.parse_embeddings(self._read_json())
        model = models.embedding_model(self.server.services, request["model"])
        vectors, tokens, dim = embeddings.embed(model, request["texts"])
        if request["dimensions"] not in (None, dim):
            raise openai_shapes.bad_request(
                f"{model['name']} makes {dim}-dimensional vectors; it cannot shorten them to "
                f"{request['dimensions']}.",
                "dimensions",
            )
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": embeddings.encode_vector(v, as_base64=request["base64"]),
            }
            for i, v in enumerate(vectors)
        ]
        self._outcome = {"model": model["id"]}
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": model["id"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


def _peer_closed(sock: socket.socket) -> bool:
    """True when the peer closed its end: the socket is readable and a peek reads nothing."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | getattr(socket, "MSG_DONTWAIT", 0)) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):
        return True


def _user_error_code(exc: UserError) -> str | None:
    return "context_length_exceeded" if "context" in exc.message.lower() else None
