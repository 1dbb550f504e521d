"""The conversation list (new, rename, pin, search, delete), export, the context meter, and the
status bar's loaded-model line."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from desktop.main_window import MainWindow
from tests.desktop.chat.conftest import send_and_wait


def titles(panel) -> list[str]:
    model = panel.conversations.model
    return [model.conversation_at(r)["title"] for r in range(model.rowCount())]


def test_new_rename_pin_search_and_delete(qtbot, panel, monkeypatch):
    lst = panel.conversations
    send_and_wait(qtbot, panel, "alpha topic")
    alpha = panel.conversation["id"]
    lst.new_button.click()
    qtbot.waitUntil(lambda: panel.conversation and panel.conversation["id"] != alpha, timeout=5000)
    assert panel.thread_model.rowCount() == 0 and panel.title_label.text() == "New chat"
    send_and_wait(qtbot, panel, "beta subject")
    qtbot.waitUntil(lambda: titles(panel) == ["beta subject", "alpha topic"], timeout=5000)

    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Renamed beta", True))
    lst.rename_button.click()
    qtbot.waitUntil(lambda: titles(panel)[0] == "Renamed beta", timeout=5000)

    lst.select(alpha)
    qtbot.waitUntil(lambda: panel.conversation["id"] == alpha, timeout=5000)
    lst.pin_button.click()
    qtbot.waitUntil(lambda: lst.model.conversation_at(0)["pinned"], timeout=5000)
    assert lst.model.index(0).data().startswith("★ alpha topic")
    assert lst.pin_button.text() == "Unpin"

    lst.search_box.setText("subject")  # in a message, not in the title any more
    qtbot.waitUntil(lambda: titles(panel) == ["Renamed beta"], timeout=5000)
    assert "beta subject" in lst.model.index(0).data()  # the matching snippet
    lst.search_box.clear()
    qtbot.waitUntil(lambda: len(titles(panel)) == 2, timeout=5000)

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    lst.delete_button.click()
    qtbot.wait(200)
    assert len(titles(panel)) == 2
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    lst.delete_button.click()
    qtbot.waitUntil(lambda: titles(panel) == ["Renamed beta"], timeout=5000)
    qtbot.waitUntil(lambda: panel.conversation and panel.conversation["id"] != alpha, timeout=5000)
    qtbot.waitUntil(lambda: panel.thread_model.rowCount() == 2, timeout=5000)


def test_export_writes_markdown_and_json(qtbot, panel, monkeypatch, tmp_path):
    send_and_wait(qtbot, panel, "export me")
    for fmt, name in (("markdown", "chat"), ("json", "chat")):
        target = tmp_path / name
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, t=target, **k: (str(t), ""))
        action = next(
            a for a in panel.export_button.menu().actions() if a.text().lower().startswith(fmt[:4])
        )
        action.trigger()
        suffix = ".md" if fmt == "markdown" else ".json"
        written = target.with_suffix(suffix)
        qtbot.waitUntil(written.exists, timeout=5000)
        qtbot.waitUntil(lambda w=written: str(w) in panel.message.text(), timeout=5000)
    assert (
        "## User" in (tmp_path / "chat.md").read_text()
        and "export me" in (tmp_path / "chat.md").read_text()
    )
    data = json.loads((tmp_path / "chat.json").read_text())
    assert data["messages"][0]["content"] == "export me"


def test_context_meter_follows_the_draft(qtbot, panel):
    meter = panel.composer.meter
    qtbot.waitUntil(lambda: meter.count is not None, timeout=5000)
    empty = meter.count["used"]
    assert "/ 4,096 tokens" in meter.figure.text() and meter.note.text().startswith(
        "Everything fits"
    )
    calls = []
    original = panel.client.call
    panel.client.call = lambda method, params=None: (
        calls.append(method),
        original(method, params),
    )[1]
    qtbot.keyClicks(panel.composer.editor, "one two three four five six seven eight")
    qtbot.waitUntil(lambda: meter.count["used"] == empty + 8, timeout=5000)
    assert calls.count("chat.count_tokens") <= 2  # debounced while typing, not once per key
    panel.composer.editor.setPlainText("word " * 4000)
    qtbot.waitUntil(lambda: meter.note.text().startswith("Too long"), timeout=5000)
    assert meter.figure.text().startswith("4,004 / 4,096")


def test_status_bar_shows_the_loaded_model(qtbot, make_client):
    window = MainWindow(make_client())
    qtbot.addWidget(window)
    window.show()
    assert window.panel_ids()[0] == "chat"
    assert window.loaded_label.text() == "No model loaded"
    panel = window.panels["chat"]
    qtbot.waitUntil(lambda: panel.settings.model_combo.count() > 0, timeout=5000)
    send_and_wait(qtbot, panel, "load something")
    qtbot.waitUntil(lambda: "Fake Gemma" in window.loaded_label.text(), timeout=5000)
    assert window.loaded_label.text() == "Loaded: Fake Gemma (llama_cpp on CPU) · 300.0 MB"
