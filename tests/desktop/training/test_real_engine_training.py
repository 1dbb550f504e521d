"""The Training panel on the real engine: the form is built from the real ``train.options`` and
the memory plan for the bundled Gemma comes back (no training here: tests/engine/training does
that)."""

from __future__ import annotations

from PySide6.QtWidgets import QSpinBox

from desktop.engine_client import EngineState
from desktop.panels.training.panel import EMPTY_HINT, TrainingPanel


def test_real_options_and_plan_for_the_bundled_model(qtbot, make_client, hearth_home, tmp_path):
    from engine.services import Services
    from tests.engine.runtimes.fixtures import bundled_home

    bundled_home(hearth_home)  # the bundled Gemma in the library, without assembling
    services = Services(hearth_home)
    services.library.ensure_bundled()
    services.close()
    client = make_client(real=True)
    panel = TrainingPanel(client)
    qtbot.addWidget(panel)
    panel.resize(1200, 760)
    panel.show()
    qtbot.waitUntil(lambda: client.state == EngineState.READY, timeout=30000)
    new = panel.new_run
    qtbot.waitUntil(lambda: "rank" in new.form.editors, timeout=30000)
    rank = new.form.editors["rank"]
    assert isinstance(rank.editor, QSpinBox) and rank.value() == 16
    assert "LoRA rank" in rank.editor.toolTip()
    assert {"lora", "dora", "qlora", "full"} <= {
        new.method_combo.itemData(i) for i in range(new.method_combo.count())
    }
    assert panel.runs_model.rowCount() == 0 and panel.runs_view.hint == EMPTY_HINT
    qtbot.waitUntil(lambda: bool(new.model_combo.currentData()), timeout=30000)
    qtbot.waitUntil(lambda: new.plan_view.verdict() in ("ok", "warn", "refuse"), timeout=60000)
    plan = new.plan_view.plan
    assert plan["parts"]["weights"] > 0 and plan["total_bytes"] > plan["parts"]["weights"]
    assert "needed" in new.plan_view.verdict_label.text()
    new.form.editors["batch_size"].editor.setValue(64)
    new.form.editors["seq_len"].editor.setValue(4096)
    qtbot.waitUntil(lambda: new.plan_view.plan["total_bytes"] > plan["total_bytes"], timeout=60000)
