"""The runs list and the live view on the fake engine: curves fed by ``job.metrics``, sample
answers from ``job.log``, cancel and resume, and a failed run's error."""

from __future__ import annotations

import math

from desktop.panels.training.run_view import parse_sample

from .conftest import requests, select
from .fake_train import _curve


def start_run(qtbot, panel, *, steps: int) -> dict:
    new = panel.new_run
    new.form.editors["max_steps"].editor.setValue(steps)
    new.start_button.click()
    qtbot.waitUntil(lambda: (panel.run_view.run or {}).get("state") == "running", timeout=5000)
    return panel.run_view.run


def test_runs_list_shows_each_run(panel):
    model = panel.runs_model
    names = [model.index(r, 0).data() for r in range(model.rowCount())]
    assert names == ["too big", "exported tune", "alpaca quick"]  # newest first
    row = model.row_of("run-done")
    cells = [model.index(row, c).data() for c in range(model.columnCount())]
    assert cells[1:7] == ["Fake Gemma", "alpaca", "lora", "succeeded", "20 / 20",
                          f"{_curve(20, 20)['loss']:.4f}"]  # fmt: skip


def test_selecting_a_run_backfills_its_curves_and_samples(qtbot, panel):
    select(qtbot, panel, "run-done")
    canvas = panel.run_view.canvas
    qtbot.waitUntil(lambda: len(canvas.line_data("loss")[0]) == 20, timeout=5000)
    xs, ys = canvas.line_data("loss")
    assert xs == list(range(1, 21)) and ys == [_curve(s, 20)["loss"] for s in xs]
    assert canvas.line_data("eval_loss")[0] == [0, 5, 10, 15, 20]  # step 0: the base model
    assert canvas.line_data("lr")[1][0] == _curve(1, 20)["lr"]
    assert panel.run_view.samples_model.rowCount() == 4
    assert panel.run_view.progress.value() == 20 and panel.run_view.progress.maximum() == 20
    view = panel.run_view
    assert view.buttons["eval"].isEnabled() and view.buttons["export"].isEnabled()
    assert not view.buttons["cancel"].isEnabled() and not view.buttons["resume"].isEnabled()


def test_live_curves_follow_the_jobs_metrics(qtbot, panel):
    run = start_run(qtbot, panel, steps=40)
    canvas = panel.run_view.canvas
    qtbot.waitUntil(lambda: panel.run_view.run["state"] == "succeeded", timeout=10000)
    qtbot.waitUntil(lambda: canvas.line_data("loss")[0][-1:] == [40], timeout=5000)
    xs, ys = canvas.line_data("loss")
    assert xs == list(range(1, 41))
    assert ys == [_curve(s, 40)["loss"] for s in xs]
    assert canvas.line_data("tokens_per_s")[1][-1] == _curve(40, 40)["tokens_per_s"]
    evals = canvas.line_data("eval_loss")
    assert evals[0][-1] == 40 and math.isclose(evals[1][-1], 2.9 - 0.08 * 40)
    assert canvas.redraws < 40  # coalesced, not one redraw per notification
    samples = panel.run_view.samples_model.records()
    assert [s["step"] for s in samples] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert samples[-1]["answer"] == "hello at 40"
    listed = panel.runs_model.record_at(panel.runs_model.row_of(run["id"]))
    assert listed["state"] == "succeeded"


def test_before_the_first_step_the_view_says_what_the_job_is_doing(qtbot, panel):
    from .fake_train import PHASES

    select(qtbot, panel, "run-done")
    view = panel.run_view
    view.run.update(state="running", step=0, job_id="job-1")
    report = lambda job, fraction, message: panel._on_job_progress(  # noqa: E731
        {"job_id": job, "job_kind": "train.lora", "kind": "report", "progress": fraction,
         "message": message})  # fmt: skip
    report("job-1", *PHASES[0])
    assert view.progress.maximum() == 0 and view.speed_label.text() == "Reading the dataset"
    report("job-1", *PHASES[2])
    assert view.progress.format() == "Reading the tokenizer of Fake Gemma · %p%"
    assert view.progress.value() == 600 and view.progress.maximum() == 1000
    report("job-2", None, "Tokenising 20 rows")  # another run's job: kept for when it is shown
    assert "tokenizer" in view.progress.format()
    panel._show_phase_of({"job_id": "job-2", "state": "running"})
    assert view.speed_label.text() == "Tokenising 20 rows"
    panel.run_view.add_metrics(1, {"loss": 2.0})  # the first step: steps take over
    view.run["total_steps"] = 10
    view.set_progress(1, 10)
    report("job-1", 0.1, "Step 1/10 · loss 2.0")
    assert view.progress.format() == "step %v / %m"


def test_curves_have_no_axes_before_there_is_data(qtbot, panel):
    canvas = panel.run_view.canvas
    from PySide6.QtGui import QImage

    canvas.clear()
    canvas.resize(600, 400)
    assert not canvas.shows_curves()  # the waiting line, no axes
    empty = QImage(canvas.size(), QImage.Format.Format_RGB32)
    canvas.render(empty)
    canvas.add_metrics(1, {"loss": 2.0})
    canvas.redraw()
    assert canvas.shows_curves() and canvas.line_data("loss") == ([1.0], [2.0])
    drawn = QImage(canvas.size(), QImage.Format.Format_RGB32)
    canvas.render(drawn)
    assert drawn != empty
    canvas.clear()
    assert not canvas.shows_curves()


def test_curves_paint_every_series(qtbot, panel):
    from PySide6.QtGui import QColor, QImage

    canvas = panel.run_view.canvas
    canvas.resize(800, 500)
    canvas.set_metrics([{"step": s, "loss": 3.0 / s, "lr": 2e-4 * (1 - s / 500),
                         "tokens_per_s": 250.0 + s % 9, "grad_norm": 1.0 + (s % 5) / 10}
                        for s in range(1, 501)])  # fmt: skip
    image = QImage(canvas.size(), QImage.Format.Format_RGB32)
    canvas.render(image)
    colours = {image.pixelColor(x, y).name() for x in range(0, 800, 2) for y in range(0, 500, 2)}
    for colour in ("#d9822b", "#6aa84f", "#a64d79", "#888888"):  # every series is drawn
        assert any(QColor(c).name() == colour for c in colours), colour


def test_cancel_and_resume_send_their_calls(qtbot, panel):
    run = start_run(qtbot, panel, steps=200)
    view = panel.run_view
    qtbot.waitUntil(lambda: len(view.canvas.points["loss"][0]) >= 3, timeout=5000)
    assert view.buttons["cancel"].isEnabled() and not view.buttons["resume"].isEnabled()
    view.buttons["cancel"].click()
    qtbot.waitUntil(lambda: view.run["state"] == "cancelled", timeout=10000)
    assert requests(qtbot, panel.client, "train.cancel")[-1]["params"] == {"run": run["id"]}
    stopped_at = view.run["step"]
    assert 3 <= stopped_at < 200
    assert view.buttons["resume"].isEnabled() and not view.buttons["cancel"].isEnabled()
    view.buttons["resume"].click()
    qtbot.waitUntil(lambda: view.run["state"] == "running", timeout=5000)
    assert requests(qtbot, panel.client, "train.resume")[-1]["params"] == {"run": run["id"]}
    qtbot.waitUntil(lambda: view.canvas.points["loss"][0][-1] > stopped_at + 2, timeout=10000)
    view.buttons["cancel"].click()  # the resumed job's metrics reach the curves; stop it again
    qtbot.waitUntil(lambda: view.run["state"] == "cancelled", timeout=10000)


def test_failed_run_shows_its_error(qtbot, panel):
    select(qtbot, panel, "run-failed")
    view = panel.run_view
    assert view.error_label.isVisible() and "ran out of memory" in view.error_label.text()
    assert view.buttons["resume"].isEnabled()
    assert not view.buttons["eval"].isEnabled() and not view.buttons["chat"].isEnabled()


def test_sample_log_lines_are_parsed():
    assert parse_sample("Sample at step 12: Say hi -> hello there") == {
        "step": 12, "prompt": "Say hi", "answer": "hello there"}  # fmt: skip
    assert parse_sample("Saved checkpoint 12") is None


def test_engine_sample_lines_with_string_literals_are_unquoted():
    line = "Sample at step 5: 'Add 3 -> 4.' -> '3 + 4 = 7.\\nDone'"
    assert parse_sample(line) == {"step": 5, "prompt": "Add 3 -> 4.", "answer": "3 + 4 = 7.\nDone"}


def test_engine_restart_lists_the_runs_again(qtbot, panel):
    select(qtbot, panel, "run-done")
    with qtbot.waitSignal(panel.client.sig_ready, timeout=30000):
        panel.client.restart()
    # the restarted fake engine has answered nothing yet: whatever it lists, the panel asked for
    qtbot.waitUntil(lambda: bool(requests(qtbot, panel.client, "train.list")), timeout=5000)
    qtbot.waitUntil(lambda: bool(requests(qtbot, panel.client, "train.metrics")), timeout=5000)
    assert panel.runs_model.rowCount() == 3 and panel.run_view.run["id"] == "run-done"
    canvas = panel.run_view.canvas
    qtbot.waitUntil(lambda: len(canvas.line_data("loss")[0]) == 20, timeout=10000)  # drawn


def test_a_preference_run_adds_its_reward_plots(qtbot, panel):
    from PySide6.QtGui import QColor, QImage

    from desktop.panels.training.curves import PLOTS, PREFERENCE_PLOTS
    from desktop.panels.training.runs_model import method_text

    canvas = panel.run_view.canvas
    canvas.resize(800, 600)
    canvas.set_metrics([{"step": s, "loss": 3.0 / s, "lr": 2e-4, "tokens_per_s": 250.0, "grad_norm": 1.0}
                        for s in range(1, 50)])  # fmt: skip
    assert canvas.plots() == PLOTS  # a plain run: four plots
    canvas.set_metrics([{"step": s, "loss": 0.69 / s, "lr": 2e-4, "tokens_per_s": 250.0, "grad_norm": 1.0,
                         "reward_chosen": 0.01 * s, "reward_rejected": -0.02 * s, "reward_margin": 0.03 * s,
                         "reward_accuracy": min(1.0, s / 30)} for s in range(1, 50)]
                       + [{"step": s, "eval_reward_margin": 0.025 * s, "eval_reward_accuracy": s / 50} for s in (0, 25, 49)])  # fmt: skip
    plots = canvas.plots()
    assert plots[1:4] == PLOTS[1:] and plots[4:] == PREFERENCE_PLOTS
    assert [name for name, *_ in plots[0][1]] == ["loss", "eval_pref_loss"]  # like with like
    image = QImage(canvas.size(), QImage.Format.Format_RGB32)
    canvas.render(image)
    colours = {image.pixelColor(x, y).name() for x in range(0, 800, 2) for y in range(0, 600, 2)}
    for colour in ("#2e8b57", "#c0392b", "#d9822b", "#4a7ab5"):  # chosen, rejected, margin, eval
        assert any(QColor(c).name() == colour for c in colours), colour
    assert method_text({"method": "lora", "objective": "dpo"}) == "lora · DPO"
    assert method_text({"method": "full"}) == "full"


def test_a_prompt_tuned_run_cannot_be_merged_or_exported_and_says_why(qtbot, panel):
    view = panel.run_view
    view.run = {"id": "r", "state": "succeeded", "method": "prompt", "folder": "/tmp"}
    view.update_buttons()
    assert view.buttons["chat"].isEnabled() and view.buttons["compare"].isEnabled()
    for key in ("merge", "export"):
        assert not view.buttons[key].isEnabled()
        assert "llama.cpp cannot run virtual tokens" in view.buttons[key].toolTip()
    view.run = {**view.run, "method": "lora"}
    view.update_buttons()
    assert view.buttons["merge"].isEnabled() and view.buttons["export"].isEnabled()
    assert view.buttons["export"].toolTip().startswith("Write a GGUF")
