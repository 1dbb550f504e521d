"""The side settings: defaults and help from chat.params, saved with the conversation, templates."""

from __future__ import annotations

from tests.desktop.chat.conftest import send_and_wait


def test_sampling_controls_come_from_chat_params(qtbot, panel):
    spins = panel.settings.spins
    qtbot.waitUntil(lambda: "nucleus sampling" in spins["top_p"].toolTip(), timeout=5000)
    assert list(spins) == [
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "repeat_penalty",
        "max_tokens",
        "seed",
    ]
    assert spins["temperature"].value() == 0.8 and spins["max_tokens"].value() == 512
    assert spins["seed"].text() == "random"
    assert panel.settings.params()["top_k"] == 40 and "seed" not in panel.settings.params()


def test_settings_are_saved_with_the_conversation(qtbot, panel):
    send_and_wait(qtbot, panel, "remember my settings")
    first = panel.conversation["id"]
    panel.settings.spins["temperature"].setValue(0.3)
    panel.settings.spins["seed"].setValue(42)
    panel.settings.system_prompt.setPlainText("Answer like a pirate.")
    qtbot.waitUntil(
        lambda: panel.conversation.get("system_prompt") == "Answer like a pirate.", timeout=5000
    )
    panel.conversations.new_button.click()
    qtbot.waitUntil(lambda: panel.conversation["id"] != first, timeout=5000)
    assert panel.settings.spins["temperature"].value() == 0.8  # a new chat starts from defaults
    assert panel.settings.system_prompt_text() == ""
    panel.conversations.select(first)
    qtbot.waitUntil(lambda: panel.conversation["id"] == first, timeout=5000)
    assert panel.settings.spins["temperature"].value() == 0.3
    assert panel.settings.params()["seed"] == 42
    assert panel.settings.system_prompt_text() == "Answer like a pirate."


def test_template_picker_saves_the_choice_for_the_model(qtbot, panel):
    combo = panel.settings.template_combo
    qtbot.waitUntil(lambda: combo.count() == 8 and combo.isEnabled(), timeout=5000)
    assert combo.currentData() == "auto" and "now: Plain" in combo.currentText()
    combo.setCurrentIndex(combo.findData("chatml"))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(
        lambda: combo.currentData() == "chatml" and "now" not in combo.itemText(0), timeout=5000
    )


def test_model_picker_lists_chat_models_and_adapters_but_not_embedders(qtbot, panel):
    from PySide6.QtCore import Qt

    models = [
        {"id": "base", "name": "Gemma", "role": "llm", "bundled": True},
        {"id": "tuned", "name": "Pirate (LoRA)", "role": "adapter", "base_model_id": "base",
         "base_name": "Gemma"},
        {"id": "orphan", "name": "Old (LoRA)", "role": "adapter", "base_model_id": "gone",
         "missing": True, "missing_reason": "its base model gone was removed"},
        {"id": "minilm", "name": "MiniLM", "role": "embedding"},
    ]  # fmt: skip
    combo = panel.settings.model_combo
    panel.settings.set_models(models, "tuned")
    assert [combo.itemData(i) for i in range(combo.count())] == ["base", "tuned", "orphan"]
    assert combo.currentData() == "tuned"
    assert combo.currentText() == "Pirate (LoRA) (LoRA on Gemma)"
    assert "unusable" in combo.itemText(2)
    assert "was removed" in combo.itemData(2, Qt.ItemDataRole.ToolTipRole)
    panel.settings.select_model(None)
    assert combo.currentData() == "base"  # no choice yet: the bundled model
    starter = {"id": "starter", "name": "Hearth starter", "role": "adapter", "bundled": True,
               "base_model_id": "base", "base_name": "Gemma"}  # fmt: skip
    panel.settings.set_models([*models, starter], None)
    assert combo.currentData() == "starter"  # the engine's default: the bundled adapter
    panel.settings.set_models([*models, starter], None, "tuned")
    assert combo.currentData() == "tuned"  # the user's preferred model (Preferences)


def test_a_changed_default_model_preference_shows_in_a_new_chat(qtbot, panel):
    combo = panel.settings.model_combo
    qtbot.waitUntil(lambda: combo.count() > 0, timeout=5000)
    other = next(combo.itemData(i) for i in range(combo.count()) if i != combo.currentIndex())
    panel.client.call("prefs.set", {"values": {"default_model": other}})
    qtbot.waitUntil(lambda: combo.currentData() == other, timeout=5000)
    panel.client.call("prefs.set", {"values": {"default_model": None}})
    qtbot.waitUntil(lambda: combo.currentData() != other, timeout=5000)


def test_stop_sequences_are_saved_with_the_conversation(qtbot, panel):
    send_and_wait(qtbot, panel, "stop at the end")
    panel.settings.stop_edit.setPlainText("END\n\n###")
    qtbot.waitUntil(
        lambda: panel.conversation["params"].get("stop") == ["END", "###"], timeout=5000
    )
    panel.conversations.new_button.click()
    qtbot.waitUntil(lambda: panel.settings.stop_edit.toPlainText() == "", timeout=5000)
    assert "stop" not in panel.settings.params()


def test_model_loading_settings_are_the_models_own(qtbot, panel):
    from desktop.panels.chat.model_settings_box import ModelSettingsBox

    fresh = ModelSettingsBox()  # before any model is known: the engine's choices, not 0
    qtbot.addWidget(fresh)
    assert [s.text() for s in fresh.spins.values()] == ["model's (up to 4096)", "automatic", "automatic"]  # fmt: skip
    box = panel.settings.model_box
    qtbot.waitUntil(lambda: box.isEnabled(), timeout=5000)
    assert box.spins["n_ctx"].text() == "model's (up to 4096)"
    assert "physical cores" in box.spins["n_threads"].toolTip()  # the engine's help text
    box.spins["n_threads"].setValue(3)
    model_id = panel.settings.model_id()
    qtbot.waitUntil(lambda: box.values()["n_threads"] == 3, timeout=5000)
    got = {}
    panel.client.call("chat.model_settings", {"model_id": model_id}).on_success(got.update)
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert got["settings"] == {"n_threads": 3}
    box.spins["n_threads"].setValue(box.spins["n_threads"].minimum())  # back to automatic
    got.clear()
    qtbot.wait(200)
    panel.client.call("chat.model_settings", {"model_id": model_id}).on_success(got.update)
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert got["settings"] == {}
