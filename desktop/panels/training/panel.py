"""``TrainingPanel``: the runs (``train.list``) above the selected run's live view, and a second
tab with the form that starts a new run.

The list follows ``train.changed`` and the ``train.lora`` jobs' progress; the selected run's
curves are backfilled from ``train.metrics`` and then follow its job's ``job.metrics`` and
``job.log`` notifications (points that arrive while the backfill is on its way are kept and
added after it). When the engine restarts, everything is listed again.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import QHeaderView, QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget

from desktop.calls import request
from desktop.engine_client import EngineClient, EngineState
from desktop.errors import EngineError
from desktop.panels.training.actions import RunActions
from desktop.panels.training.new_run import NewRunPane
from desktop.panels.training.run_view import RunView
from desktop.panels.training.runs_model import RunsModel
from desktop.widgets import HintTableView, MessageBar, open_in_chat

EMPTY_HINT = (
    "No training runs yet. Open the New run tab, pick a base model and a dataset (import one in "
    "Datasets first), choose a preset and press Start training. The run's curves and sample "
    "answers appear here while it trains."
)
TRAIN_JOBS = ("train.lora", "train.eval", "train.merge", "train.export")
REFRESH_MS = 250


class TrainingPanel(QWidget):
    sig_open_chat = Signal(str)
    """The user wants to chat with this library model (when no main window can show Chat)."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self._select_after_refresh: str | None = None
        self._backfill: list[tuple[int, dict[str, Any]]] | None = None
        self._metrics_seq = 0
        self._relisted: set[str] = set()
        self._phases: dict[str, tuple[str, float | None]] = {}  # job id: its last report

        self.message = MessageBar()
        self.runs_model = RunsModel(self)
        self.runs_view = HintTableView(EMPTY_HINT)
        self.runs_view.setModel(self.runs_model)
        self.runs_view.follow_engine(client)
        self.runs_view.setSelectionBehavior(HintTableView.SelectionBehavior.SelectRows)
        self.runs_view.setSelectionMode(HintTableView.SelectionMode.SingleSelection)
        self.runs_view.verticalHeader().hide()
        header = self.runs_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.new_button = QPushButton("New run…")
        self.new_button.setToolTip("Open the form that starts a training run")
        self.run_view = RunView()

        runs_page = QWidget()
        runs_layout = QVBoxLayout(runs_page)
        runs_layout.setContentsMargins(4, 4, 4, 4)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.runs_view)
        split.addWidget(self.run_view)
        split.setStretchFactor(1, 1)
        split.setSizes([150, 500])
        split.setChildrenCollapsible(False)
        runs_layout.addWidget(split, 1)
        self.new_run = NewRunPane(client)
        new_page = QWidget()
        new_layout = QVBoxLayout(new_page)
        new_layout.setContentsMargins(4, 4, 4, 4)
        new_layout.addWidget(self.new_run)
        self.tabs = QTabWidget()
        self.tabs.addTab(runs_page, "Runs")
        self.tabs.addTab(new_page, "New run")
        self.tabs.setCornerWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.message)
        layout.addWidget(self.tabs, 1)

        self.actions = RunActions(self)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self.new_button.clicked.connect(lambda: self.tabs.setCurrentIndex(1))
        self.runs_view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.new_run.sig_started.connect(self._started)
        client.sig_ready.connect(self._on_ready)
        client.sig_notification.connect(self._on_notification)
        client.sig_job_metrics.connect(self._on_metrics)
        client.sig_job_log.connect(self._on_log)
        client.sig_job_progress.connect(self._on_job_progress)
        client.sig_models_changed.connect(self._reload_models)
        if client.state == EngineState.READY:
            self._on_ready(client.init_reply or {})

    # -- engine ------------------------------------------------------------------------------

    def _on_ready(self, _reply: dict[str, Any]) -> None:
        self.refresh()
        self.new_run.load()
        if self.run_view.run is not None:  # after a restart: what the old engine sent is stale
            self._load_metrics(self.run_view.run["id"])

    def on_shown(self) -> None:
        self.refresh()

    def _reload_models(self) -> None:
        request(self, self.client, "models.list",
                ok=lambda r: self.new_run.set_models(r.get("models") or []))  # fmt: skip

    def _on_notification(self, method: str, _params: dict[str, Any]) -> None:
        if method == "train.changed":
            self._refresh_timer.start()
        elif method == "data.changed":
            request(self, self.client, "data.list",
                    ok=lambda r: self.new_run.set_datasets(r.get("datasets") or []))  # fmt: skip

    def _on_job_progress(self, params: dict[str, Any]) -> None:
        if params.get("job_kind") == "train.lora" and params.get("kind") in ("begin", "end"):
            self._refresh_timer.start()
        job_id = params.get("job_id")
        if params.get("kind") == "report" and job_id:
            self._phases[job_id] = (params.get("message") or "", params.get("progress"))
            if self._run_of_job(job_id) is not None:
                self.run_view.show_phase(*self._phases[job_id])
        elif params.get("kind") == "end":
            self._phases.pop(job_id, None)

    def _show_phase_of(self, run: dict[str, Any] | None) -> None:
        """A run shown after its job reported what it is doing: show that at once."""
        phase = self._phases.get((run or {}).get("job_id"))
        if phase is not None and (run or {}).get("state") in ("queued", "running"):
            self.run_view.show_phase(*phase)

    # -- runs --------------------------------------------------------------------------------

    def refresh(self) -> None:
        request(self, self.client, "train.list", ok=self._show_runs, fail=self._list_failed)

    def _list_failed(self, error: EngineError) -> None:
        self.message.show_message(f"Cannot list the training runs: {error.message}", "error")

    def _show_runs(self, result: dict[str, Any]) -> None:
        runs = result.get("runs") or []
        selected = self._select_after_refresh or (self.run_view.run or {}).get("id")
        self._select_after_refresh = None
        self.runs_model.set_records(runs)
        row = self.runs_model.row_of(selected) if selected else -1
        if row >= 0:
            self.runs_view.selectionModel().select(
                self.runs_model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
            self._selection_changed()
        elif runs and selected is None:
            self.runs_view.selectRow(0)
        else:
            self.run_view.show_run(None)

    def selected_run(self) -> dict[str, Any] | None:
        rows = self.runs_view.selectionModel().selectedRows()
        return self.runs_model.record_at(rows[0].row()) if rows else None

    def select_run(self, run_id: str) -> None:
        row = self.runs_model.row_of(run_id)
        if row >= 0:
            self.runs_view.selectRow(row)

    def _selection_changed(self, *_args) -> None:
        run = self.selected_run()
        previous = (self.run_view.run or {}).get("id")
        self.run_view.show_run(dict(run) if run else None)
        self._show_phase_of(run)
        if run is not None and run["id"] != previous:
            self._load_metrics(run["id"])

    def _load_metrics(self, run_id: str) -> None:
        self._metrics_seq += 1
        seq = self._metrics_seq
        self._backfill = []

        def done(result: dict[str, Any]) -> None:
            if seq != self._metrics_seq or (self.run_view.run or {}).get("id") != run_id:
                return
            pending, self._backfill = self._backfill or [], None
            self.run_view.set_metrics(result)
            last = max((int(r.get("step") or 0) for r in result.get("metrics") or []), default=-1)
            for step, values in pending:
                if step > last:
                    self.run_view.add_metrics(step, values)

        def failed(error: EngineError) -> None:
            if seq == self._metrics_seq:
                self._backfill = None
                self.message.show_message(
                    f"Cannot read the run's metrics: {error.message}", "error"
                )

        # after_step is exclusive and step 0 holds the base model's eval loss: start below it
        request(self, self.client, "train.metrics", {"run": run_id, "after_step": -1},
                ok=done, fail=failed)  # fmt: skip

    def update_run(self, run: dict[str, Any]) -> None:
        """A fresher copy of a run (from train.get, cancel, resume)."""
        if not self.runs_model.replace_record(run):
            self._refresh_timer.start()
        if (self.run_view.run or {}).get("id") == run.get("id"):
            self.run_view.show_run(dict(run))

    def reload_run(self, run_id: str) -> None:
        request(self, self.client, "train.get", {"run": run_id}, ok=self.update_run)

    def _started(self, result: dict[str, Any]) -> None:
        run = result.get("run") or {}
        self._select_after_refresh = run.get("id")
        self.tabs.setCurrentIndex(0)
        self.message.show_message(f"Training {run.get('name') or run.get('id')} started.", "success",
                                  timeout_ms=8000)  # fmt: skip
        self.refresh()

    # -- live notifications ------------------------------------------------------------------

    def _run_of_job(self, job_id: str | None) -> dict[str, Any] | None:
        run = self.run_view.run
        if (
            run is not None
            and job_id
            and (run.get("job_id") == job_id or job_id in (run.get("jobs") or []))
        ):
            return run
        return None

    def _on_metrics(self, params: dict[str, Any]) -> None:
        job_id = params.get("job_id")
        step, values = int(params.get("step") or 0), params.get("values") or {}
        listed = next((r for r in self.runs_model.records() if r.get("job_id") == job_id), None)
        if listed is not None and step > (listed.get("step") or 0):
            self.runs_model.replace_record({**listed, "step": step, "state": "running"})
            if not listed.get("total_steps") and job_id not in self._relisted:
                self._relisted.add(job_id)  # listed before it knew its length: list once more
                self._refresh_timer.start()
        if self._run_of_job(job_id) is None:
            return
        if self._backfill is not None:
            self._backfill.append((step, values))
        else:
            self.run_view.add_metrics(step, values)

    def _on_log(self, params: dict[str, Any]) -> None:
        if self._run_of_job(params.get("job_id")) is not None:
            self.run_view.add_log(params.get("message") or "")

    # -- chat --------------------------------------------------------------------------------

    def open_in_chat(self, model_id: str) -> None:
        """Switch the main window to Chat with ``model_id`` selected in a new conversation."""
        if not open_in_chat(self, model_id):
            self.sig_open_chat.emit(model_id)
