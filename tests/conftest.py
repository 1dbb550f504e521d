"""Shared fixtures: every test gets its own data root, and nothing may reach the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def hearth_home(tmp_path, monkeypatch) -> Path:
    """A fresh data root, with the test job kinds visible to the engine and its workers."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HEARTH_HOME", str(home))
    monkeypatch.setenv("HEARTH_EXTRA_JOB_MODULES", "tests.engine.jobkinds")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    return home
