"""Training > Cluster on the real engine: "Run on a cluster…" writes the hand-off folder of a
finished run, and "Import cluster result…" brings an adapter back as a new run and library model.
(The adapter brought back here is the run's own: running the cluster script is
tests/engine/training/test_handoff.py's part.)"""

from __future__ import annotations

import shutil
from pathlib import Path

from desktop.engine_client import EngineState
from desktop.panels.training.panel import TrainingPanel


def test_hand_off_a_run_and_import_the_result(qtbot, make_client, hearth_home, tmp_path, monkeypatch):  # fmt: skip
    from engine.services import Services
    from tests.engine.runtimes.fixtures import tiny_hf
    from tests.engine.training.conftest import import_dataset, memo_rows, new_run, train

    monkeypatch.setenv("HEARTH_EXTRA_JOB_MODULES", "tests.engine.jobkinds")
    services = Services(hearth_home)
    tiny = services.library.import_model(tiny_hf(tmp_path), mode="reference", name="Tiny")["id"]
    run_id = new_run(services, tiny, import_dataset(services, tmp_path, memo_rows()), max_steps=2)
    train(services, run_id)
    services.close()

    client = make_client(real=True)
    panel = TrainingPanel(client)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: client.state == EngineState.READY, timeout=30000)
    panel.refresh()
    qtbot.waitUntil(lambda: panel.runs_model.rowCount() == 1, timeout=15000)
    panel.select_run(run_id)
    qtbot.waitUntil(lambda: (panel.run_view.run or {}).get("state") == "succeeded", timeout=10000)
    cluster = panel.run_view.buttons["cluster"]
    assert cluster.isEnabled() and cluster.menu() is not None
    actions = panel.actions
    parent = tmp_path / "for-the-cluster"
    parent.mkdir()
    actions.ask_folder = lambda _title: str(parent)
    actions.handoff_action.trigger()
    qtbot.waitUntil(
        lambda: "On the cluster: accelerate launch" in panel.message.text(), timeout=60000
    )
    out = parent / f"{run_id}-cluster"
    assert (out / "train.py").is_file() and (out / "data" / "train_tokens.jsonl").is_file()

    # the cluster's output: here, the run's own adapter in the place train.py writes it
    shutil.copytree(Path(panel.run_view.run["folder"]) / "adapter", out / "output" / "adapter")
    actions.ask_folder = lambda _title: str(out)
    actions.import_action.trigger()
    qtbot.waitUntil(lambda: "is now the run" in panel.message.text(), timeout=120000)
    qtbot.waitUntil(lambda: panel.runs_model.rowCount() == 2, timeout=15000)
    names = [panel.runs_model.record_at(r)["name"] for r in range(2)]
    assert any(n.endswith("(cluster)") for n in names)
    models = client.call("models.list")
    qtbot.waitUntil(lambda: models.done, timeout=10000)
    assert any(m["name"].endswith("(cluster) (LoRA)") and m["role"] == "adapter" for m in models.result["models"])  # fmt: skip
