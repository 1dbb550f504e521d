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
    out, report = smoke({"HEARTH_HOME": str(blocker / "sub")}, timeout=120)
    assert out.returncode == 2
    assert report["ok"] is False and report["step"] == "data folder"
    assert f"cannot write to its data folder {blocker / 'sub'}" in report["error"]
    assert "HEARTH_HOME" in report["error"]


def test_smoke_test_fails_cleanly_when_the_engine_cannot_start(hearth_home):
    out, report = smoke({"HEARTH_HOME": str(hearth_home)}, args=["--engine-command", "false"])
    assert out.returncode == 1
    assert report["ok"] is False and report["step"] == "handshake" and "engine" in report["error"]
