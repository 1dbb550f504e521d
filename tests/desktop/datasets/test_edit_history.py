"""Inspect and edit: edit, add and delete rows (each a new version), undo, redo and check out
from the history, and the row preview with a model's template and token count."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from tests.desktop.datasets.conftest import select, shown_rows


def current_row(qtbot, panel, row: int) -> None:
    panel.table.setCurrentIndex(panel.rows_model.index(row, 1))
    qtbot.waitUntil(lambda: panel.rows_view.edit_button.isEnabled(), timeout=2000)


def history_rows(panel) -> list[tuple[str, str]]:
    m = panel.history.model
    return [(m.index(r, 0).data(), m.version_at(r)["operation"]) for r in range(m.rowCount())]


def test_edit_a_row_then_undo_redo_and_checkout(qtbot, panel):
    select(qtbot, panel, "small")
    qtbot.waitUntil(lambda: len(history_rows(panel)) == 1, timeout=5000)
    assert not panel.undo_button.isEnabled() and not panel.redo_button.isEnabled()  # one version
    current_row(qtbot, panel, 1)
    panel.actions.edit_row()
    dialog = panel.actions.dialog
    assert dialog.editors["instruction"].toPlainText() == "Add 2 and 2"
    dialog.editors["instruction"].setPlainText("Add 3 and 3")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: shown_rows(panel)[1:2] == ["Add 3 and 3"], timeout=5000)
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: panel.rows_view.current_row() == 1, timeout=5000)  # stays in place
    assert "Undo reverts it" in panel.message.text()
    qtbot.waitUntil(lambda: len(history_rows(panel)) == 2, timeout=5000)
    assert history_rows(panel)[0] == ("●", "edit")  # newest first, and current
    qtbot.waitUntil(lambda: panel.undo_button.isEnabled(), timeout=5000)
    assert not panel.redo_button.isEnabled()

    panel.undo_button.click()
    qtbot.waitUntil(lambda: shown_rows(panel)[1:2] == ["Add 2 and 2"], timeout=5000)
    qtbot.waitUntil(lambda: history_rows(panel)[1] == ("●", "import"), timeout=5000)
    assert panel.history.redo_button.isEnabled()
    qtbot.waitUntil(lambda: panel.redo_button.isEnabled(), timeout=5000)
    assert not panel.undo_button.isEnabled()  # back at the first version: nothing to undo
    panel.redo_button.click()
    qtbot.waitUntil(lambda: shown_rows(panel)[1:2] == ["Add 3 and 3"], timeout=5000)

    panel.history.table.selectRow(1)  # version 1
    panel.history.checkout_button.click()
    qtbot.waitUntil(lambda: shown_rows(panel)[1:2] == ["Add 2 and 2"], timeout=5000)
    assert "version 1" in panel.message.text()


def test_add_and_delete_rows(qtbot, panel, monkeypatch):
    select(qtbot, panel, "small")
    panel.rows_view.add_button.click()
    dialog = panel.actions.dialog
    assert set(dialog.editors) == {"instruction", "input", "output"}
    dialog.editors["instruction"].setPlainText("New task")
    dialog.editors["output"].setPlainText("New answer")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: len(shown_rows(panel)) == 7, timeout=5000)
    assert shown_rows(panel)[-1] == "New task"

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    current_row(qtbot, panel, 0)
    panel.rows_view.delete_button.click()
    qtbot.waitUntil(lambda: len(shown_rows(panel)) == 6, timeout=5000)
    assert shown_rows(panel)[0] == "Add 2 and 2"


def test_a_bad_row_keeps_the_dialog_open_with_the_reason(qtbot, panel):
    select(qtbot, panel, "chats")
    current_row(qtbot, panel, 0)
    panel.actions.edit_row()
    dialog = panel.actions.dialog
    dialog.editors["messages"].setPlainText('[{"role": "user", "content": "Q0"')  # cut JSON
    dialog.save_button.click()
    assert "messages is not valid JSON" in dialog.error_label.text() and dialog.isVisible()
    dialog.editors["messages"].setPlainText('"not a list"')
    dialog.save_button.click()
    qtbot.waitUntil(lambda: "not valid messages" in dialog.error_label.text(), timeout=5000)
    assert dialog.isVisible() and dialog.save_button.isEnabled()
    dialog.reject()


def test_preview_renders_with_the_chosen_model(qtbot, panel):
    select(qtbot, panel, "small")
    with qtbot.waitSignal(panel.preview.sig_rendered, timeout=5000) as rendered:
        current_row(qtbot, panel, 5)
    assert rendered.args[0]["exact"] is False
    assert "Capital of France?" in panel.preview.text.toPlainText()
    assert "estimate" in panel.preview.tokens_label.text()
    qtbot.waitUntil(
        lambda: panel.preview.model_combo.count() == 2, timeout=5000
    )  # gone-2 is missing
    with qtbot.waitSignal(panel.preview.sig_rendered, timeout=5000):
        panel.preview.model_combo.setCurrentIndex(1)
    assert "exact, gemma-1-vocab tokenizer" in panel.preview.tokens_label.text()
    assert panel.preview.text.toPlainText().startswith("<gemma>")
    with qtbot.waitSignal(panel.preview.sig_rendered, timeout=5000):
        panel.preview.template_combo.setCurrentIndex(
            panel.preview.template_combo.findData("chatml")
        )
    assert panel.preview.text.toPlainText().startswith("<chatml>")
