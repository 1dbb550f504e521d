"""What a finished run offers, on the fake engine: evaluation results, GGUF export with the
dialog's choices, delete, and "Chat with this model" switching the main window to Chat."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialog, QMessageBox

from desktop.main_window import MainWindow
from desktop.panels.training import actions
from desktop.panels.training.dialogs import ExportDialog

from .conftest import requests, select


def accept_with(monkeypatch, cls_name: str, prepare) -> None:
    """Make the named dialog accept at once, after ``prepare(dialog)`` set what a user sets."""
    cls = getattr(actions, cls_name)

    def exec_(dialog):
        prepare(dialog)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(cls, "exec", exec_)


def test_evaluation_shows_perplexity_and_answers_side_by_side(qtbot, panel, monkeypatch):
    select(qtbot, panel, "run-done")
    accept_with(monkeypatch, "EvalDialog",
                lambda d: d.prompts.setPlainText("What is 2+2?\nName a colour"))  # fmt: skip
    view = panel.run_view
    view.buttons["eval"].click()
    qtbot.waitUntil(lambda: view.comparisons_model.rowCount() == 2, timeout=5000)
    sent = requests(qtbot, panel.client, "train.eval")[-1]["params"]
    assert sent == {"run": "run-done", "prompts": ["What is 2+2?", "Name a colour"],
                    "max_new_tokens": 64}  # fmt: skip
    assert "18.17 → 9.03" in view.eval_label.text()
    model = view.comparisons_model
    assert [model.index(0, c).data() for c in range(3)] == [
        "What is 2+2?", "base answer to What is 2+2?", "tuned answer to What is 2+2?"]  # fmt: skip
    assert view.tabs.currentIndex() == 1
    # its figures are a stored run of Evaluate: the link asks the window to show that run
    opened = []
    monkeypatch.setattr("desktop.panels.training.run_view.open_in_evaluate",
                        lambda widget, run_id: opened.append(run_id))  # fmt: skip
    assert 'href="eval-of-run-done"' in view.eval_label.text()
    view.eval_label.linkActivated.emit("eval-of-run-done")
    assert opened == ["eval-of-run-done"]
    # the evaluation is kept with the run: selecting it again later shows it without re-running
    select(qtbot, panel, "run-failed")
    qtbot.waitUntil(lambda: view.comparisons_model.rowCount() == 0, timeout=5000)
    view.tabs.setCurrentIndex(0)
    select(qtbot, panel, "run-done")
    qtbot.waitUntil(lambda: view.comparisons_model.rowCount() == 2, timeout=5000)
    assert "18.17 → 9.03" in view.eval_label.text()
    assert view.tabs.currentIndex() == 0  # filled in, not brought to the front


def test_export_dialog_params():
    run = {"id": "r", "method": "lora"}
    dialog = ExportDialog(run)
    assert dialog.params() == {"what": "merged", "quant": "q8_0"}
    dialog.quant.setCurrentIndex(dialog.quant.findData("f16"))
    assert dialog.params() == {"what": "merged", "quant": "f16"}
    dialog.adapter.setChecked(True)
    assert dialog.params() == {"what": "adapter"} and not dialog.quant.isEnabled()
    assert not ExportDialog({"id": "d", "method": "dora"}).adapter.isEnabled()


def test_export_sends_the_dialogs_choice(qtbot, panel, monkeypatch):
    select(qtbot, panel, "run-done")

    def choose(dialog):
        dialog.quant.setCurrentIndex(dialog.quant.findData("f16"))

    accept_with(monkeypatch, "ExportDialog", choose)
    panel.run_view.buttons["export"].click()
    qtbot.waitUntil(lambda: "GGUF export done" in panel.message.text(), timeout=5000)
    sent = requests(qtbot, panel.client, "train.export")[-1]["params"]
    assert sent == {"run": "run-done", "what": "merged", "quant": "f16"}
    assert "model-f16.gguf" in panel.message.text()


def test_engine_refusal_of_an_action_is_shown(qtbot, panel):
    select(qtbot, panel, "run-failed")
    panel.actions._start_job("train.merge", {}, "train.merge")
    qtbot.waitUntil(lambda: "has not finished" in panel.message.text(), timeout=5000)
    assert panel.message.kind == "error"


def test_delete_asks_and_removes_the_run(qtbot, panel, monkeypatch):
    select(qtbot, panel, "run-failed")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    panel.run_view.buttons["delete"].click()
    qtbot.waitUntil(lambda: panel.runs_model.row_of("run-failed") < 0, timeout=5000)
    assert requests(qtbot, panel.client, "train.delete")[-1]["params"] == {"run": "run-failed"}
    assert panel.runs_model.rowCount() == 2


@pytest.fixture
def window(qtbot, make_client):
    win = MainWindow(make_client())
    qtbot.addWidget(win)
    win.resize(1200, 760)
    win.show()
    win.show_panel("training")
    training = win.panels["training"]
    qtbot.waitUntil(lambda: training.runs_model.rowCount() >= 3, timeout=5000)
    return win


def test_chat_with_this_model_opens_chat_with_the_model(qtbot, window):
    training, chat = window.panels["training"], window.panels["chat"]
    select(qtbot, training, "run-exported")
    training.run_view.buttons["chat"].click()
    qtbot.waitUntil(lambda: window.current_panel_id() == "chat", timeout=5000)
    qtbot.waitUntil(lambda: (chat.conversation or {}).get("model_id") == "gone-2", timeout=5000)
    assert chat.settings.model_id() == "gone-2"


def test_chat_with_a_lora_run_exports_its_adapter_and_opens_it_without_asking(
    qtbot, window, monkeypatch
):
    training, chat = window.panels["training"], window.panels["chat"]
    select(qtbot, training, "run-done")
    monkeypatch.setattr(QMessageBox, "question", lambda *_a: pytest.fail("nothing to ask"))
    training.run_view.buttons["chat"].click()
    qtbot.waitUntil(lambda: window.current_panel_id() == "chat", timeout=5000)
    qtbot.waitUntil(lambda: chat.settings.model_id() == "run-done-lora", timeout=5000)
    sent = requests(qtbot, training.client, "train.export")[-1]["params"]
    assert sent == {"run": "run-done", "what": "adapter"}
    qtbot.waitUntil(
        lambda: (chat.conversation or {}).get("model_id") == "run-done-lora", timeout=5000
    )


def test_chat_with_a_full_fine_tune_asks_before_exporting_it_merged(qtbot, window, monkeypatch):
    training, chat = window.panels["training"], window.panels["chat"]
    select(qtbot, training, "run-done")
    training.run_view.run["method"] = "full"
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda _p, title, text: asked.append(text) or QMessageBox.StandardButton.Yes)  # fmt: skip
    training.run_view.buttons["chat"].click()
    assert asked and "GGUF" in asked[0] and "fully fine-tuned" in asked[0]
    qtbot.waitUntil(lambda: window.current_panel_id() == "chat", timeout=5000)
    qtbot.waitUntil(lambda: chat.settings.model_id() == "run-done-q8_0", timeout=5000)
    sent = requests(qtbot, training.client, "train.export")[-1]["params"]
    assert sent == {"run": "run-done", "what": "merged", "quant": "q8_0"}
