"""Fixtures for the Training panel tests: a shown ``TrainingPanel`` on the fake engine (see
fake_train.py for its runs and options), and helpers for what a user waits for."""

from __future__ import annotations

import pytest

from desktop.panels.training.panel import TrainingPanel


@pytest.fixture
def panel(qtbot, make_client):
    client = make_client()
    widget = TrainingPanel(client)
    qtbot.addWidget(widget)
    widget.resize(1200, 760)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.runs_model.rowCount() >= 3, timeout=5000)
    qtbot.waitUntil(lambda: bool(widget.new_run.form.editors), timeout=5000)
    qtbot.waitUntil(lambda: widget.new_run.dataset_combo.count() > 0, timeout=5000)
    return widget


def requests(qtbot, client, method: str | None = None) -> list[dict]:
    """The train.* requests the fake engine answered so far (of ``method`` only, if given)."""
    got: dict = {}
    client.call("fake.train_requests").on_success(got.update)
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    return [r for r in got["requests"] if method is None or r["method"] == method]


def select(qtbot, panel, run_id: str) -> None:
    panel.select_run(run_id)
    qtbot.waitUntil(lambda: (panel.run_view.run or {}).get("id") == run_id, timeout=5000)
