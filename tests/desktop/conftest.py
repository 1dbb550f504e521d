"""Fixtures for GUI tests: an EngineClient on the fake engine or on the real one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FAKE = str(Path(__file__).with_name("fake_engine.py"))


@pytest.fixture
def make_client(qtbot, hearth_home):
    """Build an EngineClient; ``mode`` picks the fake engine's behaviour, ``real=True`` the real engine."""
    from desktop.engine_client import EngineClient

    made = []

    def make(mode: str = "normal", *, real: bool = False, start: bool = True, **kwargs):
        env = {"FAKE_ENGINE_MODE": mode, "HEARTH_SKIP_BUNDLED": "1", **kwargs.pop("env", {})}
        command = None if real else [sys.executable, FAKE]
        options = {
            "heartbeat_interval_ms": 200,
            "heartbeat_timeout_ms": 1500,
            "backoff_s": (0.1, 0.2, 0.4),
        }
        options.update(kwargs)
        client = EngineClient(command=command, env=env, **options)
        made.append(client)
        if start:
            with qtbot.waitSignal(client.sig_ready, timeout=30000):
                client.start()
        return client

    yield make
    for client in made:
        client.stop(2000)
