"""``RunView``: one run in detail -- what it trains, its progress and ETA, the live curves, the
sample answers, the evaluation's base-versus-tuned answers, and the buttons for what can be done
with it in its state (cancel, resume, evaluate, merge, export, chat, open folder, delete)."""

from __future__ import annotations

import ast
import re
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.format import human_count, human_duration
from desktop.panels.training.runs_model import ComparisonsModel, SamplesModel, method_text
from desktop.widgets import HintTableView, open_in_evaluate

SAMPLE_LINE = re.compile(r"^Sample at step (\d+): (.*?) -> (.*)$", re.S)
_QUOTED = r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
SAMPLE_REPR = re.compile(rf"^Sample at step (\d+): {_QUOTED} -> {_QUOTED}$", re.S)
ACTIVE = ("queued", "running")
RESUMABLE = ("cancelled", "failed", "interrupted")


def _unquote(text: str) -> str:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, str) else text


def parse_sample(message: str) -> dict[str, Any] | None:
    """``{step, prompt, answer}`` from a ``job.log`` line "Sample at step N: prompt -> answer"
    (the engine writes the prompt's tail and the answer as Python string literals)."""
    match = SAMPLE_REPR.match(message or "")
    if match is not None:
        prompt, answer = _unquote(match.group(2)), _unquote(match.group(3))
        return {"step": int(match.group(1)), "prompt": prompt, "answer": answer}
    match = SAMPLE_LINE.match(message or "")
    if match is None:
        return None
    return {"step": int(match.group(1)), "prompt": match.group(2), "answer": match.group(3)}


def _table(hint: str, model) -> HintTableView:
    view = HintTableView(hint)
    view.setModel(model)
    view.setWordWrap(True)
    view.verticalHeader().hide()
    view.setSelectionBehavior(HintTableView.SelectionBehavior.SelectRows)
    header = view.horizontalHeader()
    for col in range(model.columnCount()):
        narrow = model.COLUMNS[col] == "Step"
        header.setSectionResizeMode(
            col,
            QHeaderView.ResizeMode.ResizeToContents if narrow else QHeaderView.ResizeMode.Stretch,
        )
    # answers are a few lines long: let each row grow to show them
    model.modelReset.connect(view.resizeRowsToContents)
    model.rowsInserted.connect(lambda *_a: view.resizeRowsToContents())
    header.sectionResized.connect(lambda *_a: view.resizeRowsToContents())
    return view


class RunView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run: dict[str, Any] | None = None
        self.title = QLabel("Select a run to see its curves.")
        self.title.setStyleSheet("font-weight: bold; font-size: 11pt;")
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        self.progress = QProgressBar()
        self.progress.setFormat("step %v / %m")
        self.progress.setTextVisible(True)
        self.speed_label = QLabel()

        self.buttons: dict[str, QPushButton] = {}
        self.tips: dict[str, str] = {}
        row1 = QHBoxLayout()
        for key, text, tip in (
            ("cancel", "Cancel", "Stop after the current step; a checkpoint is kept so it can resume"),
            ("resume", "Resume", "Continue from the last checkpoint with the same data order"),
            ("eval", "Evaluate…", "Perplexity before and after, and base vs tuned answers"),
            ("merge", "Merge", "Merge the adapter into the base model (a new library model)"),
            ("export", "Export GGUF…", "Write a GGUF for llama.cpp: the merged model or the adapter"),
            ("chat", "Chat with this model", "Open a conversation with the fine-tuned model"),
            ("cluster", "Cluster", "Run on a cluster…: write this run as a TRL + accelerate folder for GPU machines. "
             "Import cluster result…: bring the adapter trained there back into the library"),
            ("compare", "Compare in Evaluate", "The tuned model and its base on your own data (the Evaluate panel)"),
            ("folder", "Open folder", "Show the run's folder in the file manager"),
            ("delete", "Delete…", "Delete the run's folder and the models made from it"),
        ):  # fmt: skip
            button = QPushButton(text)
            button.setToolTip(tip)
            button.setEnabled(False)
            self.buttons[key], self.tips[key] = button, tip
            row1.addWidget(button)
        row1.addStretch(1)

        self._canvas: Any = None  # LossCurveCanvas, made on first use (see canvas)
        self.samples_model = SamplesModel(self)
        self.samples_view = _table(
            "Sample answers appear here while the run trains (set sample_prompts in the form).",
            self.samples_model,
        )
        self.comparisons_model = ComparisonsModel(self)
        self.comparisons_view = _table(
            "Evaluate the run to compare the base model's answers with the tuned model's.",
            self.comparisons_model,
        )
        self.eval_label = QLabel()
        self.eval_label.setWordWrap(True)
        self.eval_label.setToolTip("The figures are also a stored run of the Evaluate panel, next to every other measurement")  # fmt: skip
        self.eval_label.linkActivated.connect(lambda run_id: open_in_evaluate(self, run_id=run_id))
        eval_page = QWidget()
        eval_layout = QVBoxLayout(eval_page)
        eval_layout.setContentsMargins(0, 0, 0, 0)
        eval_layout.addWidget(self.eval_label)
        eval_layout.addWidget(self.comparisons_view, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.samples_view, "Samples")
        self.tabs.addTab(eval_page, "Evaluation")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(QWidget())  # where the curves go once there is a run to plot
        self._split = split
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([560, 440])
        split.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.details)
        layout.addWidget(self.error_label)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.speed_label)
        layout.addLayout(progress_row)
        layout.addLayout(row1)
        layout.addWidget(split, 1)

    @property
    def canvas(self) -> Any:
        """The curves (a ``LossCurveCanvas``), made when a run is first shown; matplotlib loads
        on its render thread, so neither opening Hearth nor showing a run waits for it."""
        if self._canvas is None:
            from desktop.panels.training.curves import LossCurveCanvas

            self._canvas = LossCurveCanvas()
            self._split.replaceWidget(0, self._canvas).deleteLater()
        return self._canvas

    # -- the run -----------------------------------------------------------------------------

    def show_run(self, run: dict[str, Any] | None) -> None:
        same = run is not None and self.run is not None and run.get("id") == self.run.get("id")
        self.run = run
        if not same and self._canvas is not None:
            self._canvas.clear()
        if not same:
            self.samples_model.set_records([])
            self.comparisons_model.set_records([])
            self.eval_label.clear()
            self.speed_label.clear()
        if run is None:
            self.title.setText("Select a run to see its curves.")
            self.details.clear()
            self.error_label.hide()
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            for button in self.buttons.values():
                button.setEnabled(False)
            return
        state = run.get("state") or "?"
        self.title.setText(f"{run.get('name') or run['id']} — {state}")
        dataset = run.get("dataset") or {}
        summary = run.get("summary") or {}
        parts = [
            f"{run.get('model_name') or run.get('model_id')} · {method_text(run)}"
            f"{' (' + run['preset'] + ')' if run.get('preset') else ''} on "
            f"{dataset.get('name') or dataset.get('ref') or '?'}"
            f"{' v' + str(dataset['version']) if dataset.get('version') else ''}",
        ]
        if run.get("device"):
            parts.append(f"{run['device']} {run.get('precision') or ''}".strip())
        if run.get("trainable_params"):
            parts.append(
                f"{human_count(run['trainable_params'])} of "
                f"{human_count(run.get('total_params'))} parameters trained"
            )
        if summary.get("final_loss") is not None:
            parts.append(f"loss {summary.get('first_loss', 0):.3f} → {summary['final_loss']:.3f}")
        if summary.get("perplexity_after") is not None:
            parts.append(
                f"perplexity {summary.get('perplexity_before', 0):.2f} → "
                f"{summary['perplexity_after']:.2f}"
            )
        self.details.setText(" · ".join(parts))
        error = run.get("error")
        self.error_label.setText(f"Failed: {error}" if error and state == "failed" else error or "")
        self.error_label.setVisible(bool(error) and state in ("failed", "interrupted", "cancelled"))
        self.set_progress(run.get("step") or 0, run.get("total_steps") or 0)
        self.update_buttons()

    def update_buttons(self) -> None:
        run = self.run or {}
        state = run.get("state")
        done = state == "succeeded"
        self.buttons["cancel"].setEnabled(state in ACTIVE)
        self.buttons["resume"].setEnabled(state in RESUMABLE)
        for key in ("eval", "merge", "export", "chat", "compare"):
            self.buttons[key].setEnabled(done)
        self.buttons["cluster"].setEnabled(
            bool(run) and run.get("method") in ("lora", "dora", "qlora")
        )
        self.buttons["merge"].setEnabled(done and run.get("method") not in ("full", "prompt"))
        prompt = run.get("method") == "prompt"  # virtual tokens: nothing to merge or to export
        self.buttons["export"].setEnabled(done and not prompt)
        why = "A prompt-tuned run runs in transformers only: llama.cpp cannot run virtual tokens, and they cannot be merged."  # fmt: skip
        for key in ("merge", "export"):
            self.buttons[key].setToolTip(why if prompt else self.tips[key])
        self.buttons["folder"].setEnabled(bool(run.get("folder")))
        self.buttons["delete"].setEnabled(bool(run) and state not in ACTIVE)

    def set_progress(self, step: int, total: int) -> None:
        self.progress.setFormat("step %v / %m")
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(step, max(total, 1)))

    def show_phase(self, message: str, fraction: float | None) -> None:
        """What the run's job is doing before its first step (converting the model, loading it,
        tokenising the data): the message in the bar, with its share done when it has one."""
        if (self.run or {}).get("step") or not message or message.startswith("Step "):
            return  # steps are counted by the metrics
        self.progress.setFormat(message + (" · %p%" if fraction is not None else ""))
        self.speed_label.setText(message)  # a busy bar draws no text in most styles
        if fraction is None:
            self.progress.setRange(0, 0)  # busy
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(fraction * 1000))

    # -- live data ---------------------------------------------------------------------------

    def set_metrics(self, result: dict[str, Any]) -> None:
        """A ``train.metrics`` answer: every point so far, and the samples."""
        rows = result.get("metrics") or []
        self.canvas.set_metrics(rows)
        for sample in result.get("samples") or []:
            self.samples_model.add(sample)
        if result.get("evaluation"):
            self.show_eval(result["evaluation"], switch=False)
        if result.get("total_steps"):
            if self.run is not None:
                self.run["total_steps"] = result["total_steps"]
            self.set_progress(result.get("step") or 0, result["total_steps"])
        last = next((r for r in reversed(rows) if r.get("tokens_per_s") is not None), None)
        if last is not None:
            self._show_speed(last)

    def add_metrics(self, step: int, values: dict[str, Any]) -> None:
        """One ``job.metrics`` notification of the run's job."""
        self.canvas.add_metrics(step, values)
        if self.run is not None:
            total = self.run.get("total_steps") or 0
            self.run["step"] = max(step, self.run.get("step") or 0)
            if total:
                self.set_progress(self.run["step"], total)
            else:  # not known yet: a busy bar until the run's record says
                self.progress.setRange(0, 0)
        if values.get("tokens_per_s") is not None or values.get("eta_s") is not None:
            self._show_speed(values)

    def _show_speed(self, values: dict[str, Any]) -> None:
        parts = []
        if values.get("loss") is not None:
            parts.append(f"loss {values['loss']:.4f}")
        if values.get("tokens_per_s") is not None:
            parts.append(f"{values['tokens_per_s']:,.0f} tokens/s")
        if values.get("eta_s") is not None and (self.run or {}).get("state") in ACTIVE:
            parts.append(f"ETA {human_duration(values['eta_s'])}")
        self.speed_label.setText(" · ".join(parts))

    def add_log(self, message: str) -> None:
        sample = parse_sample(message)
        if sample is not None:
            self.samples_model.add(sample)

    def show_eval(self, result: dict[str, Any], *, switch: bool = True) -> None:
        """An evaluation's perplexities and answers; ``switch`` brings its tab to the front (a
        finished Evaluate), else only a saved one is filled in (selecting the run)."""
        before, after = result.get("perplexity_before"), result.get("perplexity_after")
        loss_b, loss_a = result.get("loss_before"), result.get("loss_after")
        text = (
            f"<b>Perplexity</b> {before:.2f} → {after:.2f}"
            if before is not None and after is not None
            else "<b>Perplexity</b> –"
        )
        if loss_b is not None and loss_a is not None:
            text += f" &nbsp; (loss {loss_b:.4f} → {loss_a:.4f})"
        text += f" on {result.get('validation_rows', '–')} validation rows"
        if result.get("evaluation_run"):
            text += f' &nbsp; <a href="{result["evaluation_run"]}">Show in Evaluate</a>'
        self.eval_label.setText(text)
        if switch:
            self.tabs.setCurrentIndex(1)  # shown first, so the rows are sized to the real columns
        self.comparisons_model.set_records(result.get("comparisons") or [])
        QTimer.singleShot(0, self.comparisons_view.resizeRowsToContents)
