"""Chat panel presets and the Local API bar, on the fake engine with ``chat.presets.*``/``api.*``
(tests/desktop/chat/fake_engine_presets.py): pick and use a preset, the SQLite file picker, the
SQL result table under the reply, the review verdict, the injection test dialog, the API toggle."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QInputDialog, QMessageBox

from desktop.panels.chat import preset_pane
from desktop.panels.chat.panel import ChatPanel
from tests.desktop.chat.conftest import send_and_wait

FAKE = str(Path(__file__).with_name("fake_engine_presets.py"))


@pytest.fixture
def panel(qtbot, hearth_home):
    from desktop.engine_client import EngineClient

    client = EngineClient(
        command=[sys.executable, FAKE],
        env={"FAKE_ENGINE_MODE": "normal", "HEARTH_SKIP_BUNDLED": "1"},
        heartbeat_interval_ms=200,
        heartbeat_timeout_ms=3000,
    )
    with qtbot.waitSignal(client.sig_ready, timeout=30000):
        client.start()
    widget = ChatPanel(client)
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.presets.combo.count() == 4, timeout=5000)
    yield widget
    client.stop(2000)


def use_preset(qtbot, panel, name: str) -> None:
    combo = panel.presets.combo
    combo.setCurrentIndex(combo.findText(name))
    panel.presets.use_button.click()
    qtbot.waitUntil(lambda: (panel.preset_sync.binding or {}).get("name") == name, timeout=5000)


def make_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
    conn.commit()
    conn.close()
    return path


def test_sql_preset_file_picker_and_result_table(qtbot, panel, monkeypatch, tmp_path):
    db = make_db(tmp_path / "shop.db")
    not_db = tmp_path / "notes.db"
    not_db.write_text("just text")
    use_preset(qtbot, panel, "SQL from questions")
    assert "Database schema" in panel.settings.system_prompt_text()
    assert panel.settings.spins["temperature"].value() == pytest.approx(0.1)
    assert panel.presets.kind_pages["sql"].isVisible()
    assert not panel.presets.kind_pages["moderated"].isVisible()

    monkeypatch.setattr(preset_pane, "choose_database", lambda *_a: str(not_db))
    panel.presets.db_button.click()
    qtbot.waitUntil(lambda: "not a SQLite database" in panel.message.text(), timeout=5000)

    monkeypatch.setattr(preset_pane, "choose_database", lambda *_a: str(db))
    panel.presets.db_button.click()
    qtbot.waitUntil(
        lambda: (panel.preset_sync.binding or {}).get("options", {}).get("database") == str(db),
        timeout=5000,
    )
    assert "CREATE TABLE orders" in panel.settings.system_prompt_text()
    assert "Tables: orders" in panel.presets.schema_label.text()
    assert panel.presets.db_label.text() == "Database: shop.db"

    with qtbot.waitSignal(panel.sig_preset_done, timeout=10000) as done:
        send_and_wait(qtbot, panel, "What did each customer spend?")
    assert done.args[0]["outcome"]["row_count"] == 3
    view = panel.view.views[-1]
    qtbot.waitUntil(lambda: view.outcome.isVisible(), timeout=5000)
    assert view.outcome.title.text() == "Result: 3 rows"
    assert view.outcome.sql_label.text().startswith("SELECT name, total FROM orders")
    model = view.outcome.model
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())] == [
        "name",
        "total",
    ]
    assert model.data(model.index(0, 0)) == "Ada" and model.data(model.index(2, 1)) == "NULL"
    assert "returned 3 row(s)" in panel.stats_label.text()


def test_moderated_reply_shows_the_verdict(qtbot, panel):
    use_preset(qtbot, panel, "Moderated reply")
    assert panel.presets.policy.toPlainText() == "Block harm. Pass the rest."
    with qtbot.waitSignal(panel.sig_preset_done, timeout=10000):
        send_and_wait(qtbot, panel, "please block this")
    view = panel.view.views[-1]
    qtbot.waitUntil(lambda: "blocked" in view.body.toPlainText(), timeout=5000)
    assert view.outcome.title.text() == "Blocked by review"
    assert "fake reviewer says block" in view.outcome.note.text()
    view.outcome.draft_button.click()
    assert view.outcome.draft.isVisible() and "Hello!" in view.outcome.draft.toPlainText()

    with qtbot.waitSignal(panel.sig_preset_done, timeout=10000):
        send_and_wait(qtbot, panel, "a plain question")
    qtbot.waitUntil(
        lambda: panel.view.views[-1].outcome.title.text() == "Passed review", timeout=5000
    )


def test_conversations_remember_their_preset(qtbot, panel):
    use_preset(qtbot, panel, "Guarded assistant")
    first = panel.conversation["id"]
    assert "HEARTH-CANARY-0A1B2C3D" in panel.settings.system_prompt_text()
    panel.conversations.new_button.click()
    qtbot.waitUntil(lambda: panel.conversation["id"] != first, timeout=5000)
    qtbot.waitUntil(lambda: panel.preset_sync.binding is None, timeout=5000)
    assert panel.presets.in_use.isHidden()
    panel.conversations.select(first)
    qtbot.waitUntil(
        lambda: (panel.preset_sync.binding or {}).get("name") == "Guarded assistant", timeout=5000
    )
    assert panel.presets.selected_id() == "builtin-guarded"
    panel.presets.detach_button.click()
    qtbot.waitUntil(lambda: panel.preset_sync.binding is None, timeout=5000)


def test_injection_tests_dialog_reports_each_attempt(qtbot, panel):
    use_preset(qtbot, panel, "Guarded assistant")
    panel.presets.injection_button.click()
    dialog = panel.preset_sync.dialog
    with qtbot.waitSignal(dialog.sig_finished, timeout=10000) as finished:
        pass
    report = finished.args[0]
    assert report["request"]["conversation_id"] == panel.conversation["id"]
    assert (report["passed"], report["failed"]) == (2, 1)
    table = dialog.table
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == [
        "resisted",
        "FAILED",
        "resisted",
    ]
    assert "leaked the canary" in table.item(1, 3).text()
    assert "The model resisted 2 of 3 attempts" in dialog.summary.text()
    dialog.close()


def test_save_as_and_delete_a_preset(qtbot, panel, monkeypatch):
    panel.settings.system_prompt.setPlainText("Answer in French.")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("French", True))
    panel.presets.save_button.click()
    qtbot.waitUntil(lambda: panel.presets.combo.findText("French") > 0, timeout=5000)
    qtbot.waitUntil(lambda: panel.presets.selected_id() == "p-3", timeout=5000)
    assert panel.presets.delete_button.text() == "Delete"
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    panel.presets.delete_button.click()
    qtbot.waitUntil(lambda: panel.presets.combo.findText("French") < 0, timeout=5000)
    panel.presets.select("builtin-sql")
    assert panel.presets.delete_button.text() == "Reset"
    assert not panel.presets.delete_button.isEnabled()  # nothing to reset


def test_api_toggle_shows_url_and_token(qtbot, panel, monkeypatch):
    bar = panel.api_bar
    assert bar.isHidden()
    panel.api_bar.header_button.click()
    assert bar.isVisible()
    qtbot.waitUntil(lambda: bar.token.text() == "hearth-faketoken-1", timeout=5000)
    assert bar.url.text() == "" and not bar.toggle.isChecked()
    bar.port.setValue(9123)
    bar.toggle.click()
    qtbot.waitUntil(lambda: bar.url.text() == "http://127.0.0.1:9123/v1", timeout=5000)
    assert bar.toggle.isChecked() and bar.header_button.text() == "API: on"
    assert not bar.port.isEnabled()
    bar.copy_url.click()
    assert QGuiApplication.clipboard().text() == "http://127.0.0.1:9123/v1"
    bar.copy_token.click()
    assert QGuiApplication.clipboard().text() == "hearth-faketoken-1"

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    bar.new_token.click()
    qtbot.waitUntil(lambda: bar.token.text() == "hearth-faketoken-2", timeout=5000)
    bar.toggle.click()
    qtbot.waitUntil(lambda: not bar.toggle.isChecked() and bar.url.text() == "", timeout=5000)
    assert bar.header_button.text() == "API"

    bar.port.setValue(1)  # the fake engine refuses it, like a port in use
    bar.toggle.click()
    qtbot.waitUntil(lambda: "Cannot serve the API" in panel.message.text(), timeout=5000)
    assert not bar.toggle.isChecked() and bar.toggle.isEnabled()
