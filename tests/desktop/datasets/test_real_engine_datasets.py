"""The Datasets panel on the real engine: import a JSONL, see its rows, remove exact duplicates,
see the row count drop, and undo it."""

from __future__ import annotations

import json

from desktop.panels.datasets.panel import DatasetsPanel
from tests.desktop.datasets.conftest import shown_rows


def test_import_dedup_and_undo(qtbot, make_client, tmp_path):
    rows = [
        {"instruction": "Say hello", "input": "", "output": "Hello!"},
        {"instruction": "Add 2 and 3", "input": "", "output": "5"},
        {"instruction": "say   HELLO", "input": "", "output": "hello!"},  # same once normalised
        {"instruction": "Name a colour", "input": "", "output": "Blue"},
    ]
    path = tmp_path / "greetings.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    client = make_client(real=True)
    panel = DatasetsPanel(client)
    qtbot.addWidget(panel)
    panel.resize(1200, 700)
    panel.show()
    panel.refresh()

    panel.import_flow.start(str(path))
    qtbot.waitUntil(lambda: len(shown_rows(panel)) == 4, timeout=30000)
    assert panel.dataset["name"] == "greetings" and panel.dataset["format"] == "alpaca"
    assert shown_rows(panel) == ["Say hello", "Add 2 and 3", "say   HELLO", "Name a colour"]
    assert "Imported 4 rows" in panel.message.text()

    panel.actions.open_dedup()
    qtbot.waitUntil(lambda: type(panel.actions.dialog).__name__ == "DedupDialog", timeout=10000)
    dialog = panel.actions.dialog
    dialog.review.setChecked(False)  # exact dedup, straight away
    dialog.accept()
    qtbot.waitUntil(lambda: panel.rows_model.rowCount() == 3, timeout=30000)
    qtbot.waitUntil(lambda: len(shown_rows(panel)) == 3, timeout=5000)
    assert shown_rows(panel) == ["Say hello", "Add 2 and 3", "Name a colour"]
    qtbot.waitUntil(lambda: "4 → 3" in panel.message.text(), timeout=5000)
    qtbot.waitUntil(lambda: panel.dataset["versions"] == 2, timeout=5000)

    panel.undo_button.click()
    qtbot.waitUntil(lambda: len(shown_rows(panel)) == 4, timeout=10000)
    assert panel.dataset["version"] == 1 and panel.list_model.index(0, 1).data() == "4"
