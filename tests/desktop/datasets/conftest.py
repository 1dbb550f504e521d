"""Fixtures for the Datasets panel tests: a shown ``DatasetsPanel`` on the fake engine (see
fake_data.py for its datasets), and helpers that wait for what a user would wait for."""

from __future__ import annotations

import pytest

from desktop.panels.datasets.panel import DatasetsPanel


@pytest.fixture
def panel(qtbot, make_client):
    client = make_client()
    widget = DatasetsPanel(client)
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.show()
    qtbot.waitExposed(widget)
    widget.refresh()
    qtbot.waitUntil(lambda: widget.list_model.rowCount() >= 3, timeout=5000)
    return widget


def select(qtbot, panel, name: str) -> None:
    """Select a dataset by name and wait for its first rows."""
    row = panel.list_model.names().index(name)
    panel.list_view.selectRow(row)
    qtbot.waitUntil(
        lambda: bool(panel.dataset and panel.dataset["name"] == name and shown_rows(panel)),
        timeout=5000,
    )


def shown_rows(panel) -> list[str]:
    """The first column of text of every loaded row (instruction, prompt, messages…)."""
    model = panel.rows_model
    out = []
    for row in range(min(model.rowCount(), 200)):
        record = model.record_at(row)
        if record is not None:
            out.append(model.index(row, 1).data())
    return out


def requests(qtbot, client) -> list[dict]:
    """The data.rows calls the fake engine answered so far."""
    got = {}
    client.call("fake.data_requests").on_success(lambda r: got.update(r))
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    return got["requests"]
