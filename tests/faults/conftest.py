"""Fault injection: a real engine process (``python -m engine serve``) killed with SIGKILL at a
random point of its work, then the invariants checked on a fresh start of the same data root.

Trials are bounded (``HEARTH_FAULT_TRIALS``, default 2 per test) and their kill points drawn from
a seeded generator (``HEARTH_FAULT_SEED``), so a failure names the trial and seed that reproduce it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.engine.training.conftest import memo, services, tiny_folder, tiny_id  # noqa: F401


def trials() -> list[tuple[int, random.Random]]:
    """``(trial, rng)`` pairs: each trial's own generator, seeded from the run's seed."""
    count = int(os.environ.get("HEARTH_FAULT_TRIALS", "2"))
    seed = int(os.environ.get("HEARTH_FAULT_SEED", "1234"))
    return [(t, random.Random(seed * 1000 + t)) for t in range(count)]


class Engine:
    """``python -m engine serve`` on the test's data root, spoken to line by line."""

    def __init__(self) -> None:
        env = dict(os.environ, HEARTH_SKIP_BUNDLED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "engine", "serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env)  # fmt: skip
        self.next_id = 0
        self.notes: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any], timeout: float = 60.0) -> Any:
        request_id = self.send(method, params)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            msg = self.read()
            if msg.get("id") == request_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg["result"]
            self.notes.append(msg)
        raise AssertionError(f"no answer to {method} in {timeout} s")

    def send(self, method: str, params: dict[str, Any]) -> int:
        """Send a request without waiting for its answer; returns its id."""
        self.next_id += 1
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        return self.next_id

    def read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("the engine ended")
        return json.loads(line)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def gemma_id(services, hearth_home, tmp_path_factory) -> str:  # noqa: F811
    """The bundled Gemma, linked into the data root (not unpacked again)."""
    from tests.engine.runtimes.fixtures import bundled_home

    bundled_home(hearth_home)
    return next(m["id"] for m in services.library.ensure_bundled() if m["role"] == "llm")


@pytest.fixture
def engine_factory():
    made: list[Engine] = []

    def make() -> Engine:
        made.append(Engine())
        return made[-1]

    yield make
    for e in made:
        e.close()


def wait_for(predicate, timeout: float, what: str, poll: float = 0.1) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")
