"""Evaluate panel: pick models and data, run an evaluation job, read the results.

Top: the models (any mix of GGUF, Hugging Face folders, adapters and pruned models), what to
measure (answers scored by metrics, multiple choice, or perplexity), the dataset and split (for
perplexity also Python's reference documentation), the metrics, a row limit and the answer
length; *Evaluate* starts an ``eval.run`` / ``eval.choice`` / ``eval.perplexity`` job (followed
with ``EngineClient.start_job``, cancellable; a killed run resumes from the Activity panel).

Below: the stored runs, newest first, and for the selected one

- Results: model x metric, each as value [95% bootstrap interval];
- Chart: one metric per model as bars with their intervals (hover, click a bar for its rows,
  PNG/SVG and CSV);
- Rows: every row with the input, the reference and each model's answer and scores, sortable,
  optionally only the rows where the models' scores differ;
- Leaderboard: every model evaluated on the same data and kind of measure, across runs, best
  first.

Rows export as CSV or JSON. Other panels open a model here with ``open_model``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.elide_combo import ElidedCombo
from desktop.engine_client import EngineClient, EngineState, JobFailure, JobHandle
from desktop.errors import EngineError
from desktop.panels.evaluate.tables import RunTables, _cell, _Number
from desktop.panels.models.table_model import picker_label
from desktop.widgets import MessageBar

KINDS = (("Answers, scored by metrics", "tasks"), ("Multiple choice (log-likelihood)", "choice"),
         ("Perplexity", "perplexity"), ("Arena: blind side-by-side votes", "arena"),
         ("lm-evaluation-harness tasks (if installed; offline)", "harness"))  # fmt: skip
METRICS = (("exact_match", "Exact match (SQuAD normalisation)"), ("f1", "Token F1 (SQuAD)"),
           ("bleu", "BLEU (sacrebleu)"), ("chrf", "chrF (sacrebleu)"),
           ("rouge", "ROUGE-1/2/L (rouge-score)"), ("similarity", "Embedding similarity (MiniLM)"))  # fmt: skip
DEFAULT_METRICS = ("exact_match", "f1", "rouge", "chrf")
PYTHON_DOCS = "__python_docs__"


class EvaluatePanel(RunTables, QWidget):
    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.job: JobHandle | None = None
        self.runs: list[dict[str, Any]] = []
        self.shown: dict[str, Any] | None = None
        self.datasets: list[dict[str, Any]] = []
        self._wanted: set[str] = set()  # models other panels asked for, ticked once listed
        self._seq = 0
        self.message = MessageBar()

        self.models = QListWidget()
        self.models.setToolTip("Tick the models to compare (two to four is easiest to read)")
        self.models.setMaximumHeight(120)
        self.kind = QComboBox()
        for text, key in KINDS:
            self.kind.addItem(text, key)
        self.dataset = ElidedCombo()
        self.dataset.setToolTip("A dataset from the Datasets library")
        self.split = QComboBox()
        self.split.setToolTip("Which split's rows (all rows when the dataset is not split)")
        self.metric_boxes: dict[str, QCheckBox] = {}
        metrics_row = QHBoxLayout()
        for key, label in METRICS:
            box = QCheckBox(key)
            box.setToolTip(label)
            box.setChecked(key in DEFAULT_METRICS)
            self.metric_boxes[key] = box
            metrics_row.addWidget(box)
        metrics_row.addStretch(1)
        self.metrics_widget = QWidget()
        self.metrics_widget.setLayout(metrics_row)
        metrics_row.setContentsMargins(0, 0, 0, 0)
        self.limit = QSpinBox()
        self.limit.setRange(0, 1_000_000)
        self.limit.setSpecialValueText("all")
        self.limit.setToolTip("Evaluate the first N rows only")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 4096)
        self.max_tokens.setValue(128)
        self.max_tokens.setToolTip("The longest answer a model may write")
        self.judge = ElidedCombo()
        self.judge.setToolTip("A library model that rates every answer from 1 to 10 and, with two "
                              "models or more, picks the better answer of each pair, asked both "
                              "ways round (a bigger model judges better)")  # fmt: skip
        self.judge.addItem("No judge", None)
        self.prompts_edit = QPlainTextEdit()
        self.prompts_edit.setPlaceholderText(
            "Arena prompts, one per line (empty: the dataset's prompts)"
        )
        self.prompts_edit.setMaximumHeight(60)
        self.tasks_edit = QLineEdit()
        self.tasks_edit.setPlaceholderText(
            "harness task names, comma-separated (e.g. arc_easy, hellaswag)"
        )
        self.tasks_edit.setToolTip("Runs only with lm-eval installed and the tasks' data already on this machine")  # fmt: skip
        self.start_button = QPushButton("Evaluate")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.status = QLabel()

        form = self.form = QFormLayout()
        form.addRow("Models", self.models)
        form.addRow("Measure", self.kind)
        self.data_row = QWidget()
        self.data_row.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        data_row = QHBoxLayout(self.data_row)
        data_row.setContentsMargins(0, 0, 0, 0)
        data_row.addWidget(self.dataset, 2)
        data_row.addWidget(QLabel("Split"))
        data_row.addWidget(self.split, 1)
        form.addRow("Data", self.data_row)
        form.addRow("Metrics", self.metrics_widget)
        form.addRow("Judge", self.judge)
        self.prompts_label = QLabel("Prompts")
        form.addRow(self.prompts_label, self.prompts_edit)
        self.tasks_label = QLabel("Tasks")
        form.addRow(self.tasks_label, self.tasks_edit)
        limits = QHBoxLayout()
        limits.addWidget(QLabel("Rows"))
        limits.addWidget(self.limit)
        self.max_tokens_label = QLabel("Longest answer (tokens)")
        limits.addWidget(self.max_tokens_label)
        limits.addWidget(self.max_tokens)
        limits.addStretch(1)
        limits.addWidget(self.status, 2)
        limits.addWidget(self.start_button)
        limits.addWidget(self.cancel_button)
        form.addRow("", limits)

        self.run_list = QListWidget()
        self.run_list.setToolTip("Stored evaluations, newest first")
        self.delete_button = QPushButton("Delete run")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("Runs"))
        left_layout.addWidget(self.run_list, 1)
        left_layout.addWidget(self.delete_button)
        self.tabs = QTabWidget()
        self.results = QTableWidget(0, 0)
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.verticalHeader().hide()
        self.note = QLabel()
        self.note.setWordWrap(True)
        results_tab = QWidget()
        rl = QVBoxLayout(results_tab)
        rl.addWidget(self.results, 1)
        rl.addWidget(self.note)
        self.tabs.addTab(results_tab, "Results")
        self._chart_tab = None
        self.chart_metric = QComboBox()
        self.chart_holder = QWidget()
        QVBoxLayout(self.chart_holder)
        self.tabs.addTab(self.chart_holder, "Chart")
        self.rows = QTableWidget(0, 0)
        self.rows.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.rows.verticalHeader().hide()
        self.rows.setWordWrap(True)
        self.only_differ = QCheckBox("Only rows where the models' scores differ")
        self.row_model = QComboBox()
        self.export_csv = QPushButton("Export rows (CSV)…")
        self.export_json = QPushButton("Export run (JSON)…")
        rows_tab = QWidget()
        rows_layout = QVBoxLayout(rows_tab)
        top = QHBoxLayout()
        top.addWidget(self.only_differ)
        top.addWidget(QLabel("Model"))
        top.addWidget(self.row_model)
        top.addStretch(1)
        top.addWidget(self.export_csv)
        top.addWidget(self.export_json)
        rows_layout.addLayout(top)
        rows_layout.addWidget(self.rows, 1)
        self.tabs.addTab(rows_tab, "Rows")
        self.board = QTableWidget(0, 0)
        self.board.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.board.verticalHeader().hide()
        self.board_note = QLabel()
        board_tab = QWidget()
        bl = QVBoxLayout(board_tab)
        bl.addWidget(self.board_note)
        bl.addWidget(self.board, 1)
        self.tabs.addTab(board_tab, "Leaderboard")
        from desktop.panels.evaluate.arena_tab import ArenaTab

        self.arena = ArenaTab(client, self.message)
        self.tabs.addTab(self.arena, "Arena")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 4)
        split.setSizes([260, 900])

        # the set-up scrolls and gives way to the results, so the panel fits a small screen
        setup = QWidget()
        setup.setLayout(form)
        scroll = QScrollArea()
        scroll.setWidget(setup)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumHeight(90)
        outer = QSplitter(Qt.Orientation.Vertical)
        outer.addWidget(scroll)
        outer.addWidget(split)
        outer.setStretchFactor(1, 1)
        outer.setSizes([setup.sizeHint().height(), 600])
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(outer, 1)

        self.kind.currentIndexChanged.connect(lambda _i: self._kind_changed())
        self.dataset.currentIndexChanged.connect(lambda _i: self._dataset_changed())
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(lambda: self.job and self.job.cancel())
        self.run_list.currentRowChanged.connect(lambda _r: self.load_run())
        self.delete_button.clicked.connect(self.delete_run)
        self.only_differ.toggled.connect(lambda _on: self._fill_rows())
        self.row_model.currentIndexChanged.connect(lambda _i: self._fill_rows())
        self.chart_metric.currentIndexChanged.connect(lambda _i: self._draw_chart())
        self.export_csv.clicked.connect(self._export_csv)
        self.export_json.clicked.connect(self._export_json)
        client.sig_ready.connect(lambda _r: self.refresh())
        client.sig_models_changed.connect(self.refresh_models)
        client.sig_notification.connect(self._notified)
        self._kind_changed()
        if client.state == EngineState.READY:
            self.refresh()

    # -- engine ------------------------------------------------------------------------------------
    def _notified(self, method: str, _params: Any) -> None:
        if method == "eval.changed":
            self.refresh_runs()
        elif method in ("data.changed", "datasets.changed"):
            self.refresh_data()

    def refresh(self) -> None:
        self.refresh_models()
        self.refresh_data()
        self.refresh_runs()

    def refresh_models(self) -> None:
        def fill(r: dict[str, Any]) -> None:
            ticked = set(self.ticked_models()) | self._wanted
            judge = self.judge.currentData()
            self.judge.clear()
            self.judge.addItem("No judge", None)
            for m in r.get("models") or []:
                if m.get("role") in ("llm", "adapter") and not m.get("missing"):
                    self.judge.addItem(picker_label(m), m["id"])
            self.judge.setCurrentIndex(max(0, self.judge.findData(judge)))
            self.models.clear()
            for m in r.get("models") or []:
                if m.get("role") in ("llm", "adapter") and not m.get("missing"):
                    item = QListWidgetItem(f"{picker_label(m)}  ({m['format']}{', adapter' if m['role'] == 'adapter' else ''})")  # fmt: skip
                    item.setData(Qt.ItemDataRole.UserRole, m["id"])
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(Qt.CheckState.Checked if m["id"] in ticked else Qt.CheckState.Unchecked)  # fmt: skip
                    self.models.addItem(item)
            self._wanted.clear()

        request(self, self.client, "models.list", ok=fill, fail=self.show_error)

    def refresh_data(self) -> None:
        def fill(r: dict[str, Any]) -> None:
            current = self.dataset.currentData()
            self.datasets = r.get("datasets") or []
            self.dataset.blockSignals(True)
            self.dataset.clear()
            self.dataset.addItem("Python's reference documentation (perplexity)", PYTHON_DOCS)
            for d in self.datasets:
                self.dataset.addItem(f"{d['name']} ({d['rows']} rows, {d['format']})", d["id"])
            index = self.dataset.findData(current)
            self.dataset.setCurrentIndex(index if index >= 0 else min(1, self.dataset.count() - 1))
            self.dataset.blockSignals(False)
            self._dataset_changed()

        request(self, self.client, "data.list", ok=fill, fail=self.show_error)

    def refresh_runs(self, select: str | None = None) -> None:
        def fill(r: dict[str, Any]) -> None:
            current = select or (self.shown or {}).get("run_id")
            self.runs = r.get("runs") or []
            self.run_list.blockSignals(True)
            self.run_list.clear()
            for run in self.runs:
                names = ", ".join(run.get("model_names") or run.get("models") or [])
                state = "" if run.get("state") == "done" else f" · {run.get('state')}"
                item = QListWidgetItem(f"{run['kind']} · {run.get('dataset_name') or run.get('dataset')}{state}\n{names}")  # fmt: skip
                item.setData(Qt.ItemDataRole.UserRole, run["run_id"])
                self.run_list.addItem(item)
            self.run_list.blockSignals(False)
            ids = [run["run_id"] for run in self.runs]
            if ids:
                self.run_list.setCurrentRow(ids.index(current) if current in ids else 0)
                self.load_run()

        request(self, self.client, "eval.list", ok=fill, fail=self.show_error)

    def show_error(self, error: EngineError) -> None:
        self.message.show_message(error.message, "error")

    # -- the form --------------------------------------------------------------------------------
    def ticked_models(self) -> list[str]:
        out = []
        for i in range(self.models.count()):
            item = self.models.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    def open_model(self, model_id: str) -> None:
        """Tick ``model_id`` (other panels send their models here to be evaluated)."""
        for i in range(self.models.count()):
            item = self.models.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == model_id:
                item.setCheckState(Qt.CheckState.Checked)
                break
        else:  # not listed yet (a model just made): ticked when the list comes
            self._wanted.add(model_id)
        self.message.show_message("Pick the data and what to measure, then Evaluate.", "info", timeout_ms=6000)  # fmt: skip

    def pick_kind(self, kind: str) -> None:
        """Choose what to measure ("tasks", "choice", "perplexity", "arena")."""
        index = self.kind.findData(kind)
        if index >= 0:
            self.kind.setCurrentIndex(index)

    def open_run(self, run_id: str) -> None:
        """Show the stored evaluation ``run_id`` (Training's evaluation lands here)."""
        self.refresh_runs(select=run_id)

    def _kind_changed(self) -> None:
        kind = self.kind.currentData()
        # only the rows this measure uses are shown
        self.form.setRowVisible(self.metrics_widget, kind == "tasks")
        self.form.setRowVisible(self.judge, kind == "tasks")
        self.form.setRowVisible(self.prompts_edit, kind == "arena")
        self.form.setRowVisible(self.tasks_edit, kind == "harness")
        self.form.setRowVisible(self.data_row, kind != "harness")
        self.metrics_widget.setEnabled(kind == "tasks")
        self.judge.setEnabled(kind == "tasks")
        self.dataset.setEnabled(kind != "harness")
        self.split.setEnabled(kind != "harness")
        self.max_tokens.setEnabled(kind in ("tasks", "arena"))
        self.max_tokens_label.setEnabled(kind in ("tasks", "arena"))

    def _dataset_changed(self) -> None:
        ds = next((d for d in self.datasets if d["id"] == self.dataset.currentData()), None)
        self.split.clear()
        self.split.addItem("all rows", None)
        for s in (ds or {}).get("splits") or []:
            self.split.addItem(f"{s['name']} ({s['rows']})", s["name"])
        test = self.split.findData("test")
        if test >= 0:
            self.split.setCurrentIndex(test)

    def start(self) -> None:
        models = self.ticked_models()
        if not models:
            self.message.show_message("Tick at least one model to evaluate.", "error")
            return
        kind = self.kind.currentData()
        data = self.dataset.currentData()
        params: dict[str, Any] = {"models": models}
        typed = [
            line.strip() for line in self.prompts_edit.toPlainText().splitlines() if line.strip()
        ]
        if kind == "arena" and not 2 <= len(models) <= 4:
            self.message.show_message(
                "An arena needs two to four models: tick them above.", "error"
            )
            return
        if kind == "harness":
            tasks = [t.strip() for t in self.tasks_edit.text().split(",") if t.strip()]
            if not tasks:
                self.message.show_message("Name the harness tasks to run (e.g. arc_easy).", "error")
                return
            params["tasks"] = tasks
            if self.limit.value():
                params["limit"] = self.limit.value()
            self._follow(self.client.start_job("eval.harness", params))
            return
        if kind == "arena" and typed:
            params.update(prompts=typed, max_tokens=self.max_tokens.value())
            self._follow(self.client.start_job("eval.arena.start", params))
            return
        if data == PYTHON_DOCS:
            if kind != "perplexity":
                self.message.show_message("Python's documentation is for perplexity; pick a dataset with prompts and answers.", "error")  # fmt: skip
                return
        elif data:
            params["dataset"] = data
            if self.split.currentData():
                params["split"] = self.split.currentData()
        else:
            self.message.show_message("Pick a dataset (Datasets > Import makes one).", "error")
            return
        if kind == "tasks":
            params["metrics"] = [k for k, box in self.metric_boxes.items() if box.isChecked()]
            if not params["metrics"]:
                self.message.show_message("Tick at least one metric.", "error")
                return
            params["max_tokens"] = self.max_tokens.value()
            if self.judge.currentData():
                params["judge"] = self.judge.currentData()
        if kind == "arena":
            params["max_tokens"] = self.max_tokens.value()
        if self.limit.value() and kind != "perplexity":
            params["limit"] = self.limit.value()
        method = {"tasks": "eval.run", "choice": "eval.choice", "perplexity": "eval.perplexity",
                  "arena": "eval.arena.start"}[kind]  # fmt: skip
        self._follow(self.client.start_job(method, params))

    def _follow(self, handle: JobHandle) -> None:
        self.job = handle
        self.start_button.setEnabled(False)
        self.cancel_button.show()
        self.status.setText("Starting…")

        def started(answer: dict[str, Any]) -> None:
            if answer.get("run_id"):
                self.refresh_runs(select=answer["run_id"])

        def progressed(p: dict[str, Any]) -> None:
            if p.get("progress") is not None:
                self.status.setText(f"{p['progress']:.0%} {p.get('message') or ''}")

        def over() -> None:
            self.job = None
            self.start_button.setEnabled(True)
            self.cancel_button.hide()
            self.status.clear()

        def finished(result: Any) -> None:
            over()
            self.message.show_message("Evaluation done.", "success", timeout_ms=6000)
            self.refresh_runs(select=(result or {}).get("run_id"))

        def failed(error: Exception) -> None:
            over()
            state = error.state if isinstance(error, JobFailure) else "failed"
            text = getattr(error, "message", str(error))
            if state == "cancelled":
                text = "Cancelled. The answers so far are kept; resume the job in Activity to finish it."
            self.message.show_message(text, "info" if state == "cancelled" else "error")
            self.refresh_runs()

        handle.sig_started.connect(started)
        handle.sig_progress.connect(progressed)
        handle.sig_finished.connect(finished)
        handle.sig_failed.connect(failed)

    def delete_run(self) -> None:
        item = self.run_list.currentItem()
        if item is None:
            return
        request(self, self.client, "eval.delete", {"run_id": item.data(Qt.ItemDataRole.UserRole)},
                ok=lambda _r: self.refresh_runs(), fail=self.show_error)  # fmt: skip

    # -- a run -------------------------------------------------------------------------------------
    def load_run(self) -> None:
        item = self.run_list.currentItem()
        if item is None:
            return
        self._seq += 1
        seq = self._seq
        request(self, self.client, "eval.show", {"run_id": item.data(Qt.ItemDataRole.UserRole)},
                ok=lambda r: seq == self._seq and self.show_run(r), fail=self.show_error)  # fmt: skip

    def show_run(self, shown: dict[str, Any]) -> None:
        self.shown = shown
        results = shown.get("results") or []
        names = list(results[0]["metrics"]) if results else []
        self.results.clear()
        self.results.setColumnCount(1 + len(names))
        self.results.setRowCount(len(results))
        self.results.setHorizontalHeaderLabels(["model", *names])
        for row, r in enumerate(results):
            self.results.setItem(row, 0, QTableWidgetItem(r.get("name") or r["model_id"]))
            for col, n in enumerate(names, 1):
                self.results.setItem(row, col, _Number(_cell(r["metrics"].get(n)), r["metrics"].get(n, {}).get("value")))  # fmt: skip
        self.results.resizeColumnsToContents()
        notes = []
        if shown.get("state") not in (None, "done"):
            notes.append(f"This run is {shown['state']}: the figures cover what was finished.")
        if shown.get("note"):
            notes.append(shown["note"])
        if shown.get("kind") == "tasks":
            notes.append("Values with their 95% bootstrap interval. BLEU and chrF are corpus scores (0–100); the others are means over rows (0–1).")  # fmt: skip
        names_of = {r["model_id"]: r.get("name") or r["model_id"] for r in results}
        for r in results:
            if r.get("judge_unparsed"):
                notes.append(f"The judge's rating of {r['judge_unparsed']} of {r['rows']} answers by {names_of[r['model_id']]} could not be read (left out of its judge score).")  # fmt: skip
        for p in shown.get("pairwise") or []:
            agree = "—" if p["agreement"] is None else f"{p['agreement']:.0%}"
            notes.append(f"Judge, {names_of.get(p['model_a'])} vs {names_of.get(p['model_b'])}: {p['wins_a']} : {p['wins_b']} wins, {p['ties']} ties, {p['inconsistent']} inconsistent (the verdict changed when the answers swapped places), {p['unparsed']} unreadable; the judge agreed with itself both ways round on {agree}.")  # fmt: skip
        self.note.setText(" ".join(notes))
        self.chart_metric.blockSignals(True)
        self.chart_metric.clear()
        for n in names:
            self.chart_metric.addItem(n, n)
        self.chart_metric.blockSignals(False)
        self.row_model.blockSignals(True)
        self.row_model.clear()
        self.row_model.addItem("all models", None)
        for r in results:
            self.row_model.addItem(r.get("name") or r["model_id"], r["model_id"])
        self.row_model.blockSignals(False)
        self._draw_chart()
        self._fill_rows()
        self._fill_board()
        if shown.get("kind") == "arena":
            self.arena.open_run(shown["run_id"])
            if self.tabs.currentWidget() is not self.arena and shown.get("votes", 0) == 0:
                self.tabs.setCurrentWidget(self.arena)

    def _ensure_chart(self) -> Any:
        if self._chart_tab is None:  # matplotlib loads when a run is first drawn
            from desktop.panels.evaluate.charts import MetricBars
            from desktop.plot_canvas import PlotTab

            self.chart = MetricBars()
            controls = QWidget()
            row = QHBoxLayout(controls)
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(QLabel("Metric"))
            row.addWidget(self.chart_metric)
            row.addStretch(1)
            self._chart_tab = PlotTab(self.chart, controls, name="evaluation")
            self.chart_holder.layout().addWidget(self._chart_tab)
            self.chart.sig_clicked.connect(self._bar_clicked)
        return self.chart

    def _draw_chart(self) -> None:
        if self.shown is None or not self.chart_metric.currentData():
            return
        chart = self._ensure_chart()
        metric = self.chart_metric.currentData()
        results = self.shown.get("results") or []
        chart.show_metric(metric, [r.get("name") or r["model_id"] for r in results],
                          [r["metrics"][metric] for r in results],
                          title=f"{metric} on {self.shown.get('dataset') or ''}")  # fmt: skip

    def _bar_clicked(self, index: int, _col: int) -> None:
        results = (self.shown or {}).get("results") or []
        if 0 <= index < len(results):
            self.row_model.setCurrentIndex(self.row_model.findData(results[index]["model_id"]))
            self.tabs.setCurrentIndex(2)
