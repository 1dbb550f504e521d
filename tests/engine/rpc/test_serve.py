"""``hearth-engine serve`` as a real subprocess: the wire stays clean, EOF exits, bad lines survive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest


@pytest.fixture
def engine(hearth_home, monkeypatch):
    monkeypatch.setenv("HEARTH_SKIP_BUNDLED", "1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )

    def send(obj) -> None:
        line = obj if isinstance(obj, str) else json.dumps(obj)
        proc.stdin.write(line.encode() + b"\n")
        proc.stdin.flush()

    def read(request_id, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"engine closed stdout; stderr: {proc.stderr.read().decode()[-2000:]}"
            msg = json.loads(line)  # every line on stdout must be JSON
            if msg.get("id") == request_id and "method" not in msg:
                return msg
        raise AssertionError("no response")

    yield proc, send, read
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_initialize_ping_shutdown(engine):
    proc, send, read = engine
    t0 = time.monotonic()
    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocol_version": 1}})
    reply = read(1)["result"]
    assert reply["pid"] == proc.pid and os.path.isfile(reply["log_file"])
    assert time.monotonic() - t0 < 20
    send({"jsonrpc": "2.0", "id": 2, "method": "ping"})
    assert read(2)["result"]["pong"]
    send({"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
    assert read(3)["result"] is None
    assert proc.wait(20) == 0


def test_native_prints_do_not_reach_the_wire(engine):
    proc, send, read = engine
    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocol_version": 1}})
    read(1)
    send(
        {"jsonrpc": "2.0", "id": 2, "method": "jobs.start", "params": {"kind": "test.native_print"}}
    )
    job = read(2)["result"]["job"]
    send({"jsonrpc": "2.0", "id": 3, "method": "jobs.wait", "params": {"id": job["id"]}})
    assert (
        read(3)["result"]["state"] == "succeeded"
    )  # read() json-parses every stdout line meanwhile
    send({"jsonrpc": "2.0", "id": 4, "method": "shutdown"})
    read(4)
    proc.wait(20)
    assert "raw bytes on fd 1" in proc.stderr.read().decode()


def test_malformed_line_then_more_requests(engine):
    proc, send, read = engine
    send("this is { not json")
    line = json.loads(proc.stdout.readline())
    assert line["error"]["code"] == -32700 and line["id"] is None
    send({"jsonrpc": "2.0", "id": 5, "method": "ping"})
    assert read(5)["result"]["pong"]


def test_exits_cleanly_when_stdin_closes(engine):
    proc, send, read = engine
    send({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    read(1)
    proc.stdin.close()
    assert proc.wait(20) == 0


def test_unwritable_home_is_one_clear_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    env = dict(os.environ, HEARTH_HOME=str(blocker / "home"))
    out = subprocess.run(
        [sys.executable, "-m", "engine", "serve"],
        input=b"",
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 2
    err = out.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "HEARTH_HOME" in err[0] and "Traceback" not in out.stderr.decode()


LIGHT_START = """
import json, sys
from engine.rpc.server import Dispatcher
from engine.services import Services
out = []
d = Dispatcher(Services(), out.append)
d.handle_line('{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocol_version": 1}}')
import time
while not out:
    time.sleep(0.01)
heavy = sorted(m for m in ("torch", "transformers", "llama_cpp", "peft", "qdrant_client", "qdrant_edge", "numpy") if m in sys.modules)
print(json.dumps(heavy))
d.close()
"""


def test_start_and_initialize_import_no_heavy_library(hearth_home):
    out = subprocess.run(
        [sys.executable, "-c", LIGHT_START],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
