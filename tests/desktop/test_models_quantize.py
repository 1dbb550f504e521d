"""Models > Quantize…: the dialog shows the engine's choices (disabled ones with their reason),
and, against the real engine, a tiny model is quantized and sent to Evaluate's perplexity next
to its parent."""

from __future__ import annotations

from desktop.panels.models.quantize_dialog import QuantizeDialog
from engine.models.quantize import options_for

F16_MODEL = {"id": "m-1", "name": "Tiny (f16)", "format": "gguf", "role": "llm",
             "quant": "F16", "params": 50_000_000, "size_bytes": 100_000_000}  # fmt: skip


def test_the_dialog_picks_the_usual_type_and_says_why_not_the_others(qtbot):
    dialog = QuantizeDialog(options_for(F16_MODEL))
    qtbot.addWidget(dialog)
    assert dialog.quant() == "q4_k_m" and dialog.ok.isEnabled()
    f16 = dialog.buttons["f16"]
    assert not f16.isEnabled() and "already 16-bit floats (F16)" in f16.toolTip()
    assert "about 47.3 MB" in dialog.buttons["q4_k_m"].text()  # 50M weights at 4.89 bits + 16 MiB
    assert dialog.why.isHidden()


def test_a_model_that_is_already_4_bit_cannot_be_quantized(qtbot):
    q4 = dict(F16_MODEL, name="Gemma", quant="Q4_K_M")
    dialog = QuantizeDialog(options_for(q4))
    qtbot.addWidget(dialog)
    assert dialog.quant() is None and not dialog.ok.isEnabled()
    assert not dialog.why.isHidden() and "already 4-bit (Q4_K_M)" in dialog.why.text()
    assert dialog.why.text().count("already") == 1  # one reason, not one per type


def test_quantize_through_the_panel_with_the_real_engine(qtbot, make_client, tmp_path_factory):
    from tests.desktop.test_real_engine import models_window
    from tests.engine.runtimes.fixtures import tiny_hf

    folder = tiny_hf(tmp_path_factory.getbasetemp())
    window, panel = models_window(qtbot, make_client(real=True))
    panel.copy_checkbox.setChecked(False)
    panel.import_paths([str(folder)])
    qtbot.waitUntil(lambda: panel.table_model.row_of_name("tiny-llama") >= 0, timeout=30000)
    panel.table.selectRow(panel.table_model.row_of_name("tiny-llama"))
    assert panel.quantize_button.isEnabled()
    shown: list[QuantizeDialog] = []

    def answer(dialog) -> bool:
        shown.append(dialog)
        dialog.buttons["q8_0"].setChecked(True)
        return True

    panel.run_dialog = answer
    panel.quantize_button.click()
    qtbot.waitUntil(lambda: "Quantized tiny-llama to q8_0" in panel.message.text(), timeout=60000)
    assert shown and all(b.isEnabled() for b in shown[0].buttons.values())
    qtbot.waitUntil(lambda: panel.table_model.row_of_name("tiny-llama (q8_0)") >= 0, timeout=10000)
    made = panel.table_model.model_at(panel.table_model.row_of_name("tiny-llama (q8_0)"))
    assert made["quant"] == "Q8_0" and made["lineage"]["method"] == "quantize"
    # then Evaluate, measuring perplexity, with the parent and the new model ticked
    evaluate = window.panels["evaluate"]
    assert window.current_panel_id() == "evaluate"
    assert evaluate.kind.currentData() == "perplexity"
    qtbot.waitUntil(lambda: len(evaluate.ticked_models()) == 2, timeout=10000)
    assert made["id"] in evaluate.ticked_models()
    # back in Models, the original lists its quantized version with its size
    window.show_panel("models")
    panel.table.selectRow(panel.table_model.row_of_name("tiny-llama"))
    qtbot.waitUntil(lambda: "Quantized versions" in panel.details.toPlainText(), timeout=10000)
    text = panel.details.toPlainText()
    assert "f32 (original)" in text and "Q8_0" in text and "Perplexity not measured yet" in text
