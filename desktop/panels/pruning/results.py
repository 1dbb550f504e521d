"""The last pages of the pruning wizard: the preview before anything runs, the running job, and
the results of a pruning run (``prune.get``) with what to do next."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.format import human_bytes, human_count
from desktop.panels.pruning.pages import note


def _pct(before: float | None, after: float | None) -> str:
    if not before or after is None:
        return ""
    return f"{100 * (after - before) / before:+.1f}%"


def _fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


class JobBox(QWidget):
    """A progress bar, a status line and a Cancel button for one job."""

    sig_cancel = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.status = note()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.sig_cancel)
        self.cancel_button.hide()
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self.idle()

    def running(self, message: str) -> None:
        self.bar.show()
        self.cancel_button.show()
        self.bar.setRange(0, 0)
        self.status.setText(message)
        self.cancel_button.setEnabled(True)
        self.show()

    def progress(self, params: dict[str, Any]) -> None:
        fraction = params.get("progress")
        if fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * float(fraction)))
        if params.get("message"):
            self.status.setText(params["message"])

    def idle(self, message: str = "") -> None:
        """No job running: only the last message stays."""
        self.bar.hide()
        self.cancel_button.hide()
        self.status.setText(message)
        self.cancel_button.setEnabled(False)


class PreviewPage(QWidget):
    """Step 4: scores per block and the size after, before anything is cut."""

    sig_preview = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plan: dict[str, Any] | None = None
        self.canvas: Any = None
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip("Score the model on the calibration text and show what would go; nothing is changed")  # fmt: skip
        self.job = JobBox()
        self.summary = note("Press Preview to score the model on the calibration text.")
        self.holder = QVBoxLayout()
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.preview_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self.job)
        layout.addWidget(self.summary)
        layout.addLayout(self.holder, 1)
        self.preview_button.clicked.connect(self.sig_preview)

    def reset(self) -> None:
        self.plan = None
        self.summary.setText("Press Preview to score the model on the calibration text.")
        if self.canvas is not None:
            self.canvas.hide()

    def show_plan(self, plan: dict[str, Any]) -> None:
        from desktop.panels.pruning.plots import ScoresCanvas

        self.plan = plan
        if self.canvas is None:
            self.canvas = ScoresCanvas(self)
            self.holder.addWidget(self.canvas)
        self.canvas.show()
        self.canvas.show_plan(plan)
        before, after = plan["params_before"], plan["params_after"]
        parts = [f"Parameters {human_count(before)} → {human_count(after)} ({_pct(before, after)})",
                 f"size {human_bytes(plan['size_before_bytes'])} → {human_bytes(plan['size_after_bytes'])}"]  # fmt: skip
        if plan["method"] == "depth":
            parts.append(f"blocks {plan['blocks_before']} → {plan['blocks_after']}")
        if plan["method"] == "width":
            parts.append(f"MLP width {plan['width_before']} → {plan['width_after']}")
        if plan["method"] == "attention":
            parts.append("the weights stay (the file does not shrink); bypassed attention is skipped in transformers")  # fmt: skip
            if plan.get("adaptive_table"):
                table = ", ".join(f"complexity < {b:.1f}: {n}" for b, n in plan["adaptive_table"])
                parts.append(f"attention modules run per prompt: {table}")
        self.summary.setText("; ".join(parts) + ".")


class RunPage(QWidget):
    """Step 5: name the result and prune."""

    sig_run = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = QLineEdit()
        self.name.setPlaceholderText("name of the pruned model (optional)")
        self.run_button = QPushButton("Prune")
        self.run_button.setToolTip("Cut, measure against the original on the held-out text, save and add to the library")  # fmt: skip
        self.job = JobBox()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        layout = QVBoxLayout(self)
        layout.addWidget(note("The pruned model is measured against the original on the same held-out text (perplexity, tokens/s, answers), saved as a new model and added to the library. Cancelling leaves nothing behind."))  # fmt: skip
        row = QHBoxLayout()
        row.addWidget(self.name, 1)
        row.addWidget(self.run_button)
        layout.addLayout(row)
        layout.addWidget(self.job)
        layout.addWidget(self.log, 1)
        self.run_button.clicked.connect(self.sig_run)


class ResultsPage(QWidget):
    """Step 6: before and after, answers side by side, every pruning of the parent, next steps."""

    sig_recover = Signal(int)
    sig_export = Signal()
    sig_chat = Signal(str)
    sig_open_folder = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run: dict[str, Any] | None = None
        self.frontier: Any = None
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold")
        self.figures = QTableWidget(0, 4)
        self.figures.setHorizontalHeaderLabels(["", "Original", "Pruned", "Change"])
        self.figures.verticalHeader().hide()
        self.figures.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.answers = QTableWidget(0, 3)
        self.answers.setHorizontalHeaderLabels(["Prompt", "Original", "Pruned"])
        self.answers.verticalHeader().hide()
        self.answers.setWordWrap(True)
        self.answers.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.recover_steps = QSpinBox()
        self.recover_steps.setRange(1, 100_000)
        self.recover_steps.setValue(100)
        self.recover_steps.setSuffix(" steps")
        self.recover_button = QPushButton("Recover by distillation")
        self.recover_button.setToolTip("Train the pruned model to match the original's next-token distributions on the calibration text (a training run: curves in Training)")  # fmt: skip
        self.export_button = QPushButton("Export GGUF")
        self.export_button.setToolTip("Write the pruned model as a q8_0 GGUF for llama.cpp and add it to the library")  # fmt: skip
        self.chat_button = QPushButton("Chat with this model")
        self.evaluate_button = QPushButton("Evaluate…")
        self.evaluate_button.setToolTip("Compare the pruned model with the original on your own data (the Evaluate panel)")  # fmt: skip
        self.folder_button = QPushButton("Open folder")
        self.job = JobBox()
        self.notes = note()
        self.plot_holder = QVBoxLayout()

        buttons = QHBoxLayout()
        buttons.addWidget(self.recover_steps)
        for b in (self.recover_button, self.export_button, self.chat_button, self.evaluate_button, self.folder_button):  # fmt: skip
            buttons.addWidget(b)
        buttons.addStretch(1)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.title)
        tl.addWidget(self.figures)
        tl.addLayout(buttons)
        tl.addWidget(self.job)
        tl.addWidget(self.notes)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.answers)
        plot = QWidget()
        plot.setLayout(self.plot_holder)
        bottom.addWidget(plot)
        bottom.setSizes([500, 400])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setSizes([260, 360])
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self.recover_button.clicked.connect(
            lambda: self.sig_recover.emit(self.recover_steps.value())
        )
        self.export_button.clicked.connect(self.sig_export)
        self.chat_button.clicked.connect(self._chat)
        self.evaluate_button.clicked.connect(self._evaluate)
        self.folder_button.clicked.connect(lambda: self.run and self.sig_open_folder.emit(self.run["folder"]))  # fmt: skip

    def _evaluate(self) -> None:
        """Open Evaluate with the pruned model and the model it was made from."""
        from desktop.widgets import open_in_evaluate

        if self.run and (self.run.get("models") or {}).get("model"):
            open_in_evaluate(
                self, self.run["models"]["model"], (self.run.get("request") or {}).get("model_id")
            )

    def _chat(self) -> None:
        if self.run and (self.run.get("models") or {}).get("model"):
            models = self.run["models"]
            self.sig_chat.emit(models.get("gguf_q8_0") or models["model"])

    def show_run(self, run: dict[str, Any], family: list[dict[str, Any]]) -> None:
        self.run = run
        res = run.get("result") or {}
        req = run["request"]
        self.title.setText(
            f"{run['name']}: {req['method']} by {req.get('selector')} · {run['state']}"
        )
        rows = [
            ("Parameters", res.get("params_before"), res.get("params_after"), human_count),
            ("Size on disk (safetensors)", res.get("size_before_bytes"), res.get("size_after_bytes"), human_bytes),
            (f"Perplexity ({res.get('eval_tokens', 0)} held-out tokens)", res.get("ppl_before"), res.get("ppl_after"), _fmt),
            ("Tokens/s (transformers, batch 1)", res.get("tokens_per_s_before"), res.get("tokens_per_s_after"), lambda x: _fmt(x, 1)),
        ]  # fmt: skip
        speed = run.get("llama_cpp")
        if speed:
            label = f"Tokens/s (llama.cpp: original {speed.get('parent_quant') or '?'}, pruned {speed['quant']})"
            rows.append((label, speed.get("parent_tokens_per_s"), speed.get("tokens_per_s"), lambda x: _fmt(x, 1)))  # fmt: skip
        for rec in run.get("recoveries") or []:
            rows.append((f"Perplexity after {rec.get('steps')} distillation steps", res.get("ppl_before"), rec.get("heldout_ppl"), _fmt))  # fmt: skip
        self.figures.setRowCount(len(rows))
        for r, (label, before, after, fmt) in enumerate(rows):
            for c, text in enumerate((label, fmt(before), fmt(after), _pct(before, after))):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.figures.setItem(r, c, item)
        answers = run.get("answers") or []
        self.answers.setRowCount(len(answers))
        for r, a in enumerate(answers):
            for c, text in enumerate((a["prompt"], a["before"], a["after"])):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                item.setToolTip(text)
                self.answers.setItem(r, c, item)
        self.answers.resizeRowsToContents()
        done = run["state"] == "succeeded"
        for b in (self.recover_button, self.export_button, self.chat_button):
            b.setEnabled(done)
        exports = [k for k in (run.get("artifacts") or {}) if k.startswith("gguf_")]
        notes = []
        if exports:
            notes.append("Exported: " + ", ".join(k.removeprefix("gguf_") for k in exports) + " (Chat opens the GGUF in llama.cpp).")  # fmt: skip
        if req["method"] == "attention":
            notes.append("Bypassed attention still computes in llama.cpp (its output is zero there): same answers, no speed-up.")  # fmt: skip
        if run.get("error"):
            notes.append(run["error"])
        self.notes.setText(" ".join(notes))
        if self.frontier is None:
            from desktop.panels.pruning.plots import FrontierCanvas

            self.frontier = FrontierCanvas(self)
            self.plot_holder.addWidget(self.frontier)
        self.frontier.show_runs(family, run["id"])
