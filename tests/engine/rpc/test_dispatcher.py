"""The JSON-RPC dispatcher driven in-process, without Qt or a subprocess."""

from __future__ import annotations

import json
import queue
import threading
import time

import pytest

from engine.rpc.server import Dispatcher
from engine.services import Services


class Wire:
    """Captures what the dispatcher writes: responses by id, notifications in order."""

    def __init__(self) -> None:
        self.messages: queue.Queue[dict] = queue.Queue()
        self.seen_notifications: list[dict] = []

    def write(self, data: bytes) -> None:
        assert data.endswith(b"\n") and data.count(b"\n") == 1, "one JSON object per line"
        msg = json.loads(data)
        if "method" in msg:
            self.seen_notifications.append(msg)
        else:
            self.messages.put(msg)

    def response(self, request_id, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if msg.get("id") == request_id:
                return msg

    def notifications(self, method: str) -> list[dict]:
        return [m for m in self.seen_notifications if m["method"] == method]


@pytest.fixture
def rpc(hearth_home):
    services = Services()
    wire = Wire()
    dispatcher = Dispatcher(services, wire.write)

    def call(method, params=None, request_id=None):
        request_id = request_id if request_id is not None else f"r{time.monotonic_ns()}"
        dispatcher.handle_line(
            json.dumps(
                {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
            )
        )
        return request_id

    yield dispatcher, wire, call
    dispatcher.close()


def test_initialize_reports_versions_devices_and_methods(rpc):
    dispatcher, wire, call = rpc
    reply = wire.response(call("initialize", {"protocol_version": 1, "client": "test"}))["result"]
    assert reply["protocol_version"] == 1
    assert reply["engine_version"]
    assert any(d["type"] == "cpu" and d["memory_total_bytes"] > 0 for d in reply["devices"])
    assert reply["ram"]["total_bytes"] > 0
    assert "llama_cpp" in reply["runtimes"] and "torch" in reply["runtimes"]
    assert {"ping", "jobs.list", "models.list", "models.import"} <= set(reply["capabilities"])


def test_initialize_refuses_other_protocol_version(rpc):
    _, wire, call = rpc
    error = wire.response(call("initialize", {"protocol_version": 99}))["error"]
    assert error["code"] == -32001
    assert "protocol" in error["message"] and "reinstall" in error["message"]


def test_malformed_line_gets_parse_error_and_engine_keeps_working(rpc):
    dispatcher, wire, call = rpc
    dispatcher.handle_line(b"{this is not json\n")
    msg = wire.messages.get(timeout=5)
    assert msg["id"] is None and msg["error"]["code"] == -32700
    assert wire.response(call("ping"))["result"]["pong"] is True


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ('[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]', -32600),
        ('{"id": 7, "method": "ping"}', -32600),
        ('{"jsonrpc": "2.0", "id": 8, "method": 5}', -32600),
        ('{"jsonrpc": "2.0", "id": 9, "method": "ping", "params": [1, 2]}', -32602),
        ('{"jsonrpc": "2.0", "id": 10, "method": "no.such.method"}', -32601),
        ('{"jsonrpc": "2.0", "id": 11, "method": "jobs.get", "params": {}}', -32602),
        (
            '{"jsonrpc": "2.0", "id": 12, "method": "jobs.get", "params": {"id": "x", "bogus": 1}}',
            -32602,
        ),
        ('{"jsonrpc": "2.0", "id": 13, "method": "jobs.get", "params": {"id": 42}}', -32602),
        ('{"jsonrpc": "2.0", "id": 14, "method": "jobs.get", "params": {"id": "nope"}}', -32002),
    ],
)
def test_standard_error_codes(rpc, line, code):
    dispatcher, wire, _ = rpc
    dispatcher.handle_line(line)
    msg = wire.messages.get(timeout=5)
    assert msg["error"]["code"] == code, msg


def test_cancel_answers_32800_with_partial_result(rpc):
    dispatcher, wire, call = rpc
    job = wire.response(call("jobs.wait", {"id": "missing"}))
    assert job["error"]["code"] == -32002
    started = dispatcher.services.jobs.start("test.count", {"n": 200, "delay": 0.05})
    wait_id = call("jobs.wait", {"id": started["id"]})
    time.sleep(0.3)
    dispatcher.handle_line(
        json.dumps({"jsonrpc": "2.0", "method": "$/cancel", "params": {"id": wait_id}})
    )
    reply = wire.response(wait_id)
    assert reply["error"]["code"] == -32800
    assert reply["error"]["data"]["id"] == started["id"]  # the partial result: the job so far
    assert reply["error"]["data"]["state"] == "running"


def test_ping_answers_while_every_worker_is_busy(hearth_home):
    services = Services()
    wire = Wire()
    dispatcher = Dispatcher(services, wire.write, max_workers=1)
    try:
        job = services.jobs.start("test.count", {"n": 100, "delay": 0.05})
        dispatcher.handle_line(
            json.dumps(
                {"jsonrpc": "2.0", "id": "w", "method": "jobs.wait", "params": {"id": job["id"]}}
            )
        )
        time.sleep(0.2)  # the only worker thread is now blocked in jobs.wait
        t0 = time.monotonic()
        dispatcher.handle_line('{"jsonrpc": "2.0", "id": "p", "method": "ping"}')
        assert wire.response("p", timeout=2)["result"]["pong"]
        assert time.monotonic() - t0 < 1.0
        dispatcher.handle_line(
            json.dumps({"jsonrpc": "2.0", "method": "$/cancel", "params": {"id": "w"}})
        )
        assert wire.response("w")["error"]["code"] == -32800
    finally:
        dispatcher.close()


def test_job_notifications_reach_the_client(rpc):
    dispatcher, wire, call = rpc
    started = wire.response(
        call(
            "jobs.wait",
            {"id": dispatcher.services.jobs.start("test.count", {"n": 5, "delay": 0.01})["id"]},
        )
    )
    assert started["result"]["state"] == "succeeded"
    progress = wire.notifications("job.progress")
    kinds = [n["params"]["kind"] for n in progress]
    assert kinds[0] == "begin" and kinds[-1] == "end"
    assert progress[-1]["params"]["state"] == "succeeded"


def test_shutdown_answers_then_stops(rpc):
    dispatcher, wire, call = rpc
    assert wire.response(call("shutdown"))["result"] is None
    assert dispatcher.stopping.is_set()


def test_concurrent_requests_each_get_exactly_one_response(rpc):
    dispatcher, wire, call = rpc
    ids = [f"c{i}" for i in range(30)]
    threads = [threading.Thread(target=call, args=("jobs.list", {"limit": 5}, i)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seen = {}
    deadline = time.monotonic() + 10
    while len(seen) < len(ids) and time.monotonic() < deadline:
        msg = wire.messages.get(timeout=5)
        if "id" in msg:
            seen[msg["id"]] = seen.get(msg["id"], 0) + 1
    assert seen == dict.fromkeys(ids, 1)
