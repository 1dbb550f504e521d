"""Driving the JSON-RPC dispatcher in-process for chat tests (no Qt, no subprocess)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from engine.rpc.server import Dispatcher


class Client:
    """Sends requests to a ``Dispatcher`` and collects responses and notifications."""

    def __init__(self, services: Any) -> None:
        self.responses: dict[Any, dict] = {}
        self.notes: list[dict] = []
        self._cond = threading.Condition()
        self.dispatcher = Dispatcher(services, self._write)
        self._n = 0

    def _write(self, data: bytes) -> None:
        msg = json.loads(data)
        with self._cond:
            if "method" in msg:
                self.notes.append(msg)
            else:
                self.responses[msg["id"]] = msg
            self._cond.notify_all()

    def send(self, method: str, params: dict | None = None) -> str:
        self._n += 1
        rid = f"r{self._n}"
        self.dispatcher.handle_line(
            json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}})
        )
        return rid

    def cancel(self, rid: str) -> None:
        self.dispatcher.handle_line(
            json.dumps({"jsonrpc": "2.0", "method": "$/cancel", "params": {"id": rid}})
        )

    def wait(self, rid: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while rid not in self.responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no response to {rid}")
                self._cond.wait(left)
            return self.responses[rid]

    def wait_for(self, predicate, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("condition not reached")
                self._cond.wait(left)

    def call(self, method: str, params: dict | None = None, timeout: float = 60.0) -> Any:
        reply = self.wait(self.send(method, params), timeout)
        if "error" in reply:
            raise AssertionError(f"{method} failed: {reply['error']}")
        return reply["result"]

    def error(self, method: str, params: dict | None = None) -> dict:
        reply = self.wait(self.send(method, params))
        assert "error" in reply, reply
        return reply["error"]

    def deltas(self, rid: str) -> list[dict]:
        with self._cond:
            return [
                n["params"]
                for n in self.notes
                if n["method"] == "chat.delta" and n["params"]["id"] == rid
            ]

    def close(self) -> None:
        self.dispatcher.close()


def call(client: Client, method: str, params: dict | None = None, timeout: float = 240) -> dict:
    """Send a request and wait for its response."""
    return client.wait(client.send(method, params or {}), timeout=timeout)


def finished(client: Client, response: dict, timeout: float = 230) -> Any:
    """The result of the job a method started (``{"job": ...}``), which must succeed."""
    assert "result" in response, response
    job = response["result"]["job"]
    done = call(client, "jobs.wait", {"id": job["id"], "timeout_s": timeout})["result"]
    assert done["state"] == "succeeded", done
    return done["result"]
