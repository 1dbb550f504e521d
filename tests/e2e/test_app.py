"""The whole app as an installer or a user starts it: ``hearth --smoke-test`` on the real engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_smoke_test_starts_window_and_engine(hearth_home):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HEARTH_SKIP_BUNDLED="1")
    out = subprocess.run(
        [sys.executable, "-m", "desktop", "--smoke-test"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, out.stdout
    report = json.loads(lines[0])
    assert report["ok"] is True and report["window_visible"] is True
    init = report["initialize"]
    assert init["protocol_version"] == 1 and init["data_root"] == str(hearth_home)
    assert any(d["type"] == "cpu" for d in init["devices"])
    assert init["pid"] != os.getpid()


def test_smoke_test_fails_cleanly_when_the_engine_cannot_start(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HEARTH_HOME=str(blocker / "sub"))
    out = subprocess.run(
        [sys.executable, "-m", "desktop", "--smoke-test"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert out.returncode == 1
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["ok"] is False and report["error"]
