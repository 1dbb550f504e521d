"""Import: a clear file imports at once (also when dropped on the panel); unsure columns open
the mapping dialog; malformed lines are shown with their numbers, and skip or abort is the
user's choice, also when the bad line is only found during the import."""

from __future__ import annotations

import json

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from tests.desktop.datasets.conftest import shown_rows


def write_jsonl(path, rows, bad_at=None):
    lines = [json.dumps(r) for r in rows]
    if bad_at is not None:
        lines.insert(bad_at - 1, "{not json")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ALPACA = [{"instruction": f"Do {i}", "input": "", "output": f"Done {i}"} for i in range(3)]


def wait_shown(qtbot, panel, name):
    qtbot.waitUntil(
        lambda: bool(panel.dataset and panel.dataset["name"] == name and shown_rows(panel)),
        timeout=5000,
    )


def test_a_clear_file_imports_at_once(qtbot, panel, tmp_path):
    path = write_jsonl(tmp_path / "tasks.jsonl", ALPACA)
    panel.import_flow.start(str(path))
    wait_shown(qtbot, panel, "tasks")
    assert panel.import_flow.dialog is None
    assert shown_rows(panel) == ["Do 0", "Do 1", "Do 2"]
    assert "Imported 3 rows as tasks (alpaca)" in panel.message.text()
    assert panel.job_strip.isHidden()


def test_dropping_a_file_imports_it(qtbot, panel, tmp_path):
    path = write_jsonl(tmp_path / "dropped.jsonl", ALPACA)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)), QUrl.fromLocalFile(str(tmp_path / "x.exe"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    panel.dropEvent(event)
    wait_shown(qtbot, panel, "dropped")
    assert "dropped" in panel.list_model.names() and "x" not in panel.list_model.names()


def test_unsure_columns_ask_for_a_mapping(qtbot, panel, tmp_path):
    rows = [{"question": "Why?", "answer": "Because", "note": "n1"},
            {"question": "How?", "answer": "Carefully", "note": "n2"}]  # fmt: skip
    panel.import_flow.start(str(write_jsonl(tmp_path / "qa.jsonl", rows)))
    qtbot.waitUntil(lambda: panel.import_flow.dialog is not None, timeout=5000)
    dialog = panel.import_flow.dialog
    assert "Not sure" in dialog.detect_label.text()
    assert dialog.format_combo.currentText() == "alpaca"
    assert dialog.mapping() == {"instruction": "question", "output": "answer"}
    dialog.mapping_combos["input"].setCurrentText("note")  # the user maps one more column
    with qtbot.waitSignal(dialog.sig_previewed, timeout=5000):
        pass
    assert '"input": "n1"' in dialog.preview.toPlainText()
    dialog.mapping_combos["output"].setCurrentText("(none)")  # a required field left unmapped
    qtbot.waitUntil(lambda: not dialog.import_button.isEnabled(), timeout=2000)
    assert "output" in dialog.preview_errors.text()
    dialog.mapping_combos["output"].setCurrentText("answer")
    qtbot.waitUntil(dialog.import_button.isEnabled, timeout=2000)
    dialog.name_edit.setText("questions")
    dialog.import_button.click()
    wait_shown(qtbot, panel, "questions")
    assert shown_rows(panel) == ["Why?", "How?"]
    assert panel.rows_model.index(0, 2).data() == "n1"


def test_malformed_lines_are_listed_and_can_be_skipped(qtbot, panel, tmp_path):
    panel.import_flow.start(str(write_jsonl(tmp_path / "broken.jsonl", ALPACA, bad_at=2)))
    qtbot.waitUntil(lambda: panel.import_flow.dialog is not None, timeout=5000)
    dialog = panel.import_flow.dialog
    assert "line 2: not valid JSON" in dialog.errors_label.text()
    assert dialog.abort_radio.isChecked()
    dialog.skip_radio.setChecked(True)
    dialog.import_button.click()
    wait_shown(qtbot, panel, "broken")
    assert shown_rows(panel) == ["Do 0", "Do 1", "Do 2"]
    text = panel.message.text()
    assert "Skipped 1 bad line" in text and "line 2: not valid JSON" in text


def test_abort_stops_at_the_bad_line_then_skip_is_offered(qtbot, panel, tmp_path, monkeypatch):
    panel.import_flow.start(str(write_jsonl(tmp_path / "late.jsonl", ALPACA, bad_at=3)))
    qtbot.waitUntil(lambda: panel.import_flow.dialog is not None, timeout=5000)
    panel.import_flow.dialog.import_button.click()  # abort is the default
    qtbot.waitUntil(lambda: panel.import_flow.question is not None, timeout=5000)
    assert "late.jsonl: line 3" in panel.message.text() and panel.message.kind == "error"
    assert "late" not in panel.list_model.names()  # nothing was created
    box: QMessageBox = panel.import_flow.question
    assert "line 3" in box.informativeText()
    skip = next(b for b in box.buttons() if b.text() == "Skip bad lines")
    skip.click()
    wait_shown(qtbot, panel, "late")
    assert len(shown_rows(panel)) == 3
