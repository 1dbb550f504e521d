"""The Evaluate panel on the real engine and a tiny random model: an answers run with metrics
(results with intervals, the chart, the rows, CSV that matches them, the leaderboard), a
multiple-choice run, and a refusal that says what is missing."""

from __future__ import annotations

import csv

import pytest
from PySide6.QtCore import Qt

from desktop.engine_client import EngineState
from desktop.panels.evaluate.panel import EvaluatePanel
from tests.engine.evaluation.conftest import CHOICE, QA, import_rows


@pytest.fixture
def setup(qtbot, make_client, hearth_home, tmp_path):
    from engine.services import Services
    from tests.engine.pruning.fixtures import build

    services = Services(hearth_home)
    model = services.library.import_model(build(tmp_path / "m", "llama", layers=2), mode="reference", name="Tiny A")  # fmt: skip
    services.library.import_model(
        build(tmp_path / "m", "gpt2", layers=2), mode="reference", name="Tiny B"
    )
    import_rows(services, tmp_path, "qa", QA)
    import_rows(services, tmp_path, "mc", CHOICE)
    import_rows(services, tmp_path, "plain", [{"text": "prose"}, {"text": "more prose"}])
    services.close()
    client = make_client(real=True, heartbeat_timeout_ms=20000)
    panel = EvaluatePanel(client)
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    qtbot.waitUntil(lambda: client.state == EngineState.READY, timeout=30000)
    qtbot.waitUntil(lambda: panel.models.count() == 2 and panel.dataset.count() == 4, timeout=30000)  # fmt: skip
    return panel, client, model


def _pick(panel, kind: str, dataset: str) -> None:
    panel.kind.setCurrentIndex(panel.kind.findData(kind))
    index = next(i for i in range(panel.dataset.count()) if panel.dataset.itemText(i).startswith(dataset + " "))  # fmt: skip
    panel.dataset.setCurrentIndex(index)


def test_answers_run_results_chart_rows_and_leaderboard(qtbot, setup, tmp_path):
    panel, client, model = setup
    panel.start()
    assert "Tick at least one model" in panel.message.label.text()
    panel.open_model(model["id"])
    assert panel.ticked_models() == [model["id"]]
    _pick(panel, "tasks", "plain")
    panel.start()
    qtbot.waitUntil(lambda: "plain text" in panel.message.label.text(), timeout=10000)

    _pick(panel, "tasks", "qa")
    for key, box in panel.metric_boxes.items():
        box.setChecked(key in ("exact_match", "f1", "chrf"))
    panel.limit.setValue(3)
    panel.max_tokens.setValue(4)
    panel.start()
    qtbot.waitUntil(lambda: panel.job is None and panel.shown is not None and panel.shown.get("state") == "done", timeout=120000)  # fmt: skip
    shown = panel.shown
    assert [panel.results.horizontalHeaderItem(c).text() for c in range(panel.results.columnCount())] == ["model", "exact_match", "f1", "chrf"]  # fmt: skip
    f1 = shown["results"][0]["metrics"]["f1"]
    assert (
        panel.results.item(0, 2).text().startswith(f"{f1['value']:.4g} [")
        or f1["ci_low"] == f1["ci_high"]
    )
    # the chart draws the chosen metric's bars with their intervals; its CSV is the drawn numbers
    panel.tabs.setCurrentIndex(1)  # the chart in view (a canvas must survive being shown)
    qtbot.wait(100)
    panel.chart_metric.setCurrentIndex(panel.chart_metric.findData("chrf"))
    assert panel.chart.rows == [["Tiny A", *(shown["results"][0]["metrics"]["chrf"][k] for k in ("value", "ci_low", "ci_high"))]]  # fmt: skip
    assert "chrf" in panel.chart.value_at(0.0, 1.0)
    panel.chart.sig_clicked.emit(0, 0)  # a bar: its model's rows
    assert panel.tabs.currentIndex() == 2 and panel.row_model.currentData() == model["id"]
    assert panel.rows.rowCount() == 3
    assert panel.rows.item(0, 3).text() in {q["output"] for q in QA[:3]}
    out = tmp_path / "rows.csv"
    panel.write_csv(out)
    with open(out, newline="", encoding="utf-8") as fh:
        written = list(csv.reader(fh))
    assert written[0] == ["row", "model_id", "input", "reference", "prediction", "chrf", "exact_match", "f1"]  # fmt: skip
    assert [r[4] for r in written[1:]] == [r["prediction"] for r in panel.visible_rows()]
    assert panel.board.rowCount() == 1 and panel.board.item(0, 0).text() == "Tiny A"
    panel.chart.export_image(tmp_path / "chart.svg")
    assert (tmp_path / "chart.svg").read_text().startswith("<?xml")


def test_multiple_choice_run(qtbot, setup):
    panel, client, model = setup
    panel.open_model(model["id"])
    _pick(panel, "choice", "mc")
    assert not panel.metrics_widget.isEnabled()
    panel.start()
    qtbot.waitUntil(lambda: panel.job is None and panel.shown is not None and panel.shown.get("kind") == "choice"
                    and panel.shown.get("state") == "done", timeout=120000)  # fmt: skip
    headers = [
        panel.results.horizontalHeaderItem(c).text() for c in range(panel.results.columnCount())
    ]
    assert headers == ["model", "accuracy", "accuracy_norm"]
    assert panel.ticked_models() == [model["id"]]
    # the harness is an optional install: without it the engine says how to get it
    panel.kind.setCurrentIndex(panel.kind.findData("harness"))
    assert panel.tasks_edit.isVisible() and not panel.dataset.isEnabled()
    panel.tasks_edit.setText("arc_easy")
    panel.start()
    qtbot.waitUntil(lambda: "lm-eval" in panel.message.label.text(), timeout=10000)


def test_arena_votes_blind_and_exports_preferences(qtbot, setup):
    panel, client, model = setup
    for i in range(panel.models.count()):
        panel.models.item(i).setCheckState(Qt.CheckState.Checked)
    panel.kind.setCurrentIndex(panel.kind.findData("arena"))
    assert (
        panel.prompts_edit.isVisible()
        and not panel.judge.isEnabled()
        and panel.max_tokens.isEnabled()
    )
    panel.prompts_edit.setPlainText("Say hi.\nName a fruit.")
    panel.max_tokens.setValue(3)
    panel.start()
    qtbot.waitUntil(lambda: panel.job is None and panel.arena.shown is not None
                    and panel.arena.shown.get("index") == 0, timeout=120000)  # fmt: skip
    assert panel.tabs.currentWidget() is panel.arena
    assert len(panel.arena.boxes) == 2 and panel.arena.vote_buttons["B"].isVisible()
    assert not panel.arena.vote_buttons["C"].isVisible()
    assert "Tiny" not in panel.arena.prompt.text()  # blind: no model names next to the answers
    panel.arena.vote_buttons["A"].click()
    qtbot.waitUntil(lambda: panel.arena.board is not None and panel.arena.board["votes"] == 1, timeout=10000)  # fmt: skip
    qtbot.waitUntil(lambda: panel.arena.shown.get("index") == 1, timeout=10000)
    assert panel.arena.table.rowCount() == 2
    panel.arena.export_as("prefs")
    qtbot.waitUntil(lambda: "1 preference rows" in panel.message.label.text(), timeout=10000)


def test_a_training_evaluation_opens_here(qtbot, setup, hearth_home):
    """Training's evaluation is stored as a perplexity run; its link shows that run here."""
    from engine.services import Services
    from engine.training.evaluate import record_in_evaluations

    panel, _client, model = setup
    services = Services(hearth_home)
    run = {"id": "run-1", "name": "Tuned A", "dataset": {"ref": "qa", "name": "qa"},
           "artifacts": {}, "models": {}}  # fmt: skip
    measured = {"loss_before": 2.0, "loss_after": 1.5, "validation_tokens": 90, "validation_rows": 5}  # fmt: skip
    run_id = record_in_evaluations(services, run, services.library.get(model["id"]), measured)
    services.close()
    panel.open_run(run_id)
    qtbot.waitUntil(lambda: (panel.shown or {}).get("run_id") == run_id, timeout=10000)
    assert panel.results.rowCount() == 2
    assert [panel.results.item(r, 0).text() for r in range(2)] == ["Tiny A", "Tuned A (tuned)"]
    assert panel.results.item(1, 1).text().startswith("4.48")  # exp(1.5)
