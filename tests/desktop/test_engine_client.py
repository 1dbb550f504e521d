"""EngineClient against the fake engine: calls, notifications, cancel, garbage, crash, hang, restart."""

from __future__ import annotations

import pytest

from desktop.engine_client import EngineState
from desktop.errors import (
    CancelledError,
    EngineCrashedError,
    EngineHungError,
    EngineUnavailableError,
    UserFacingError,
)


def wait_call(qtbot, call, timeout=10000):
    """Wait for a Call to end; returns ('ok', result) or ('error', exception)."""
    out = {}
    call.on_success(lambda r: out.setdefault("ok", r)).on_failure(
        lambda e: out.setdefault("error", e)
    )
    qtbot.waitUntil(lambda: bool(out), timeout=timeout)
    return next(iter(out.items()))


def test_handshake_and_call(qtbot, make_client):
    client = make_client()
    assert client.state == EngineState.READY
    assert client.init_reply["devices"][0]["name"] == "Fake CPU"
    kind, result = wait_call(qtbot, client.call("models.list"))
    assert kind == "ok" and [m["id"] for m in result["models"]] == ["gemma-1", "gone-2"]


def test_user_error_is_typed(qtbot, make_client):
    client = make_client()
    kind, error = wait_call(qtbot, client.call("fail"))
    assert kind == "error" and isinstance(error, UserFacingError) and "fixable" in error.message


def test_notifications_stream_to_the_call(qtbot, make_client):
    client = make_client()
    ticks = []
    call = client.call("slow", {"steps": 5}).on_progress(lambda p: ticks.append(p["i"]))
    kind, result = wait_call(qtbot, call)
    assert kind == "ok" and result == {"done": 5}
    assert ticks == [0, 1, 2, 3, 4]


def test_job_notifications_become_signals(qtbot, make_client):
    client = make_client()
    seen = []
    client.sig_job_progress.connect(lambda p: seen.append(p["kind"]))
    wait_call(qtbot, client.call("emit_job"))
    assert seen == ["begin", "report", "end"]


def test_job_handle_replays_what_came_before_the_start_answer(qtbot, make_client):
    client = make_client()
    handle = client.start_job("fake.job_ending_first")
    seen: list = []
    handle.sig_progress.connect(lambda p: seen.append(("progress", p["kind"], p["job_id"])))
    handle.sig_metrics.connect(lambda p: seen.append(("metrics", p["values"]["loss"])))
    with qtbot.waitSignal(handle.sig_finished, timeout=5000) as done:
        pass
    assert done.args == [{"answer": 42}]
    assert seen == [("progress", "begin", handle.job_id), ("metrics", 1.5),
                    ("progress", "report", handle.job_id)]  # fmt: skip
    assert handle.done and handle.state == "succeeded" and not client._jobs


def test_job_handle_reports_a_failed_job_and_a_refused_start(qtbot, make_client):
    from desktop.engine_client import JobFailure

    client = make_client()
    handle = client.start_job("fake.job_ending_first", {"state": "failed"})
    with qtbot.waitSignal(handle.sig_failed, timeout=5000) as failed:
        pass
    assert isinstance(failed.args[0], JobFailure) and failed.args[0].message == "it broke"
    refused = client.start_job("no.such_method")
    with qtbot.waitSignal(refused.sig_failed, timeout=5000) as failed:
        pass
    assert failed.args[0].code == -32601 and refused.job_id is None


def test_cancel_gives_partial_data(qtbot, make_client):
    client = make_client()
    call = client.call("slow", {"steps": 500})
    partial = []
    call.sig_partial.connect(partial.append)
    qtbot.waitUntil(lambda: True, timeout=100)
    qtbot.wait(100)
    call.cancel()
    kind, error = wait_call(qtbot, call)
    assert kind == "error" and isinstance(error, CancelledError)
    assert 0 < error.data["done"] < 500 and partial == [error.data]


def test_garbage_on_stdout_is_ignored(qtbot, make_client):
    client = make_client("garbage")
    for _ in range(3):
        kind, result = wait_call(qtbot, client.call("models.list"))
        assert kind == "ok" and len(result["models"]) == 2
    assert client.garbage_lines >= 3
    assert "native library noise" in client.log_tail()


def test_crash_fails_pending_call_and_restarts(qtbot, make_client, tmp_path):
    crash_file = tmp_path / "crash.txt"
    crash_file.write_text("Fatal Python error: Segmentation fault\n  File engine/x.py, line 1")
    client = make_client(env={"FAKE_CRASH_FILE": str(crash_file)})
    crashes = []
    client.sig_crashed.connect(lambda tail, text: crashes.append((tail, text)))
    pending = client.call("slow", {"steps": 500})
    with qtbot.waitSignal(client.sig_ready, timeout=15000):
        client.call("die")
    assert isinstance(pending.error, EngineCrashedError)
    tail, text = crashes[0]
    assert "dying on purpose" in tail and "Segmentation fault" in text
    assert client.state == EngineState.READY
    kind, _ = wait_call(qtbot, client.call("ping"))
    assert kind == "ok"


def test_hang_is_detected_by_heartbeat(qtbot, make_client):
    client = make_client("hang")
    pending = client.call("models.list")
    with qtbot.waitSignal(client.sig_crashed, timeout=15000):
        pass
    qtbot.waitUntil(lambda: pending.done, timeout=5000)
    assert isinstance(pending.error, EngineHungError)


def test_restart_limit_then_failed_and_manual_restart(qtbot, make_client):
    client = make_client("exit_at_start", start=False, max_restarts=2)
    failures = []
    client.sig_failed.connect(failures.append)
    client.start()
    qtbot.waitUntil(lambda: client.state == EngineState.FAILED, timeout=20000)
    assert "stopped restarting" in failures[0]
    assert "refuses to start" in client.log_tail()
    kind, error = wait_call(qtbot, client.call("ping"))
    assert kind == "error" and isinstance(error, EngineUnavailableError)


def test_protocol_mismatch_is_a_clear_failure(qtbot, make_client):
    client = make_client("bad_protocol", start=False)
    with qtbot.waitSignal(client.sig_failed, timeout=15000) as blocker:
        client.start()
    assert "protocol 999" in blocker.args[0] and "reinstall" in blocker.args[0]
    assert client.state == EngineState.FAILED


@pytest.mark.parametrize("method", ["models.list", "ping"])
def test_calls_before_handshake_are_queued(qtbot, make_client, method):
    client = make_client(start=False)
    client.start()
    kind, _ = wait_call(qtbot, client.call(method))  # sent before initialize was answered
    assert kind == "ok"
