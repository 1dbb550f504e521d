"""The New run form on the fake engine: built from ``train.options``, presets, the memory plan
and its suggestions, the data check, and starting (with the engine's refusals shown)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QSpinBox

from .conftest import requests


def editor(panel, name):
    return panel.new_run.form.editors[name]


def open_form(panel):
    panel.new_button.click()
    assert panel.tabs.currentIndex() == 1
    return panel.new_run


def test_form_is_built_from_the_engines_fields(qtbot, panel):
    form = panel.new_run.form
    assert {"rank", "learning_rate", "seq_len", "sample_prompts", "packing"} <= set(form.editors)
    assert "method" not in form.editors  # it has its own combo with availability
    rank = editor(panel, "rank")
    assert isinstance(rank.editor, QSpinBox) and (rank.editor.minimum(), rank.editor.maximum()) == (
        1,
        1024,
    )
    assert rank.editor.toolTip().startswith("LoRA rank")
    assert isinstance(editor(panel, "packing").editor, QCheckBox)
    assert editor(panel, "target_modules").value() is None  # null = auto
    assert editor(panel, "lr_schedule").editor.currentData() == "cosine"
    assert form.groups["lora"].title() == "LoRA adapter"

    field = {"name": "noise_scale", "group": "regularisation", "type": "float", "default": 0.25,
             "help": "scale of the noise added to embeddings", "range": [0.0, 2.0],
             "choices": None, "cli": ["--noise-scale"]}  # fmt: skip
    panel.client.call("fake.train_add_field", {"field": field})
    panel.new_run.load()
    qtbot.waitUntil(lambda: "noise_scale" in form.editors, timeout=5000)
    added = editor(panel, "noise_scale")
    assert isinstance(added.editor, QDoubleSpinBox)
    assert added.editor.toolTip() == "scale of the noise added to embeddings"
    assert added.help_label.text() == "scale of the noise added to embeddings"
    assert added.editor.maximum() == 2.0 and added.value() == 0.25
    assert form.groups["regularisation"].title() == "Regularisation"


def test_unavailable_method_is_disabled_with_its_reason(panel):
    combo = panel.new_run.method_combo
    row = combo.findData("qlora")
    assert not combo.model().item(row).isEnabled()
    assert "CUDA" in combo.itemData(row, Qt.ItemDataRole.ToolTipRole)
    assert combo.model().item(combo.findData("lora")).isEnabled()
    models = panel.new_run.model_combo
    missing = models.findData("gone-2")
    assert not models.model().item(missing).isEnabled() and "missing" in models.itemText(missing)


def test_what_the_run_learns_is_chosen_at_the_top(panel):
    new = panel.new_run
    combo = new.objective_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["sft", "dpo", "orpo"]
    assert combo.currentData() == "sft" and "objective" not in new.form.editors
    assert "preference dataset" in new.objective_help.text()
    assert "objective" not in new.params()["options"]  # the default is not sent
    combo.setCurrentIndex(combo.findData("dpo"))
    assert new.params()["options"]["objective"] == "dpo"
    assert {"beta", "dpo_loss", "label_smoothing"} <= set(new.form.editors)
    assert new.form.groups["preference"].title() == "Preference pairs (DPO, ORPO)"


def test_the_teacher_is_picked_from_the_librarys_chat_models(qtbot, panel):
    new = panel.new_run
    qtbot.waitUntil(lambda: new.model_combo.count() > 0 and "teacher" in new.form.editors, timeout=5000)  # fmt: skip
    combo = new.form.editors["teacher"].editor
    offered = [combo.itemData(i) for i in range(combo.count())]
    usable = [new.model_combo.itemData(i) for i in range(new.model_combo.count())
              if new.model_combo.model().item(i).isEnabled()]  # fmt: skip
    assert offered[0] is None and combo.itemText(0) == "None (no distillation)"
    assert offered[1:] == usable and "gone-2" not in offered  # a missing model cannot teach
    assert "teacher" not in new.params()["options"]  # no distillation unless picked
    combo.setCurrentIndex(1)
    assert new.params()["options"]["teacher"] == offered[1]
    new.set_models([{"id": offered[1], "name": "Teacher", "role": "llm"}])  # a re-listing keeps it
    assert combo.currentData() == offered[1] and combo.count() == 2


def test_preset_fills_the_fields(qtbot, panel):
    new = panel.new_run
    new.preset_combo.setCurrentIndex(new.preset_combo.findData("quick"))
    assert editor(panel, "rank").value() == 8
    assert editor(panel, "max_steps").value() == 30
    assert editor(panel, "learning_rate").value() == 0.0003
    assert "short test run" in new.preset_help.text()
    params = new.params()
    assert params["preset"] == "quick" and params["options"]["rank"] == 8
    new.preset_combo.setCurrentIndex(new.preset_combo.findData("thorough"))
    assert editor(panel, "rank").value() == 32 and editor(panel, "max_steps").value() == 0


def test_prompt_tuning_brings_its_own_learning_rate(qtbot, panel):
    """Picking prompt tuning puts its rate (about 100x LoRA's, from the engine's
    method_defaults) in the field and sends it; going back restores the usual one; a rate the
    user typed stays whatever the method."""
    new = panel.new_run
    rate = editor(panel, "learning_rate")
    methods = new.method_combo
    assert methods.itemText(methods.findData("prompt")) == "Prompt tuning (virtual tokens)"
    assert new.form.groups["prompt"].title() == "Prompt tuning"
    assert {"virtual_tokens", "prompt_init"} <= set(new.form.editors)
    assert "llama.cpp cannot run it" in new.method_help.text()
    groups = new.form.groups
    assert groups["lora"].isChecked() and not groups["prompt"].isChecked()  # folded away
    methods.setCurrentIndex(methods.findData("prompt"))
    assert rate.value() == 0.03
    assert groups["prompt"].isChecked() and not groups["lora"].isChecked()
    sent = new.params()["options"]
    assert (sent["method"], sent["learning_rate"]) == ("prompt", 0.03)
    new.preset_combo.setCurrentIndex(new.preset_combo.findData("quick"))
    assert rate.value() == 0.03  # not the preset's 3e-4
    assert editor(panel, "max_steps").value() == 30
    methods.setCurrentIndex(methods.findData("lora"))
    assert rate.value() == 0.0003
    rate.set_value(0.001)
    methods.setCurrentIndex(methods.findData("prompt"))
    assert rate.value() == 0.001


def test_refused_plan_offers_suggestions_that_change_the_form(qtbot, panel):
    new = open_form(panel)
    qtbot.waitUntil(lambda: new.plan_view.verdict() == "ok", timeout=5000)
    editor(panel, "batch_size").editor.setValue(8)
    qtbot.waitUntil(lambda: new.plan_view.verdict() == "refuse", timeout=5000)
    assert "Will not fit" in new.plan_view.verdict_label.text()
    assert new.force_button.isVisible()
    buttons = new.plan_view.suggestion_buttons
    assert buttons and "batch_size 2 with gradient_accumulation 8" in buttons[0].text()
    buttons[0].click()
    assert editor(panel, "batch_size").value() == 2
    assert editor(panel, "gradient_accumulation").value() == 8
    qtbot.waitUntil(lambda: new.plan_view.verdict() == "ok", timeout=5000)
    last = requests(qtbot, panel.client, "train.plan")[-1]["params"]["options"]
    assert "batch_size" not in last  # 2 is the default again: the engine's own value
    assert last["gradient_accumulation"] == 8
    buttons = new.plan_view.suggestion_buttons
    assert not buttons  # nothing to suggest once it fits
    assert not new.force_button.isVisible()


def test_check_data_shows_the_report(qtbot, panel):
    new = panel.new_run
    new.check_button.click()
    qtbot.waitUntil(lambda: "kept 97 of 100" in new.plan_view.data_label.text(), timeout=5000)
    assert "chat template: gemma" in new.plan_view.data_label.text()
    sent = requests(qtbot, panel.client, "train.check")[-1]["params"]
    assert sent["model_id"] == "gemma-1" and sent["dataset"] == new.dataset_combo.currentData()


def test_start_sends_the_options_and_shows_the_run(qtbot, panel):
    new = panel.new_run
    editor(panel, "rank").editor.setValue(32)
    editor(panel, "max_steps").editor.setValue(15)
    editor(panel, "sample_prompts").editor.setPlainText("Say hi\nCount to three")
    new.name_edit.setText("my run")
    new.start_button.click()
    qtbot.waitUntil(lambda: (panel.run_view.run or {}).get("name") == "my run", timeout=5000)
    sent = requests(qtbot, panel.client, "train.start")[-1]["params"]
    assert sent["model_id"] == "gemma-1" and sent["name"] == "my run"
    assert sent["options"] == {"rank": 32, "max_steps": 15,
                               "sample_prompts": ["Say hi", "Count to three"]}  # fmt: skip
    assert "force" not in sent and "preset" not in sent
    assert panel.tabs.currentIndex() == 0
    qtbot.waitUntil(lambda: panel.run_view.run["state"] == "succeeded", timeout=10000)


def test_engine_refusal_is_shown_and_start_anyway_forces(qtbot, panel):
    new = open_form(panel)
    editor(panel, "batch_size").editor.setValue(16)
    editor(panel, "max_steps").editor.setValue(5)
    qtbot.waitUntil(lambda: new.plan_view.verdict() == "refuse", timeout=5000)
    new.start_button.click()
    qtbot.waitUntil(lambda: "Cannot start" in new.status_label.text(), timeout=5000)
    assert "Lower batch_size" in new.status_label.text()
    assert panel.tabs.currentIndex() == 1  # still on the form, nothing crashed
    assert new.force_button.isVisible()
    new.force_button.click()
    qtbot.waitUntil(lambda: panel.tabs.currentIndex() == 0, timeout=5000)
    sent = requests(qtbot, panel.client, "train.start")[-1]["params"]
    assert sent["force"] is True and sent["options"]["batch_size"] == 16


def test_engine_worded_suggestions_become_option_values():
    from desktop.panels.training.plan_view import parse_change

    types = {"batch_size": "int", "gradient_accumulation": "int", "seq_len": "int",
             "gradient_checkpointing": "bool", "method": "str"}  # fmt: skip
    assert parse_change("batch_size 2 with gradient_accumulation 8", types) == {
        "batch_size": 2, "gradient_accumulation": 8}  # fmt: skip
    assert parse_change("turn on gradient_checkpointing", types) == {"gradient_checkpointing": True}
    assert parse_change("gradient_checkpointing with batch_size 1", types) == {
        "gradient_checkpointing": True, "batch_size": 1}  # fmt: skip
    assert parse_change("method lora", types) == {"method": "lora"}
    assert parse_change("seq_len 256", types) == {"seq_len": 256}


def test_the_fake_engines_options_are_the_real_ones():
    """train_options.json (what the fake engine answers to train.options) is the engine's own
    field metadata; regenerate it from ``fields_info()``/``presets_info()`` when options change."""
    import json
    from pathlib import Path

    from engine.training.config import METHOD_DEFAULTS, METHODS, fields_info, presets_info

    snapshot = json.loads(
        Path(__file__).with_name("train_options.json").read_text(encoding="utf-8")
    )
    assert snapshot["fields"] == json.loads(json.dumps(fields_info()))
    assert snapshot["presets"] == json.loads(json.dumps(presets_info()))
    assert snapshot["method_defaults"] == json.loads(json.dumps(METHOD_DEFAULTS))
    assert [m["name"] for m in snapshot["methods"]] == list(METHODS)
