"""The Pruning panel's wizard on the real engine and a tiny random Llama: pick, choose, calibrate,
preview (the scores plot), prune (the job in a worker), read the results, export to GGUF. No fake
engine, so nothing here can drift from what the engine answers."""

from __future__ import annotations

import pytest

from desktop.engine_client import EngineState
from desktop.panels.pruning.panel import CALIBRATION, METHOD, PREVIEW, RESULTS, RUN, PruningPanel


@pytest.fixture
def setup(qtbot, make_client, hearth_home, tmp_path):
    from engine.services import Services
    from tests.engine.pruning.fixtures import TEXT, build

    folder = build(tmp_path / "models", "llama")
    services = Services(hearth_home)
    model = services.library.import_model(folder, mode="reference", name="Tiny Llama")
    services.close()
    text = tmp_path / "calibration.txt"
    text.write_text(TEXT, encoding="utf-8")
    client = make_client(real=True, heartbeat_timeout_ms=20000)
    panel = PruningPanel(client)
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    qtbot.waitUntil(lambda: client.state == EngineState.READY, timeout=30000)
    qtbot.waitUntil(lambda: panel.model_page.model is not None and bool(panel.method_page.radios), timeout=30000)  # fmt: skip
    return panel, model, text


def to_preview(qtbot, panel, text, *, method="width"):
    panel.next_button.click()
    assert panel.stack.currentIndex() == METHOD
    panel.method_page.radios[method].setChecked(True)
    if method == "width":
        panel.method_page.percent.setValue(25)
    else:
        panel.method_page.blocks.setValue(2)
    panel.next_button.click()
    assert panel.stack.currentIndex() == CALIBRATION
    page = panel.calibration_page
    page.use_file.setChecked(True)
    panel.next_button.click()  # no file yet: refused with a message
    assert panel.stack.currentIndex() == CALIBRATION and "file" in panel.message.text()
    page.file.setText(str(text))
    page.seq_len.setValue(32)
    page.cal_tokens.setValue(512)
    page.eval_tokens.setValue(256)
    panel.next_button.click()
    assert panel.stack.currentIndex() == PREVIEW


def test_wizard_previews_prunes_and_shows_results(qtbot, setup):
    panel, model, text = setup
    assert "Tiny Llama" in panel.model_page.combo.currentText()
    to_preview(qtbot, panel, text, method="depth")
    panel.preview_page.preview_button.click()
    qtbot.waitUntil(lambda: panel.preview_page.plan is not None, timeout=120000)
    plan = panel.preview_page.plan
    assert plan["blocks_before"] == 8 and plan["blocks_after"] == 6
    bars = panel.preview_page.canvas.ax.patches
    reds = [b for b in bars if b.get_facecolor()[:3] == pytest.approx((0xC0 / 255, 0x39 / 255, 0x2B / 255), abs=1e-3)]  # fmt: skip
    assert len(bars) == 8 and len(reds) == 2
    assert "blocks 8 → 6" in panel.preview_page.summary.text()

    # changing the method drops the stale preview
    panel.go(METHOD)
    panel.method_page.radios["width"].setChecked(True)
    panel.method_page.percent.setValue(25)
    assert panel.preview_page.plan is None
    panel.go(PREVIEW)
    panel.preview_page.preview_button.click()
    qtbot.waitUntil(lambda: panel.preview_page.plan is not None, timeout=120000)
    assert panel.preview_page.plan["width_after"] == 192
    assert "MLP width 256 → 192" in panel.preview_page.summary.text()

    panel.next_button.click()
    assert panel.stack.currentIndex() == RUN
    panel.run_page.name.setText("Narrow llama")
    panel.run_page.run_button.click()
    qtbot.waitUntil(lambda: panel.stack.currentIndex() == RESULTS and panel.results_page.run is not None, timeout=180000)  # fmt: skip
    results = panel.results_page
    assert results.run["name"] == "Narrow llama" and results.run["state"] == "succeeded"
    assert results.figures.item(0, 0).text() == "Parameters"
    assert results.figures.item(2, 1).text() != "–" and results.figures.item(2, 2).text() != "–"
    assert results.answers.rowCount() == 3
    qtbot.waitUntil(lambda: panel.runs.count() == 1, timeout=10000)
    offsets = results.frontier.ax.collections
    assert len(offsets) == 2  # the pruned model and the original

    results.export_button.click()
    qtbot.waitUntil(lambda: "q8_0" in results.notes.text(), timeout=180000)
    assert "gguf_q8_0" in results.run["models"]
    labels = [results.figures.item(r, 0).text() for r in range(results.figures.rowCount())]
    assert any(label.startswith("Tokens/s (llama.cpp") for label in labels)

    # recovery: a distillation training run, then a row with its held-out perplexity
    results.recover_steps.setValue(3)
    results.recover_button.click()
    qtbot.waitUntil(lambda: bool((results.run or {}).get("recoveries")), timeout=240000)
    labels = [results.figures.item(r, 0).text() for r in range(results.figures.rowCount())]
    assert "Perplexity after 3 distillation steps" in labels
