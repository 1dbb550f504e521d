"""Servers the remote runtime is tested against, all on 127.0.0.1:

- ``llama_cpp_server(gguf, key)``: llama-cpp-python's own OpenAI-compatible server
  (``python -m llama_cpp.server``) in a subprocess, serving the bundled Gemma.
- ``Scripted``: a small HTTP server that answers each request with what the test scripted -- a
  401, a 429, an HTML page, an empty model list, a stream that stops half-way, or silence -- the
  failures a real server shows only by chance. It counts the requests that reached it.
- ``MemoryKeyring``: a keyring backend that keeps passwords in this process only.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    def __init__(self, gguf: Path, key: str, *, threads: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = key
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
               "--port", str(self.port), "--api_key", key, "--n_threads", str(threads), "--n_ctx", "2048",
               "--chat_format", "gemma"]  # fmt: skip
        # llama.cpp logs a lot: a pipe nobody reads would fill and stall the server
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"llama_cpp.server exited: {self._log.read().decode()[-2000:]}")
            try:
                ok = httpx.get(self.url + "/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=2)  # fmt: skip
                if ok.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("llama_cpp.server did not start within 120 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


Script = Callable[[BaseHTTPRequestHandler], None]


class Scripted:
    """``routes[(method, path)] = fn(handler)``; unknown routes answer 404."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Script] = {}
        self.hits: list[tuple[str, str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                self.body = body
                outer.hits.append((method, self.path, dict(self.headers), body))
                route = outer.routes.get((method, self.path))
                if route is None:
                    send_json(self, 404, {"error": {"message": "no such route"}})
                else:
                    route(self)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def chat_hits(self) -> int:
        return sum(1 for m, p, *_ in self.hits if p.endswith("/chat/completions"))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def send_json(h: BaseHTTPRequestHandler, code: int, body: Any, headers: dict[str, str] | None = None) -> None:  # fmt: skip
    data = json.dumps(body).encode()
    h.send_response(code)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)


def models_route(ids: list[str]) -> Script:
    return lambda h: send_json(h, 200, {"object": "list", "data": [{"id": i, "object": "model"} for i in ids]})  # fmt: skip


def stream_route(pieces: list[str], *, finish: bool = True, delay_s: float = 0.0) -> Script:
    """A chat stream of ``pieces``; ``finish=False`` drops the connection after them."""

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        for piece in pieces:
            event = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            h.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            h.wfile.flush()
            time.sleep(delay_s)
        if finish:
            done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            h.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
            h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)

    return route


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def delete_password(self, service: str, username: str) -> None:
        if self.store.pop((service, username), None) is None:
            raise PasswordDeleteError("not set")


def files_containing(root: Path, needle: bytes) -> list[str]:
    """Every file under ``root`` (the database, its WAL, logs...) whose bytes contain ``needle``."""
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            try:
                if needle in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found
