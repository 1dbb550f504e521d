"""Bias panel: capture a prompt pair set on a model once, then look at the differences from the
stored arrays (``bias.view``), compare two models, and prune the neurons that carry the most bias
against a random control.

Top: model, set (built-in, written in the panel or imported JSONL; export writes one), how many
pairs, *Capture* (a ``bias.capture`` job, followed with ``EngineClient.start_job``), and the
stored captures. Tabs:

- Tokens: how the selected model's tokenizer cuts each pair, differing tokens in red, pairs of
  unequal spans marked joined (before any capture: ``bias.align``);
- Overview: component x layer, over all pairs, the selection or held-out part, a category or one
  pair; clicking a cell opens that layer and component in Neurons;
- Pair: aligned tokens x layer for one component, the differing tokens in red; a click opens PCA;
- Neurons: the top neurons of a layer and component, with every category's score;
- PCA: both prompts' tokens on two principal components, arrows between matching tokens;
- Compare: another capture of the same pairs (base and pruned or fine-tuned), as A, B or B − A;
- Outputs: both prompts' greedy continuations side by side, and how much likelier each given
  continuation is after B than after A (log-probabilities), to check a difference in behaviour;
- Prune: bias-targeted pruning with its random control, results on the held-out pairs.

Every plot shows the value under the mouse and saves as PNG or SVG, and its numbers as CSV.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient, EngineState, JobFailure, JobHandle
from desktop.errors import EngineError
from desktop.panels.bias.outputs_tab import OutputsTab
from desktop.panels.bias.set_actions import SetActions
from desktop.panels.bias.tokens_tab import TokensTab
from desktop.widgets import MessageBar, open_in_chat

SCOPES = (("All pairs", {}), ("Selection pairs", {"part": "selection"}),
          ("Held-out pairs", {"part": "heldout"}))  # fmt: skip


def _token_text(token: str) -> str:
    """A token as people read it: SentencePiece's ▁ and GPT-2's Ġ as spaces, a blank as ␣."""
    return token.replace("▁", " ").replace("Ġ", " ").strip() or "␣"


def _combo(tip: str) -> QComboBox:
    box = QComboBox()
    box.setToolTip(tip)
    return box


class BiasPanel(SetActions, QWidget):
    sig_open_chat = Signal(str)

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.meta: dict[str, Any] | None = None
        self.job: JobHandle | None = None
        self.pruned_id = ""
        self.last_capture: dict[str, Any] | None = None
        self._seq: dict[str, int] = {}  # latest request per view kind
        self._tokens_key = ""  # the model, set and pairs the Tokens tab shows
        self.message = MessageBar()
        self.model_combo = _combo("The model whose activations are captured")
        self.set_combo = _combo("The prompt pair set")
        self.pairs_spin = QSpinBox()
        self.pairs_spin.setRange(0, 5000)
        self.pairs_spin.setSpecialValueText("all")
        self.pairs_spin.setToolTip(
            "How many pairs to use, spread over the categories (all: every pair)"
        )
        self.capture_button = QPushButton("Capture")
        self.capture_button.setToolTip(
            "Run every prompt through the model once and store every layer"
        )
        self.new_set_button = QPushButton("New set…")
        self.new_set_button.setToolTip("Write pairs here, or start from a copy of the selected set")
        self.import_button = QPushButton("Import set…")
        self.import_button.setToolTip('A JSONL file of {"category", "a", "b", "note"} lines')
        self.export_button = QPushButton("Export set…")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.run_combo = _combo("Stored captures: model, set and number of pairs")
        self.status = QLabel()
        top = QHBoxLayout()
        for label, widget in (("Model", self.model_combo), ("Set", self.set_combo), ("Pairs", self.pairs_spin)):  # fmt: skip
            top.addWidget(QLabel(label))
            top.addWidget(widget, 1 if widget is not self.pairs_spin else 0)
        for widget in (
            self.capture_button,
            self.cancel_button,
            self.new_set_button,
            self.import_button,
            self.export_button,
        ):
            top.addWidget(widget)
        runs = QHBoxLayout()
        runs.addWidget(QLabel("Capture"))
        runs.addWidget(self.run_combo, 1)
        runs.addWidget(self.status, 2)

        self.tabs = QTabWidget()  # filled when the panel is first shown (matplotlib loads then)
        self._built = False
        self.compare_combo = _combo("A capture of the same pairs on another model")
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addLayout(top)
        layout.addLayout(runs)
        layout.addWidget(self.tabs, 1)

        self.capture_button.clicked.connect(self.capture)
        self.cancel_button.clicked.connect(lambda: self.job and self.job.cancel())
        self.import_button.clicked.connect(self.import_set)
        self.new_set_button.clicked.connect(lambda: self.new_set())
        self.export_button.clicked.connect(self.export_set)
        self.run_combo.currentIndexChanged.connect(lambda _i: self.load_run())
        client.sig_ready.connect(lambda _r: self.refresh())
        client.sig_models_changed.connect(self.refresh)
        client.sig_notification.connect(
            lambda method, _p: method == "bias.changed" and self.refresh()
        )
        if client.state == EngineState.READY:
            self.refresh()

    # -- building ------------------------------------------------------------------------------
    def showEvent(self, event: Any) -> None:
        if not self._built:
            self._build_tabs()
            if self.meta is not None:
                self._show_run(self.meta)
        super().showEvent(event)

    def _build_tabs(self) -> None:
        from desktop.panels.bias.plots import HeatmapCanvas, NeuronsCanvas, PcaCanvas
        from desktop.plot_canvas import PlotTab

        self._built = True
        self.scope = _combo("Which pairs the map averages over")
        self.overview = HeatmapCanvas()
        self.overview_tab = PlotTab(
            self.overview, name="bias-overview", controls=self._row(("Pairs", self.scope))
        )
        self.pair_combo = _combo("One pair of the capture")
        self.pair_component = _combo("The component drawn")
        self.pair_map = HeatmapCanvas()
        self.pair_tab = PlotTab(self.pair_map, name="bias-pair", controls=self._row(("Pair", self.pair_combo), ("Component", self.pair_component)))  # fmt: skip
        self.n_layer = QSpinBox()
        self.n_component = _combo("The component whose neurons are ranked")
        self.n_k = QSpinBox()
        self.n_k.setRange(1, 200)
        self.n_k.setValue(20)
        self.neurons = NeuronsCanvas()
        self.neurons_tab = PlotTab(self.neurons, name="bias-neurons", controls=self._row(("Layer", self.n_layer), ("Component", self.n_component), ("Top", self.n_k)))  # fmt: skip
        self.pca_pair = _combo("One pair of the capture")
        self.pca_layer = QSpinBox()
        self.pca_component = _combo("The activations projected")
        for c in ("residual", "attention", "mlp"):
            self.pca_component.addItem(c, c)
        self.pca = PcaCanvas()
        self.pca_tab = PlotTab(self.pca, name="bias-pca", controls=self._row(("Pair", self.pca_pair), ("Layer", self.pca_layer), ("Component", self.pca_component)))  # fmt: skip
        self.compare_show = _combo("What the map shows")
        for text, key in (("B − A", "difference"), ("A", "a"), ("B", "b")):
            self.compare_show.addItem(text, key)
        self.compare_label = QLabel()
        self.compare = HeatmapCanvas()
        self.compare_tab = PlotTab(self.compare, name="bias-compare", controls=self._row(("Compare with", self.compare_combo), ("Show", self.compare_show), ("", self.compare_label)))  # fmt: skip
        self.tokens = TokensTab()
        self.tokens.sig_check.connect(lambda: self.check_tokens(force=True))
        self.tabs.addTab(self.tokens, "Tokens")
        for title, tab in (("Overview", self.overview_tab), ("Pair", self.pair_tab), ("Neurons", self.neurons_tab),
                           ("PCA", self.pca_tab), ("Compare", self.compare_tab)):  # fmt: skip
            self.tabs.addTab(tab, title)
        self.outputs = OutputsTab()
        self.outputs.sig_generate.connect(self.generate_outputs)
        self.outputs_button = self.outputs.button
        self.tabs.addTab(self.outputs, "Outputs")
        self.tabs.addTab(self._prune_tab(), "Prune")
        self.tabs.setCurrentWidget(self.overview_tab if self.meta is not None else self.tokens)
        self.tabs.currentChanged.connect(lambda _i: self.check_tokens())
        for box in (self.model_combo, self.set_combo):
            box.currentIndexChanged.connect(lambda _i: self.check_tokens())
        self.pairs_spin.valueChanged.connect(lambda _v: self.check_tokens())
        self.scope.currentIndexChanged.connect(lambda _i: self.draw_overview())
        self.overview.sig_clicked.connect(self._overview_clicked)
        for w in (self.pair_combo, self.pair_component):
            w.currentIndexChanged.connect(lambda _i: self.draw_pair())
        self.pair_map.sig_clicked.connect(self._pair_clicked)
        self.n_layer.valueChanged.connect(lambda _v: self.draw_neurons())
        self.n_component.currentIndexChanged.connect(lambda _i: self.draw_neurons())
        self.n_k.valueChanged.connect(lambda _v: self.draw_neurons())
        self.pca_pair.currentIndexChanged.connect(lambda _i: self.draw_pca())
        self.pca_layer.valueChanged.connect(lambda _v: self.draw_pca())
        self.pca_component.currentIndexChanged.connect(lambda _i: self.draw_pca())
        self.compare_combo.currentIndexChanged.connect(lambda _i: self.draw_compare())
        self.compare_show.currentIndexChanged.connect(lambda _i: self.draw_compare())

    def _row(self, *items: tuple[str, QWidget]) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        for label, widget in items:
            if label:
                row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addStretch(1)
        return box

    def generate_outputs(self, texts: list[str] | None = None) -> None:
        if self.meta is None:
            self.message.show_message("Capture the set on a model first.", "error")
            return
        params = {"model_id": self.meta["model_id"], "set": self.meta["set"],
                  "pairs": self.meta["pairs"], "continuations": texts or self.outputs.texts()}  # fmt: skip
        self._follow(
            self.client.start_job("bias.outputs", params), "Generating", self.outputs.show_outputs
        )

    def _prune_tab(self) -> QWidget:
        tab = QWidget()
        form = QFormLayout(tab)
        self.prune_neurons = QSpinBox()
        self.prune_neurons.setRange(1, 100_000)
        self.prune_neurons.setValue(16)
        self.prune_neurons.setToolTip(
            "MLP neurons removed from every block (the same number in each)"
        )
        self.prune_weight = QDoubleSpinBox()
        self.prune_weight.setRange(0.0, 1.0)
        self.prune_weight.setSingleStep(0.1)
        self.prune_weight.setValue(0.5)
        self.prune_weight.setToolTip("Share of the bias score in the mix; the rest favours neurons "
                                     "with small weights (the course's 0.5)")  # fmt: skip
        self.prune_file = QLineEdit()
        self.prune_file.setPlaceholderText("a text file (empty: Python's reference documentation)")
        self.prune_file.setToolTip("The held-out text perplexity is measured on, before and after")
        self.prune_button = QPushButton("Prune with a random control")
        self.prune_result = QLabel("Chooses neurons on the selection pairs, measures on the held-out pairs.")  # fmt: skip
        self.prune_result.setWordWrap(True)
        self.prune_chat = QPushButton("Chat with the pruned model")
        self.prune_chat.hide()
        form.addRow("Neurons per block", self.prune_neurons)
        form.addRow("Bias weight", self.prune_weight)
        form.addRow("Perplexity text", self.prune_file)
        form.addRow("", self.prune_button)
        form.addRow("", self.prune_result)
        form.addRow("", self.prune_chat)
        self.prune_button.clicked.connect(self.prune)
        self.prune_chat.clicked.connect(self._chat)
        return tab

    # -- engine --------------------------------------------------------------------------------
    def refresh(self) -> None:
        def models(r: dict[str, Any]) -> None:
            current = self.model_combo.currentData()
            self.model_combo.clear()
            for m in r.get("models") or []:
                if m.get("role") == "llm" and not m.get("missing") and not m.get("remote"):
                    self.model_combo.addItem(m["name"], m["id"])  # its activations are read
            self._select(self.model_combo, current)

        def sets(r: dict[str, Any]) -> None:
            current = self.set_combo.currentData()
            self.set_combo.clear()
            for s in r.get("sets") or []:
                self.set_combo.addItem(f"{s['name']} ({s['pairs']} pairs, {s['heldout']} held out)", s["name"])  # fmt: skip
            self._select(self.set_combo, current)

        request(self, self.client, "models.list", ok=models, fail=self.show_error)
        request(self, self.client, "bias.sets", ok=sets, fail=self.show_error)
        self.refresh_runs()

    def refresh_runs(self, select: str | None = None) -> None:
        def runs(r: dict[str, Any]) -> None:
            current = select or self.run_combo.currentData()
            items = r.get("runs") or []
            for box in (self.run_combo, self.compare_combo):
                box.blockSignals(True)
                box.clear()
                for run in items:
                    box.addItem(f"{run['model_name'] or run['model_id']} · {run['set']} · {run['pairs']} pairs", run["run_id"])  # fmt: skip
                box.blockSignals(False)
            self._select(self.run_combo, current)
            self.load_run()

        request(self, self.client, "bias.runs", ok=runs, fail=self.show_error)

    @staticmethod
    def _select(box: QComboBox, data: Any) -> None:
        index = box.findData(data)
        if index >= 0:
            box.setCurrentIndex(index)

    def capture(self) -> None:
        params = {"model_id": self.model_combo.currentData(), "set": self.set_combo.currentData()}
        if not params["model_id"] or not params["set"]:
            self.message.show_message("Pick a model and a set first.", "error")
            return
        if self.pairs_spin.value():
            params["pairs"] = self.pairs_spin.value()
        self._follow(self.client.start_job("bias.run", params), "Capturing", self._captured)

    def check_tokens(self, force: bool = False) -> None:
        """Ask for the alignment of the selected model and set, when the Tokens tab is in view
        and they changed since the last answer (or when asked)."""
        if not self._built or (self.tabs.currentWidget() is not self.tokens and not force):
            return
        params = {"model_id": self.model_combo.currentData(), "set": self.set_combo.currentData()}
        if not params["model_id"] or not params["set"]:
            self.tokens.clear("Pick a model and a set to see how its tokenizer cuts each pair.")
            return
        if self.pairs_spin.value():
            params["pairs"] = self.pairs_spin.value()
        key = json.dumps(params, sort_keys=True)
        if key == self._tokens_key and not force:
            return
        self._tokens_key = key
        self._seq["tokens"] = seq = self._seq.get("tokens", 0) + 1
        self.tokens.summary.setText("Tokenizing…")

        def failed(error: EngineError) -> None:
            self._tokens_key = ""
            self.tokens.clear(error.message)

        request(self, self.client, "bias.align", params, fail=failed,
                ok=lambda r: seq == self._seq["tokens"] and self.tokens.show_alignment(r))  # fmt: skip

    def _captured(self, result: dict[str, Any]) -> None:
        self.last_capture = result
        how = "reused the stored capture" if result.get("cached") else f"{result['seconds']} s"
        self.message.show_message(f"Captured {result['pairs']} pairs × {result['layers']} layers ({how}).", "success", timeout_ms=8000)  # fmt: skip
        if self._built and self.tabs.currentWidget() is self.tokens:
            self.tabs.setCurrentWidget(self.overview_tab)
        self.refresh_runs(select=result["run_id"])

    def prune(self) -> None:
        if self.meta is None:
            self.message.show_message("Capture the set on a model first.", "error")
            return
        params = {"model_id": self.meta["model_id"], "set": self.meta["set"],
                  "neurons": self.prune_neurons.value(), "weight": self.prune_weight.value()}  # fmt: skip
        if self.prune_file.text().strip():
            params["file"] = self.prune_file.text().strip()
        self._follow(self.client.start_job("bias.prune", params), "Pruning", self._pruned)

    def _pruned(self, r: dict[str, Any]) -> None:
        self.pruned_id = r["model_id"]
        drop = r["heldout_bias_before"] - r["heldout_bias_after"]
        ctrl = r["heldout_bias_before"] - r["control_bias_after"]
        self.prune_result.setText(
            f"<b>Held-out pairs</b> (never used to choose): bias {r['heldout_bias_before']:.5f} → "
            f"{r['heldout_bias_after']:.5f} (fall {drop:+.5f}); random control of the same size → "
            f"{r['control_bias_after']:.5f} (fall {ctrl:+.5f}).<br>"
            f"In-sample (the selection pairs): {r['insample_bias_before']:.5f} → {r['insample_bias_after']:.5f}.<br>"
            f"Perplexity {r['ppl_before']:.2f} → {r['ppl_after']:.2f} (control {r['ppl_control']:.2f}); "
            f"{r['width_before']} → {r['width_after']} neurons per block. The model is in the library."
        )  # fmt: skip
        self.prune_chat.show()

    def _chat(self) -> None:
        if not open_in_chat(self, self.pruned_id):
            self.sig_open_chat.emit(self.pruned_id)

    def _follow(self, handle: JobHandle, doing: str, done: Any) -> None:
        self.job = handle
        for button in (self.capture_button, self.prune_button, self.outputs_button):
            button.setEnabled(False)
        self.cancel_button.show()
        self.status.setText(f"{doing}…")

        def progressed(p: dict[str, Any]) -> None:
            if p.get("progress") is not None:
                self.status.setText(f"{doing}: {p['progress']:.0%} {p.get('message') or ''}")

        def over() -> None:
            self.job = None
            for button in (self.capture_button, self.prune_button, self.outputs_button):
                button.setEnabled(True)
            self.cancel_button.hide()
            self.status.clear()

        def finished(result: Any) -> None:
            over()
            done(result)

        def failed(error: Exception) -> None:
            over()
            state = error.state if isinstance(error, JobFailure) else "failed"
            self.message.show_message(getattr(error, "message", str(error)), "info" if state == "cancelled" else "error")  # fmt: skip

        handle.sig_progress.connect(progressed)
        handle.sig_finished.connect(finished)
        handle.sig_failed.connect(failed)

    def show_error(self, error: EngineError) -> None:
        self.message.show_message(error.message, "error")

    # -- a capture and its views ---------------------------------------------------------------
    def load_run(self) -> None:
        rid = self.run_combo.currentData()
        if not rid:
            self.meta = None
            return
        self._seq["run"] = seq = self._seq.get("run", 0) + 1  # answers can cross: latest wins
        request(self, self.client, "bias.get", {"run_id": rid}, fail=self.show_error,
                ok=lambda meta: seq == self._seq["run"] and self._show_run(meta))  # fmt: skip

    def _show_run(self, meta: dict[str, Any]) -> None:
        self.meta = meta
        if not self._built:
            return  # drawn when the panel is first shown
        pairs = meta["pair_list"]
        widgets = (
            self.scope,
            self.pair_combo,
            self.pca_pair,
            self.pair_component,
            self.n_component,
        )
        for w in widgets:
            w.blockSignals(True)
            w.clear()
        for text, params in SCOPES:
            self.scope.addItem(text, params)
        for cat in sorted({p["category"] for p in pairs}):
            self.scope.addItem(f"Category: {cat}", {"category": cat})
        for i, p in enumerate(pairs):
            label = f"{i}: {p['note'] or p['category']}{' (held out)' if p['heldout'] else ''}"
            self.pair_combo.addItem(label, i)
            self.pca_pair.addItem(label, i)
            self.scope.addItem(f"Pair {label}", {"pair": i})
        for c in meta["components"]:
            self.pair_component.addItem(c, c)
            self.n_component.addItem(c, c)
        self._select(self.pair_component, "up")
        self._select(self.n_component, "up")
        for w in widgets:
            w.blockSignals(False)
        for spin in (self.n_layer, self.pca_layer):
            spin.setRange(0, meta["layers"] - 1)
        missing = "; ".join(f"no {k}: {v}" for k, v in (meta.get("missing") or {}).items())
        self.status.setText(f"{meta['model_name']}: {meta['pairs']} pairs, mean |a − b| {meta['overall_mean_diff']:.5f}"
                            + (f" ({missing})" if missing else ""))  # fmt: skip
        self.draw_overview()
        self.draw_pair()
        self.draw_neurons()
        self.draw_pca()
        self.draw_compare()

    def _view(self, params: dict[str, Any], draw: Any) -> None:
        """Ask for one view; answers can arrive out of order (the engine runs requests in
        parallel), so only the latest request of each view kind is drawn."""
        if self.meta is None:
            return
        kind = params["view"]
        self._seq[kind] = seq = self._seq.get(kind, 0) + 1
        request(self, self.client, "bias.view", {"run_id": self.meta["run_id"], **params},
                ok=lambda v: seq == self._seq[kind] and draw(v), fail=self.show_error)  # fmt: skip

    def draw_overview(self) -> None:
        if not self._built:
            return
        params = self.scope.currentData() or {}
        scope = self.scope.currentText() or "All pairs"

        def draw(v: dict[str, Any]) -> None:
            self.overview.show_matrix(v["matrix"], v["components"], [str(i) for i in range(v["layers"])],
                                      title=f"Mean |a − b| per component and layer — {scope}",
                                      xlabel="layer", ylabel="component", per_row=True)  # fmt: skip

        self._view({"view": "overview", **params}, draw)

    def _overview_clicked(self, row: int, col: int) -> None:
        if self.meta is None:
            return
        self._select(self.n_component, self.meta["components"][row])
        self.n_layer.setValue(col)
        self.tabs.setCurrentWidget(self.neurons_tab)

    def draw_pair(self) -> None:
        if not self._built:
            return
        pair, comp = self.pair_combo.currentData(), self.pair_component.currentData()
        if pair is None or comp is None:
            return

        def draw(v: dict[str, Any]) -> None:
            labels = [
                " / ".join(_token_text(side) for side in label.split(" / ", 1)) if differs
                else _token_text(label)
                for label, differs in zip(v["labels"], v["differs"], strict=True)
            ]  # fmt: skip
            note = (
                "" if v["equal_length"] else " (token counts differ: the differing span is one row)"
            )
            self.pair_map.show_matrix(v["matrix"], labels, [str(i) for i in range(len(v["matrix"][0]))],
                                      title=f"{comp}: |a − b| per token and layer{note}", xlabel="layer",
                                      ylabel="token (a / b where they differ)", marked=v["differs"])  # fmt: skip

        self._view({"view": "pair", "pair": pair, "component": comp}, draw)

    def _pair_clicked(self, _row: int, col: int) -> None:
        self._select(self.pca_pair, self.pair_combo.currentData())
        self.pca_layer.setValue(col)
        self.tabs.setCurrentWidget(self.pca_tab)

    def draw_neurons(self) -> None:
        if not self._built:
            return
        comp = self.n_component.currentData()
        if comp is None:
            return
        self._view({"view": "neurons", "layer": self.n_layer.value(), "component": comp,
                    "k": self.n_k.value()}, self.neurons.show_neurons)  # fmt: skip

    def draw_pca(self) -> None:
        if not self._built:
            return
        pair = self.pca_pair.currentData()
        if pair is None:
            return
        self._view({"view": "pca", "pair": pair, "layer": self.pca_layer.value(),
                    "component": self.pca_component.currentData()}, self.pca.show_pca)  # fmt: skip

    def draw_compare(self) -> None:
        if not self._built:
            return
        other = self.compare_combo.currentData()
        if self.meta is None or not other:
            return
        if other == self.meta["run_id"]:
            self.compare_label.setText("Pick another capture of the same pairs to compare with.")
            return
        show = self.compare_show.currentData()

        def draw(v: dict[str, Any]) -> None:
            change = "" if v["change"] is None else f" ({v['change']:+.1%})"
            self.compare_label.setText(
                f"mean |a − b| {v['overall_a']:.5f} → {v['overall_b']:.5f}{change}"
            )
            title = {"difference": "B − A", "a": f"A: {v['model_a']}", "b": f"B: {v['model_b']}"}[
                show
            ]
            self.compare.show_matrix(v[show], v["components"], [str(i) for i in range(v["layers"])],
                                     title=title, xlabel="layer", ylabel="component",
                                     diverging=show == "difference", per_row=True,
                                     colour_label="change of mean |a − b|" if show == "difference" else "mean |a − b|")  # fmt: skip

        def refused(error: EngineError) -> None:
            self.compare_label.setText(error.message)

        self._seq["compare"] = seq = self._seq.get("compare", 0) + 1
        latest = lambda: seq == self._seq["compare"]  # noqa: E731 -- answers can cross
        request(self, self.client, "bias.compare", {"run_a": self.meta["run_id"], "run_b": other},
                ok=lambda v: latest() and draw(v), fail=lambda e: latest() and refused(e))  # fmt: skip
