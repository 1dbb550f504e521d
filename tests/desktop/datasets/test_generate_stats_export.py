"""Generate (progress, cancel, resume), statistics drawn with matplotlib from the engine's
numbers, split with ratios and a seed, and export with its dataset card."""

from __future__ import annotations

from desktop.panels.datasets.generate_dialog import GenerateDialog
from tests.desktop.datasets.conftest import select, shown_rows


def test_generate_with_progress_cancel_and_resume(qtbot, panel):
    panel.generate_button.click()
    dialog = panel.actions.dialog
    assert isinstance(dialog, GenerateDialog)
    qtbot.waitUntil(lambda: "Looking" not in dialog.qa_note.text(), timeout=5000)
    if not dialog.qa.isEnabled():  # no document collections here: the dialog says why
        assert "collections" in dialog.qa_note.text()
    dialog.seeds.setPlainText("Write a haiku.\n\nExplain recursion.\n")
    dialog.count.setValue(30)
    dialog.name.setText("made")
    assert dialog.params()["seeds"] == ["Write a haiku.", "Explain recursion."]
    dialog.accept()
    strip = panel.job_strip
    qtbot.waitUntil(lambda: strip.isVisible() and strip.bar.value() >= 10, timeout=5000)
    assert "Generating rows" in strip.label.text() and "step" in strip.label.text()
    strip.cancel_button.click()
    qtbot.waitUntil(lambda: strip.resume_button.isVisible(), timeout=5000)
    assert "Resume carries on" in panel.message.text() and "made" not in panel.list_model.names()
    strip.resume_button.click()
    qtbot.waitUntil(lambda: bool(panel.dataset and panel.dataset["name"] == "made"), timeout=10000)
    assert panel.dataset["rows"] == 30 and "Generated 30 rows in made" in panel.message.text()
    assert strip.isHidden()


def test_generate_refusal_is_shown(qtbot, panel):
    panel.actions.run_generate({"mode": "self_instruct", "seeds": [], "count": 3})
    qtbot.waitUntil(lambda: "needs a few seed tasks" in panel.message.text(), timeout=5000)


def test_stats_are_drawn_and_saved(qtbot, panel, tmp_path):
    select(qtbot, panel, "small")
    with qtbot.waitSignal(panel.stats.sig_stats, timeout=5000) as got:
        panel.tabs.setCurrentWidget(panel.stats)
    assert got.args[0]["rows"] == 6
    assert "6 rows" in panel.stats.summary.text()
    canvas = panel.stats.canvas
    assert sum(p.get_height() for p in canvas.hist_ax.patches) == 6  # one bar per bin, 6 rows
    assert [t.get_text() for t in canvas.roles_ax.get_xticklabels()] == ["user", "assistant"]
    target = tmp_path / "plot.svg"
    panel.stats.save_plot(str(target))
    assert target.read_text().startswith("<?xml")


def test_split_then_show_one_split(qtbot, panel):
    select(qtbot, panel, "small")
    panel.actions.open_split()  # asks the engine for the default shares first
    qtbot.waitUntil(lambda: type(panel.actions.dialog).__name__ == "SplitDialog", timeout=5000)
    dialog = panel.actions.dialog
    assert [s.value() for s in dialog.spins.values()] == [80, 10, 10]  # the engine's defaults
    dialog.spins["train"].setValue(90)
    assert not dialog.run_button.isEnabled()  # 110 %
    dialog.spins["train"].setValue(50)
    dialog.spins["validation"].setValue(50)
    dialog.spins["test"].setValue(0)
    assert dialog.params() == {"train": 0.5, "validation": 0.5, "test": 0.0, "seed": 0}
    dialog.accept()
    combo = panel.rows_view.split_combo
    qtbot.waitUntil(lambda: combo.count() == 3 and combo.isVisible(), timeout=5000)
    combo.setCurrentIndex(combo.findData("validation"))
    qtbot.waitUntil(lambda: panel.rows_model.rowCount() == 3 and len(shown_rows(panel)) == 3,
                    timeout=5000)  # fmt: skip
    assert panel.rows_model.position_at(0) == 3  # validation rows follow the train rows


def test_export_writes_rows_and_card(qtbot, panel, tmp_path):
    select(qtbot, panel, "small")
    panel.actions.open_export()
    dialog = panel.actions.dialog
    dialog.file_format.setCurrentText("parquet")
    assert dialog.path.text().endswith("small.parquet")
    dialog.file_format.setCurrentText("jsonl")
    dialog.path.setText(str(tmp_path / "out.jsonl"))
    dialog.accept()
    qtbot.waitUntil(lambda: "Exported 6 rows" in panel.message.text(), timeout=5000)
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 6
    assert (tmp_path / "out.README.md").exists()
    assert "out.README.md" in panel.message.text()


def test_qa_generation_takes_the_ticked_files_and_a_count(qtbot, panel):
    from PySide6.QtCore import Qt

    panel.generate_button.click()
    dialog = panel.actions.dialog
    dialog.collection.addItem("Manuals", "c-1")
    dialog.qa.setEnabled(True)
    dialog.qa.setChecked(True)
    dialog._show_files({"files": [
        {"name": "kettle.pdf", "path": "/docs/kettle.pdf", "status": "indexed"},
        {"name": "toaster.pdf", "path": "/docs/toaster.pdf", "status": "indexed"},
        {"name": "scan.pdf", "path": "/docs/scan.pdf", "status": "failed"},
    ]})  # fmt: skip
    assert dialog.files.count() == 2  # only indexed files have chunks
    assert "files" not in dialog.params() and "count" not in dialog.params()  # all, as many
    dialog.files.item(1).setCheckState(Qt.CheckState.Unchecked)
    dialog.qa_count.setValue(40)
    params = dialog.params()
    assert params["files"] == ["/docs/kettle.pdf"] and params["count"] == 40
    assert params["mode"] == "qa" and "{chunk}" in dialog.prompt.placeholderText()
    dialog.reject()


def test_generate_preference_pairs_with_a_judge(qtbot, panel):
    panel.models = [{"id": "writer", "name": "Writer", "role": "llm"},
                    {"id": "judge", "name": "Judge", "role": "llm"},
                    {"id": "embedder", "name": "MiniLM", "role": "embedding"}]  # fmt: skip
    panel.generate_button.click()
    dialog = panel.actions.dialog
    dialog.pairs.setChecked(True)
    assert dialog.pages.currentIndex() == 2 and dialog.prompt.isHidden()
    assert dialog.temperature.value() == 0.9  # two samples of a prompt must differ
    names = [dialog.prompts.itemData(i) for i in range(dialog.prompts.count())]
    assert "small" in names
    dialog.prompts.setCurrentIndex(names.index("small"))
    dialog.pair_count.setValue(4)
    assert (
        dialog.judge.currentData() is None
    )  # no judge picked yet: the engine says what is missing
    panel.actions.run_generate(dialog.params())
    qtbot.waitUntil(lambda: "need a judge model" in panel.message.text(), timeout=5000)
    judges = [dialog.judge.itemData(i) for i in range(1, dialog.judge.count())]
    assert judges == ["writer", "judge"]  # chat models only
    dialog.judge.setCurrentIndex(2)
    params = dialog.params()
    assert params == {"params": {"temperature": 0.9}, "mode": "preferences", "prompts": "small",
                      "judge_id": "judge", "count": 4}  # fmt: skip
    dialog.accept()
    qtbot.waitUntil(lambda: bool(panel.dataset and panel.dataset["name"] == "pairs-small"), timeout=10000)  # fmt: skip
    assert panel.dataset["format"] == "preference" and panel.dataset["rows"] == 4
