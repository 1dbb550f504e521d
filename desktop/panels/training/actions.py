"""``RunActions``: what the run view's buttons do -- cancel, resume, evaluate, merge, export,
delete, open the folder, and chat with the fine-tuned model -- and following the jobs they start
(``train.eval``, ``train.merge``, ``train.export``) until they end, to show their result."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDialog, QFileDialog, QMenu, QMessageBox

from desktop.calls import request
from desktop.engine_client import JobFailure
from desktop.errors import EngineError
from desktop.panels.training.dialogs import EvalDialog, ExportDialog

if TYPE_CHECKING:
    from desktop.panels.training.panel import TrainingPanel

JOB_TITLES = {"train.eval": "Evaluation", "train.merge": "Merge", "train.export": "GGUF export",
              "train.handoff": "The cluster hand-off", "train.import_result": "The cluster import"}  # fmt: skip


def chat_model_id(run: dict[str, Any]) -> str | None:
    """The library model "chat with this model" opens: the run's merged or exported model,
    else its exported adapter; None when nothing chat-able was made yet."""
    chat = run.get("chat") or {}
    for key in ("model", "adapter"):
        model_id = (chat.get(key) or {}).get("model_id")
        if model_id:
            return model_id
    return None


class RunActions(QObject):
    def __init__(self, panel: TrainingPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.client = panel.client
        self.chat_after_export: str | None = None  # run id whose export should open Chat
        buttons = panel.run_view.buttons
        buttons["cancel"].clicked.connect(lambda: self._simple("train.cancel", "Cancelling"))
        buttons["resume"].clicked.connect(lambda: self._simple("train.resume", "Resuming"))
        buttons["eval"].clicked.connect(self.evaluate)
        buttons["compare"].clicked.connect(self.compare)
        buttons["merge"].clicked.connect(self.merge)
        buttons["export"].clicked.connect(self.export)
        buttons["delete"].clicked.connect(self.delete)
        buttons["folder"].clicked.connect(self.open_folder)
        buttons["chat"].clicked.connect(self.chat)
        menu = QMenu(buttons["cluster"])
        self.handoff_action = menu.addAction("Run on a cluster…", self.handoff)
        self.import_action = menu.addAction("Import cluster result…", self.import_result)
        buttons["cluster"].setMenu(menu)
        # seams: tests answer the folder questions without a window manager
        self.ask_folder = lambda title: QFileDialog.getExistingDirectory(self.panel, title)

    @property
    def run(self) -> dict[str, Any] | None:
        return self.panel.run_view.run

    def _fail(self, error: EngineError) -> None:
        self.panel.message.show_message(error.message, "error")

    def _simple(self, method: str, doing: str) -> None:
        run = self.run
        if run is None:
            return

        def done(result: dict[str, Any]) -> None:
            if result.get("run"):
                self.panel.update_run(result["run"])
            self.panel.message.show_message(f"{doing} {run.get('name') or run['id']}.", "info",
                                            timeout_ms=5000)  # fmt: skip

        request(self, self.client, method, {"run": run["id"]}, ok=done, fail=self._fail)

    def _start_job(self, method: str, params: dict[str, Any], kind: str) -> None:
        run = self.run
        if run is None:
            return
        handle = self.client.start_job(method, {"run": run["id"], **params})
        name = run.get("name") or run["id"]

        def started(_reply: dict[str, Any]) -> None:
            if not handle.done:
                self.panel.message.show_message(f"{JOB_TITLES[kind]} of {name} started; it shows "
                                                "in Activity too.", "info")  # fmt: skip

        def failed(error: Exception) -> None:
            if isinstance(error, JobFailure):
                self._show_job(kind, run["id"], {"state": error.state, "error": error.message})
            else:
                self._fail(error)  # refused before it started

        handle.sig_started.connect(started)
        handle.sig_finished.connect(lambda result: self._show_job(kind, run["id"], {"state": "succeeded", "result": result}))  # fmt: skip
        handle.sig_failed.connect(failed)

    def evaluate(self) -> None:
        if self.run is None:
            return
        dialog = EvalDialog(self.run, self.panel)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._start_job("train.eval", dialog.params(), "train.eval")

    def merge(self) -> None:
        self._start_job("train.merge", {}, "train.merge")

    def export(self) -> None:
        if self.run is None:
            return
        dialog = ExportDialog(self.run, self.panel)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._start_job("train.export", dialog.params(), "train.export")

    def handoff(self) -> None:
        """A new folder next to the one picked: ``<picked>/<run id>-cluster``."""
        run = self.run
        if run is None:
            return
        parent = self.ask_folder("Where to write the cluster folder (a new folder is made in it)")
        if parent:
            self._start_job("train.handoff", {"out": str(Path(parent) / f"{run['id']}-cluster")}, "train.handoff")  # fmt: skip

    def import_result(self) -> None:
        if self.run is None:
            return
        folder = self.ask_folder("The hand-off folder copied back from the cluster (with output/adapter)")  # fmt: skip
        if folder:
            self._start_job("train.import_result", {"folder": folder}, "train.import_result")

    def delete(self) -> None:
        run = self.run
        if run is None:
            return
        answer = QMessageBox.question(
            self.panel,
            "Delete run",
            f"Delete the run {run.get('name') or run['id']}, its folder (checkpoints, adapter, "
            "exports) and the library models made from it? This cannot be undone.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        request(self, self.client, "train.delete", {"run": run["id"]},
                ok=lambda _r: self.panel.refresh(), fail=self._fail)  # fmt: skip

    def open_folder(self) -> None:
        folder = (self.run or {}).get("folder")
        if folder:
            QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

    def chat(self) -> None:
        run = self.run
        if run is None:
            return
        model_id = chat_model_id(run)
        if model_id:
            self.panel.open_in_chat(model_id)
            return
        if run.get("method") in ("lora", "qlora"):
            # the adapter (a few MB) goes to llama.cpp as it is, on its base: nothing to decide
            self.chat_after_export = run["id"]
            self.panel.message.show_message("Preparing the adapter for Chat (a GGUF LoRA)…")
            self._start_job("train.export", {"what": "adapter"}, "train.export")
            return
        answer = QMessageBox.question(
            self.panel,
            "Export first",
            "Chat runs on llama.cpp, so this run needs a GGUF first, and a "
            f"{'fully fine-tuned' if run.get('method') == 'full' else 'DoRA'} model cannot be "
            "applied as an adapter. Export the merged model as q8_0 now and open it in Chat when "
            "the export is done?",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.chat_after_export = run["id"]
            self._start_job("train.export", {"what": "merged", "quant": "q8_0"}, "train.export")

    def compare(self) -> None:
        """Open Evaluate with the tuned model (once exported or merged) and its base."""
        from desktop.widgets import open_in_evaluate

        run = self.run
        if run is None:
            return
        model_id = chat_model_id(run)
        if not model_id:
            self.panel.message.show_message(
                "Merge the run or export it as GGUF first: Evaluate compares library models.",
                "info",
            )
            return
        open_in_evaluate(self.panel, model_id, run.get("model_id"))

    # -- jobs --------------------------------------------------------------------------------

    def _show_job(self, kind: str, run_id: str, job: dict[str, Any]) -> None:
        title = JOB_TITLES.get(kind, kind)
        if job.get("state") != "succeeded":
            error = job.get("error") or job.get("message") or job.get("state")
            self.panel.message.show_message(f"{title} did not finish: {error}", "error")
            if run_id == self.chat_after_export:
                self.chat_after_export = None
            return
        result = job.get("result") or {}
        shown = (self.run or {}).get("id") == run_id
        if kind == "train.eval":
            if shown:
                self.panel.run_view.show_eval(result)
            self.panel.message.show_message("Evaluation done.", "success", timeout_ms=8000)
        elif kind == "train.handoff":
            self.panel.message.show_message(
                f"Wrote {result['folder']}. On the cluster: {result['launch']} (see its README.md).",
                "success",
            )  # fmt: skip
        elif kind == "train.import_result":
            self.panel.message.show_message(f"The cluster's adapter is now the run {result['name']}, in the library and ready to chat with.", "success")  # fmt: skip
            self.panel.refresh()
        else:
            where = result.get("path") or ""
            self.panel.message.show_message(f"{title} done: {where}", "success", timeout_ms=15000)
        if run_id is not None:
            self.panel.reload_run(run_id)
        if kind == "train.export" and run_id == self.chat_after_export:
            self.chat_after_export = None
            if result.get("model_id"):
                self.panel.open_in_chat(result["model_id"])
