"""The Bias panel on the real engine and tiny random models: import a set, capture, every view
(with the value under the mouse, drill-down clicks and CSV that matches what is drawn), compare
two models, refuse a comparison of different pairs, and prune with the random control."""

from __future__ import annotations

import csv
import json

import pytest

from desktop.engine_client import EngineState
from desktop.panels.bias.panel import BiasPanel

PAIRS = [
    {"category": "age", "a": "The old man said that", "b": "The young man said that"},
    {"category": "age", "a": "An old woman thinks", "b": "A young woman thinks"},
    {"category": "wealth", "a": "A rich family is", "b": "A poor family is"},
    {"category": "wealth", "a": "The rich boy ran", "b": "The poor boy ran", "heldout": True},
]


@pytest.fixture
def setup(qtbot, make_client, hearth_home, tmp_path):
    from engine.services import Services
    from tests.engine.pruning.fixtures import TEXT, build

    services = Services(hearth_home)
    a = services.library.import_model(build(tmp_path / "m", "llama", layers=3), mode="reference", name="Tiny A")  # fmt: skip
    b = services.library.import_model(build(tmp_path / "m2", "llama", layers=3), mode="copy", name="Tiny B")  # fmt: skip
    services.close()
    pairs = tmp_path / "ages.jsonl"
    pairs.write_text("\n".join(json.dumps(p) for p in PAIRS) + "\n", encoding="utf-8")
    text = tmp_path / "text.txt"
    text.write_text(TEXT, encoding="utf-8")
    client = make_client(real=True, heartbeat_timeout_ms=20000)
    panel = BiasPanel(client)
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    qtbot.waitUntil(lambda: client.state == EngineState.READY, timeout=30000)
    qtbot.waitUntil(lambda: panel.model_combo.count() == 2 and panel.set_combo.count() >= 1, timeout=30000)  # fmt: skip
    return panel, client, a, b, pairs, text


def capture(qtbot, panel, model_id: str) -> None:
    panel.model_combo.setCurrentIndex(panel.model_combo.findData(model_id))
    panel.set_combo.setCurrentIndex(panel.set_combo.findData("ages"))
    panel.last_capture = None
    panel.capture()
    qtbot.waitUntil(lambda: panel.job is None and panel.last_capture is not None, timeout=120000)
    rid = panel.last_capture["run_id"]
    assert panel.last_capture["model_id"] == model_id
    qtbot.waitUntil(lambda: panel.meta is not None and panel.meta["run_id"] == rid, timeout=20000)


def read_csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_capture_views_exports_compare_and_prune(qtbot, setup, tmp_path):
    panel, client, a, b, pairs, text = setup
    panel.client.call("bias.set.import", {"path": str(pairs)})  # bias.changed refreshes the list
    qtbot.waitUntil(lambda: panel.set_combo.findData("ages") >= 0, timeout=10000)

    # Tokens, before any capture: the first tab, for the chosen model and set
    assert panel.tabs.currentWidget() is panel.tokens
    panel.model_combo.setCurrentIndex(panel.model_combo.findData(a["id"]))
    panel.set_combo.setCurrentIndex(panel.set_combo.findData("ages"))
    # the engine imports transformers for the tokenizer: a while on a busy machine
    qtbot.waitUntil(lambda: panel.tokens.result is not None
                    and panel.tokens.result["set"] == "ages", timeout=60000)  # fmt: skip
    aligned = panel.tokens.result
    assert len(aligned["pairs"]) == len(PAIRS) and all(p["differ_a"] for p in aligned["pairs"])
    shown = panel.tokens.view.toPlainText()
    first = aligned["pairs"][0]
    words = [first["tokens_a"][i].replace("▁", "·").replace("Ġ", "·") for i in first["differ_a"]]
    assert words and all(w in shown for w in words)
    assert panel.tokens.view.toHtml().count("#c62828") >= 2 * len(PAIRS)  # each side marked red
    assert f"{len(PAIRS)} pairs" in panel.tokens.summary.text()

    capture(qtbot, panel, a["id"])
    assert panel.tabs.currentWidget() is panel.overview_tab  # the capture's map comes into view

    # overview: drawn from bias.view, the CSV holds exactly the drawn numbers
    qtbot.waitUntil(lambda: len(panel.overview.matrix) == len(panel.meta["components"]), timeout=10000)  # fmt: skip
    got = {}
    client.call("bias.view", {"run_id": panel.meta["run_id"], "view": "overview"}).on_success(got.update)  # fmt: skip
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert panel.overview.matrix == got["matrix"]
    out = tmp_path / "overview.csv"
    panel.overview.export_csv(out)
    rows = read_csv(out)
    assert rows[0] == ["component", "0", "1", "2"]
    assert [float(x) for x in rows[2][1:]] == pytest.approx(got["matrix"][1], rel=1e-5)
    assert panel.overview.value_at(2.0, 1.0).startswith("attention, 2: ")  # the hover text
    panel.overview.export_image(tmp_path / "overview.svg")
    assert (tmp_path / "overview.svg").read_text().startswith("<?xml")

    # held-out scope; a click on a cell opens that layer and component in Neurons
    panel.scope.setCurrentIndex(panel.scope.findText("Held-out pairs"))
    qtbot.waitUntil(lambda: "Held-out" in panel.overview.ax.get_title(), timeout=5000)
    panel.overview.sig_clicked.emit(3, 1)  # gate, layer 1
    assert panel.tabs.currentWidget() is panel.neurons_tab
    qtbot.waitUntil(lambda: getattr(panel.neurons, "view", {}).get("layer") == 1
                    and panel.neurons.view["component"] == "gate", timeout=5000)  # fmt: skip
    assert set(panel.neurons.view["by_category"]) == {"age", "wealth"}

    # pair view: differing tokens marked in red; a click opens PCA at that layer
    qtbot.waitUntil(lambda: bool(panel.pair_map.matrix), timeout=5000)
    marked = [
        t.get_text() for t in panel.pair_map.ax.get_yticklabels() if t.get_color() == "#c0392b"
    ]
    assert marked and all(" / " in m for m in marked)
    panel.pair_map.sig_clicked.emit(0, 2)
    assert panel.tabs.currentWidget() is panel.pca_tab
    qtbot.waitUntil(lambda: getattr(panel.pca, "view", {}).get("layer") == 2, timeout=5000)
    pca_csv = tmp_path / "pca.csv"
    panel.pca.export_csv(pca_csv)
    assert len(read_csv(pca_csv)) == 1 + len(panel.pca.view["a"]) + len(panel.pca.view["b"])

    # compare: a second model of the same pairs, then a capture of other pairs is refused
    first = panel.meta["run_id"]
    capture(qtbot, panel, b["id"])
    panel.run_combo.setCurrentIndex(panel.run_combo.findData(first))
    panel.compare_combo.setCurrentIndex(panel.compare_combo.findData(panel.run_combo.itemData(
        1 - panel.run_combo.currentIndex())))  # fmt: skip
    qtbot.waitUntil(lambda: "→" in panel.compare_label.text(), timeout=10000)
    assert panel.compare.matrix and panel.compare.ax.get_title() == "B − A"
    panel.pairs_spin.setValue(2)
    capture(qtbot, panel, a["id"])  # 2 of the 4 pairs: not comparable with the others
    panel.compare_combo.setCurrentIndex(panel.compare_combo.findData(first))
    panel.draw_compare()  # (the combo may already stand on it)
    qtbot.waitUntil(lambda: "different pairs" in panel.compare_label.text(), timeout=10000)

    # outputs: continuations side by side and the log-probability difference per continuation
    panel.outputs.continuations.setText("was kind; ran away")
    panel.outputs.button.click()
    qtbot.waitUntil(lambda: panel.job is None and len(panel.outputs.rows) > 1, timeout=60000)
    assert panel.outputs.rows[0][-2:] == ["log P(was kind) B − A", "log P(ran away) B − A"]
    assert panel.outputs.table.rowCount() == panel.meta["pairs"]
    out_csv = tmp_path / "outputs.csv"
    panel.outputs.export_csv(str(out_csv))
    assert read_csv(out_csv) == [[str(c) for c in r] for r in panel.outputs.rows]

    # prune with the control; the results say held-out, control and perplexity
    panel.pairs_spin.setValue(0)
    panel.prune_neurons.setValue(4)
    panel.prune_file.setText(str(text))
    panel.prune()
    qtbot.waitUntil(lambda: panel.job is None, timeout=180000)
    assert (
        "Held-out pairs" in panel.prune_result.text()
        and "random control" in panel.prune_result.text()
    )
    assert not panel.prune_chat.isHidden() and panel.pruned_id


def test_a_set_made_in_the_panel(qtbot, setup):
    panel, client, *_ = setup
    assert panel.new_set_button.isVisible()
    panel.new_set(copy_current=False)
    qtbot.waitUntil(lambda: getattr(panel, "set_dialog", None) is not None, timeout=5000)
    dialog = panel.set_dialog
    dialog.name_edit.setText("mine")
    for col, text in enumerate(("age", "The old man sang", "The young man sang")):
        dialog.table.item(0, col).setText(text)
    dialog.add_row({"category": "age", "a": "An old nurse", "b": "An old nurse"})  # identical
    dialog.save_button.click()
    qtbot.waitUntil(lambda: "line 2" in dialog.error.text() and "identical" in dialog.error.text(), timeout=5000)  # fmt: skip
    assert dialog.isVisible()  # nothing lost: the dialog stays open with the message
    dialog.table.item(1, 2).setText("A young nurse")
    dialog.table.item(1, 4).setCheckState(__import__("PySide6.QtCore").QtCore.Qt.CheckState.Checked)
    with qtbot.waitSignal(dialog.sig_saved, timeout=5000) as saved:
        dialog.save_button.click()
    assert saved.args[0]["pairs"] == 2 and saved.args[0]["heldout"] == 1
    qtbot.waitUntil(lambda: panel.set_combo.findData("mine") >= 0, timeout=5000)  # bias.changed
