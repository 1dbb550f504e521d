"""The whole app as an installer or a user starts it: ``hearth --smoke-test`` on the real engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def smoke(env: dict[str, str], *, args: list[str] = (), timeout: int = 300) -> tuple[subprocess.CompletedProcess, dict]:  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "desktop", "--smoke-test", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen", **env),
        timeout=timeout,
    )
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, (out.stdout, out.stderr[-3000:])
    return out, json.loads(lines[0])


def test_smoke_test_streams_ingests_and_searches_on_a_fresh_data_folder(hearth_home):
    """An empty data folder: the bundled models are unpacked, the bundled Gemma answers, the
    bundled embedder indexes a text in a worker process, and the search finds it."""
    out, report = smoke({"HEARTH_HOME": str(hearth_home)})
    assert out.returncode == 0, (report, out.stderr[-3000:])
    assert report["ok"] is True and report["window_visible"] is True
    assert report["frozen"] is False and report["tokens"] >= 1 and report["hits"] >= 1
    for key in ("window_s", "handshake_s", "first_token_s", "ingest_s", "search_s"):
        assert isinstance(report[key], float) and report[key] > 0, key
    assert report["window_s"] < report["handshake_s"]
    init = report["initialize"]
    assert init["protocol_version"] == 1 and init["data_root"] == str(hearth_home)
    assert any(d["type"] == "cpu" for d in init["devices"])
    assert init["pid"] != os.getpid()
    assert not any((hearth_home / "collections").iterdir())  # its collection deleted again


def test_an_unwritable_data_folder_is_said_and_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    written = tmp_path / "report.json"  # where a windowed program, with no stdout, reports
    out, report = smoke({"HEARTH_HOME": str(blocker / "sub")}, args=["--smoke-report", str(written)], timeout=120)  # fmt: skip
    assert json.loads(written.read_text()) == report
    assert out.returncode == 2
    assert report["ok"] is False and report["step"] == "data folder"
    assert f"cannot write to its data folder {blocker / 'sub'}" in report["error"]
    assert "HEARTH_HOME" in report["error"]


def test_smoke_test_fails_cleanly_when_the_engine_cannot_start(hearth_home):
    out, report = smoke({"HEARTH_HOME": str(hearth_home)}, args=["--engine-command", "false"])
    assert out.returncode == 1
    assert report["ok"] is False and report["step"] == "handshake" and "engine" in report["error"]


def test_a_second_start_on_the_same_data_folder_defers_to_the_first(hearth_home):
    """The first Hearth keeps the folder; a second start brings the first window forward and
    exits 0 (a smoke test says why it stops, exit 1); never a second engine on the folder."""
    import time

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HEARTH_HOME=str(hearth_home), HEARTH_SKIP_BUNDLED="1")  # fmt: skip
    first = subprocess.Popen([sys.executable, "-m", "desktop"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (hearth_home / "engine.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (hearth_home / "app.lock").exists() and (hearth_home / "engine.lock").exists()
        out, report = smoke({"HEARTH_HOME": str(hearth_home)}, timeout=60)
        assert out.returncode == 1 and report["step"] == "single instance"
        assert f"already running with the data folder {hearth_home}" in report["error"]
        second = subprocess.run([sys.executable, "-m", "desktop"], env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert second.returncode == 0 and "brought its window to the front" in second.stderr
        assert first.poll() is None  # the first one runs on
    finally:
        first.terminate()
        first.wait(timeout=30)


def test_one_serving_engine_per_data_folder(hearth_home):
    import time

    import pytest

    from engine.core import serve_lock
    from engine.core.errors import UserError

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from engine.core import serve_lock; "
         "held = serve_lock.acquire(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)", str(hearth_home)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(UserError, match=f"pid {holder.pid}.*already serving the data folder"):
            serve_lock.acquire(hearth_home, wait_s=0.5)
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
    serve_lock.acquire(hearth_home, wait_s=5).close()  # a killed holder leaves no stale lock
