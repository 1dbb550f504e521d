"""``PruningPanel``: past pruning runs on the left, the wizard on the right
(Model → Method → Calibration → Preview → Run → Results).

Every long step is a job followed through ``EngineClient.start_job``: the preview
(``prune.plan``), the pruning (``prune.start``), a GGUF conversion, a recovery (``prune.recover``,
a training run) and an export (``models.export_gguf``). Selecting a past run opens its Results.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import alive, request
from desktop.engine_client import EngineClient, EngineState, JobHandle
from desktop.panels.pruning.pages import CalibrationPage, MethodPage, ModelPage
from desktop.panels.pruning.results import PreviewPage, ResultsPage, RunPage
from desktop.widgets import MessageBar, open_in_chat

STEPS = ("Model", "Method", "Calibration", "Preview", "Run", "Results")
MODEL, METHOD, CALIBRATION, PREVIEW, RUN, RESULTS = range(6)


class PruningPanel(QWidget):
    sig_open_chat = Signal(str)
    """The user wants to chat with this library model (when no main window can show Chat)."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.jobs: dict[str, JobHandle] = {}
        self.run: dict[str, Any] | None = None

        self.message = MessageBar()
        self.runs = QListWidget()
        self.runs.setToolTip("Pruning runs, newest first; select one to see its results")
        self.new_button = QPushButton("New pruning")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(4, 4, 4, 4)
        ll.addWidget(QLabel("Pruning runs"))
        ll.addWidget(self.runs, 1)
        ll.addWidget(self.new_button)

        self.steps = QLabel()
        self.steps.setTextFormat(Qt.TextFormat.RichText)
        self.model_page = ModelPage()
        self.method_page = MethodPage()
        self.calibration_page = CalibrationPage()
        self.preview_page = PreviewPage()
        self.run_page = RunPage()
        self.results_page = ResultsPage()
        self.stack = QStackedWidget()
        for page in (self.model_page, self.method_page, self.calibration_page, self.preview_page,
                     self.run_page, self.results_page):  # fmt: skip
            self.stack.addWidget(page)
        self.back_button = QPushButton("← Back")
        self.next_button = QPushButton("Next →")
        nav = QHBoxLayout()
        nav.addWidget(self.back_button)
        nav.addStretch(1)
        nav.addWidget(self.next_button)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 4, 4, 4)
        rl.addWidget(self.steps)
        rl.addWidget(self.stack, 1)
        rl.addLayout(nav)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([220, 780])
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.message)
        layout.addWidget(split, 1)

        self.back_button.clicked.connect(lambda: self.go(self.stack.currentIndex() - 1))
        self.next_button.clicked.connect(lambda: self.go(self.stack.currentIndex() + 1))
        self.new_button.clicked.connect(lambda: self.go(MODEL))
        self.runs.currentItemChanged.connect(self._run_selected)
        self.model_page.sig_convert.connect(self._convert)
        self.model_page.sig_changed.connect(self._request_changed)
        self.method_page.sig_changed.connect(self._request_changed)
        self.preview_page.sig_preview.connect(self.preview)
        self.preview_page.job.sig_cancel.connect(lambda: self._cancel("preview"))
        self.run_page.sig_run.connect(self.start)
        self.run_page.job.sig_cancel.connect(lambda: self._cancel("run"))
        self.results_page.sig_recover.connect(self.recover)
        self.results_page.sig_export.connect(self.export)
        self.results_page.sig_chat.connect(self.open_in_chat)
        self.results_page.sig_open_folder.connect(lambda p: QDesktopServices.openUrl(QUrl.fromLocalFile(p)))  # fmt: skip
        self.results_page.job.sig_cancel.connect(lambda: self._cancel("after"))
        client.sig_ready.connect(self._on_ready)
        client.sig_models_changed.connect(self._load_models)
        client.sig_notification.connect(self._on_notification)
        self.go(MODEL)
        if client.state == EngineState.READY:
            self._on_ready(client.init_reply or {})

    # -- engine ------------------------------------------------------------------------------
    def _on_ready(self, _reply: Any) -> None:
        request(self, self.client, "prune.describe", ok=self._described)
        self._load_models()
        request(self, self.client, "data.list", ok=lambda r: self.calibration_page.set_datasets(r.get("datasets") or []))  # fmt: skip
        self.refresh()

    def on_shown(self) -> None:
        self.refresh()

    def _described(self, info: dict[str, Any]) -> None:
        self.method_page.set_info(info)
        self.calibration_page.set_defaults(info.get("defaults") or {})

    def _load_models(self) -> None:
        request(self, self.client, "models.list", ok=lambda r: self.model_page.set_models(r.get("models") or []))  # fmt: skip

    def _on_notification(self, method: str, _params: Any) -> None:
        if method in ("prune.changed", "train.changed"):
            self.refresh()

    def refresh(self) -> None:
        request(self, self.client, "prune.list", ok=self._listed)

    def _listed(self, reply: dict[str, Any]) -> None:
        current = self.runs.currentItem().data(Qt.ItemDataRole.UserRole) if self.runs.currentItem() else None  # fmt: skip
        self.runs.blockSignals(True)
        self.runs.clear()
        for run in reply.get("runs") or []:
            res = run.get("result") or {}
            ppl = (
                f" · ppl {res['ppl_before']:.1f}→{res['ppl_after']:.1f}"
                if res.get("ppl_after")
                else ""
            )
            item = QListWidgetItem(
                f"{run['name']}\n{run['request']['method']} · {run['state']}{ppl}"
            )
            item.setData(Qt.ItemDataRole.UserRole, run["id"])
            item.setToolTip(run.get("error") or run["id"])
            self.runs.addItem(item)
            if run["id"] == current:
                self.runs.setCurrentItem(item)
        self.runs.blockSignals(False)
        if self.run is not None and self.stack.currentIndex() == RESULTS:
            self.show_run(self.run["id"])

    def _run_selected(self, item: QListWidgetItem | None, _prev: Any = None) -> None:
        if item is not None:
            self.show_run(item.data(Qt.ItemDataRole.UserRole))

    # -- wizard ------------------------------------------------------------------------------
    def go(self, index: int) -> None:
        index = max(MODEL, min(RESULTS, index))
        current = self.stack.currentIndex()
        if index > current and index <= RUN:
            problem = self._problem(current)
            if problem:
                self.message.show_message(problem, "warning", timeout_ms=6000)
                return
        self.stack.setCurrentIndex(index)
        self.back_button.setEnabled(index > MODEL)
        self.next_button.setEnabled(index < RUN)
        self.next_button.setVisible(index < RESULTS)
        self.steps.setText(" › ".join(f"<b>{i + 1} {s}</b>" if i == index else f"{i + 1} {s}" for i, s in enumerate(STEPS)))  # fmt: skip

    def _problem(self, index: int) -> str | None:
        page = (self.model_page, self.method_page, self.calibration_page, None, None, None)[index]
        return page.ready() if page is not None else None  # the preview is optional

    def _request_changed(self) -> None:
        self.preview_page.reset()

    def request(self) -> dict[str, Any]:
        model = self.model_page.model
        out = {"model_id": model["id"] if model else None, **self.method_page.request(), **self.calibration_page.request()}  # fmt: skip
        name = self.run_page.name.text().strip()
        if name:
            out["name"] = name
        return out

    def _follow(self, key: str, handle: JobHandle, box: Any, started: str, done: Any) -> None:
        self.jobs[key] = handle
        box.running(started)
        handle.sig_progress.connect(alive(self, box.progress))
        handle.sig_finished.connect(alive(self, lambda result: (box.idle("Done."), done(result))))
        handle.sig_failed.connect(alive(self, lambda error: self._failed(box, error)))

    def _failed(self, box: Any, error: Any) -> None:
        text = getattr(error, "message", None) or str(error)
        box.idle(text)
        self.message.show_message(text, "error")

    def _cancel(self, key: str) -> None:
        handle = self.jobs.get(key)
        if handle is not None:
            handle.cancel()

    def preview(self) -> None:
        req = {k: v for k, v in self.request().items() if k != "name"}
        handle = self.client.start_job("prune.plan", {"request": req})
        self._follow("preview", handle, self.preview_page.job, "Loading the model and scoring…", self.preview_page.show_plan)  # fmt: skip

    def start(self) -> None:
        self.run_page.log.clear()
        handle = self.client.start_job("prune.start", {"request": self.request()})
        handle.sig_log.connect(alive(self, lambda p: self.run_page.log.appendPlainText(p.get("message") or "")))  # fmt: skip
        handle.sig_started.connect(alive(self, lambda _r: self.refresh()))
        self._follow("run", handle, self.run_page.job, "Starting…", self._pruned)

    def _pruned(self, result: dict[str, Any]) -> None:
        self.refresh()
        self.show_run(result["run_id"])

    def show_run(self, run_id: str) -> None:
        def got(run: dict[str, Any]) -> None:
            self.run = run
            parent = run["request"]["model_id"]
            request(self, self.client, "prune.list", {"model_id": parent},
                    ok=lambda r: self.results_page.show_run(run, r.get("runs") or []))  # fmt: skip
            self.go(RESULTS)

        request(self, self.client, "prune.get", {"run": run_id}, ok=got,
                fail=lambda e: self.message.show_message(e.message, "error"))  # fmt: skip

    def _convert(self, model_id: str) -> None:
        handle = self.client.start_job("models.convert", {"id": model_id})
        self._follow("convert", handle, self.preview_page.job, "Converting to torch…", lambda _r: self._converted())  # fmt: skip
        self.message.show_message("Converting the GGUF to torch; the Next button works once it is done (see Activity).", "info", timeout_ms=8000)  # fmt: skip

    def _converted(self) -> None:
        self.message.show_message(
            "Converted: the model can be pruned now.", "info", timeout_ms=5000
        )
        self._load_models()

    def recover(self, steps: int) -> None:
        if self.run is None:
            return
        run_id = self.run["id"]
        handle = self.client.start_job("prune.recover", {"run": run_id, "max_steps": steps})
        handle.sig_started.connect(alive(self, lambda r: self.message.show_message(
            f"Distilling into {r['run']['name']}: its curves are in the Training panel.", "info", timeout_ms=8000)))  # fmt: skip
        self._follow("after", handle, self.results_page.job, "Distilling from the original…", lambda _r: self.show_run(run_id))  # fmt: skip

    def export(self) -> None:
        if self.run is None:
            return
        run_id = self.run["id"]
        model_id = self.run["models"]["model"]
        handle = self.client.start_job(
            "models.export_gguf", {"model_id": model_id, "quant": "q8_0"}
        )
        self._follow("after", handle, self.results_page.job, "Writing the GGUF…", lambda _r: self.show_run(run_id))  # fmt: skip

    def open_in_chat(self, model_id: str) -> None:
        """Switch the main window to Chat with ``model_id`` selected in a new conversation."""
        if not open_in_chat(self, model_id):
            self.sig_open_chat.emit(model_id)
