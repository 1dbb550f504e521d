"""``ModelsPanel``: the model library table, its actions, a details pane, and drag-and-drop import."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.engine_client import EngineClient, JobFailure, JobHandle
from desktop.errors import EngineError
from desktop.format import human_bytes, human_count
from desktop.panels.models.quantize_dialog import QuantizeDialog
from desktop.panels.models.table_model import (
    REMOTE_COLOUR,
    ModelsTableModel,
    capabilities_text,
    source_of,
)
from desktop.widgets import HintTableView, MessageBar, open_in_evaluate

EMPTY_HINT = (
    "No models yet.\nDrop a .gguf file or a Hugging Face folder here, or click Import file…"
)


class ModelsPanel(QWidget):
    sig_import_started = Signal(str)
    """An import job was started; the argument is its job id."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.setAcceptDrops(True)

        self.import_file_button = QPushButton("Import file…")
        self.import_folder_button = QPushButton("Import folder…")
        self.copy_checkbox = QCheckBox("Copy into Hearth's data folder")
        self.copy_checkbox.setChecked(True)
        self.copy_checkbox.setToolTip(
            "Unchecked: Hearth uses the files where they are and never deletes them."
        )
        self.rename_button = QPushButton("Rename…")
        self.remove_button = QPushButton("Remove…")
        self.locate_button = QPushButton("Locate…")
        self.locate_button.setToolTip(
            "The model's file or folder moved: point Hearth at its new place. Conversations, "
            "settings and training runs keep using it."
        )
        self.convert_button = QPushButton("Convert to torch")
        self.convert_button.setToolTip(
            "Make a torch (safetensors) copy of a GGUF model for training and pruning."
        )
        self.server_button = QPushButton("Add server…")
        self.server_button.setToolTip(
            "Add a model served by an OpenAI-compatible server: vLLM, llama.cpp, Ollama, LM "
            "Studio, TGI or another Hearth. What you send it leaves this machine."
        )
        self.key_button = QPushButton("Server key…")
        self.key_button.setToolTip("Change the API key of the selected model's server.")
        self.server_button.clicked.connect(self._add_server)
        self.key_button.clicked.connect(self._server_key)
        self.quantize_button = QPushButton("Quantize…")
        self.quantize_button.setToolTip(
            "Write a smaller GGUF of this model (8, 6, 5 or 4-bit) with llama.cpp's quantizer."
        )
        self.import_file_button.clicked.connect(self.choose_file)
        self.import_folder_button.clicked.connect(self._choose_folder)
        self.rename_button.clicked.connect(self._rename)
        self.locate_button.clicked.connect(self._locate)
        self.remove_button.clicked.connect(self._remove)
        self.convert_button.clicked.connect(self._convert)
        self.quantize_button.clicked.connect(self._quantize)

        toolbar = QHBoxLayout()
        for w in (self.import_file_button, self.import_folder_button, self.copy_checkbox,
                  self.server_button):  # fmt: skip
            toolbar.addWidget(w)
        toolbar.addStretch(1)
        for w in (self.rename_button, self.locate_button, self.key_button, self.remove_button,
                  self.convert_button, self.quantize_button):  # fmt: skip
            toolbar.addWidget(w)

        self.table_model = ModelsTableModel(self)
        self.table = HintTableView(EMPTY_HINT)
        self.table.follow_engine(client)
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 190)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._update_selection)
        self.table.doubleClicked.connect(lambda _i: self.details.setFocus())

        self.details = QTextBrowser()
        self.details.setOpenLinks(False)
        self.details.anchorClicked.connect(self._link)
        self._family: dict[str, Any] = {}
        self.details.setMinimumWidth(260)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([820, 280])

        self.message = MessageBar()
        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)

        client.sig_models_changed.connect(self.refresh)
        client.sig_ready.connect(lambda _reply: self.refresh())
        self._update_selection()

    # -- data -----------------------------------------------------------------------------

    def on_shown(self) -> None:
        notice = (self.client.init_reply or {}).get("gpu_notice")
        if notice and not self.message.isVisible():  # a GPU this install's torch cannot use
            self.message.show_message(notice, "info")
        self.refresh()

    def refresh(self) -> None:
        self.client.call("models.list").on_success(self._show_models).on_failure(self._show_error)

    def _show_models(self, result: dict[str, Any]) -> None:
        selected = self.selected_model()
        self.table_model.set_models(result.get("models", []))
        row = self.table_model.row_of(selected["id"]) if selected is not None else -1
        if row < 0 and self.table_model.rowCount() > 0:
            row = 0
        if row >= 0:
            self.table.selectRow(row)
        self._update_selection()

    def selected_model(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table_model.model_at(rows[0].row()) if rows else None

    def _update_selection(self, *_args: Any) -> None:
        model = self.selected_model()
        self.rename_button.setEnabled(model is not None)
        self.remove_button.setEnabled(model is not None)
        self.locate_button.setVisible(
            bool(model and model.get("missing") and not model.get("bundled"))
        )
        caps = (model or {}).get("capabilities") or {}
        self.convert_button.setEnabled(
            bool(model and caps.get("convert") and not model.get("missing"))
        )
        local = bool(model and not model.get("remote"))
        self.quantize_button.setEnabled(
            bool(local and model and model.get("role") == "llm" and not model.get("missing"))
        )
        self.key_button.setVisible(bool(model and model.get("remote")))
        self.details.setHtml(
            details_html(model)
            if model
            else "<p style='color:gray'>Select a model to see its details.</p>"
        )
        if model and model.get("role") == "llm" and model.get("id"):
            self.client.call("models.quantized", {"id": model["id"]}).on_success(
                lambda family: self._show_family(model, family)
            )

    def _show_family(self, model: dict[str, Any], family: dict[str, Any]) -> None:
        """Add the quantized versions (size, perplexity) under the details of ``model``."""
        shown = self.selected_model()
        if not family.get("rows") or shown is None or shown["id"] != model["id"]:
            return
        self._family = family
        self.details.setHtml(details_html(model) + family_html(family, model["id"]))

    # -- actions --------------------------------------------------------------------------

    def import_paths(self, paths: list[str]) -> None:
        mode = "copy" if self.copy_checkbox.isChecked() else "reference"
        for path in paths:
            self._import({"path": path, "mode": mode})

    def _import(self, params: dict[str, Any]) -> None:
        name = Path(params["path"]).name

        def refused(error: EngineError) -> None:
            data = error.data if isinstance(error.data, dict) else {}
            if data.get("needs_base") and "base_model_id" not in params:
                self._import_adapter(params, data.get("arch"), data.get("kind") or "LoRA")
            else:
                self._show_error(error)

        self._follow(self.client.start_job("models.import", params), f"Importing {name}", refused)

    def _import_adapter(self, params: dict[str, Any], arch: str | None, kind: str) -> None:
        """An adapter needs the base model it was trained on: ask which, then import again. A
        LoRA goes on a GGUF (llama.cpp), virtual tokens on a model transformers runs."""
        prompt = kind == "prompt tuning"
        bases = [
            m
            for m in self.table_model.records()
            if m.get("role") == "llm" and not m.get("missing")
            and (m.get("capabilities") or {}).get("chat_transformers" if prompt else "chat_llama_cpp")
            and (prompt or m.get("format") == "gguf")
        ]  # fmt: skip
        bases.sort(key=lambda m: (m.get("arch") != arch, (m.get("name") or "").lower()))
        name = Path(params["path"]).name
        if not bases:
            where = "a model transformers can run" if prompt else "the GGUF base model"
            self.message.show_message(
                f"{name} is a {kind} adapter: import {where} it was trained on first, then import "
                "the adapter again.",
                "error",
            )
            return
        base_id = self.choose_base(name, bases, arch, kind)
        if base_id:
            self._import({**params, "base_model_id": base_id})

    def choose_base(self, name: str, bases: list[dict[str, Any]], arch: str | None, kind: str = "LoRA") -> str | None:  # fmt: skip
        labels = [f"{m.get('name') or m['id']} ({m.get('arch') or '?'}, {m['id']})" for m in bases]
        hint = f" It was trained on a {arch} model." if arch else ""
        label, ok = QInputDialog.getItem(
            self,
            f"Base model for a {kind} adapter",
            f"{name} is a {kind} adapter.{hint} Pick the base model it applies to:",
            labels,
            0,
            False,
        )
        return bases[labels.index(label)]["id"] if ok and label in labels else None

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a GGUF model", str(Path.home()), "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            self.import_paths([path])

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Import a Hugging Face model folder", str(Path.home())
        )
        if path:
            self.import_paths([path])

    def _locate(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        path = self.choose_new_place(model)
        if not path:
            return
        self.client.call("models.relink", {"id": model["id"], "path": path}).on_success(
            lambda m: (
                self.message.show_message(
                    f"{m['name']} is back: {m['path']}", "success", timeout_ms=6000
                ),
                self.refresh(),
            )
        ).on_failure(self._show_error)

    def choose_new_place(self, model: dict[str, Any]) -> str | None:
        """Ask where the moved file (GGUF) or folder (Hugging Face) of ``model`` is now."""
        start = str(Path(model.get("path") or Path.home()).parent)
        if not Path(start).is_dir():
            start = str(Path.home())
        if model.get("format") == "hf":
            path = QFileDialog.getExistingDirectory(self, f"Where is {model['name']} now?", start)
        else:
            path, _ = QFileDialog.getOpenFileName(
                self, f"Where is {model['name']} now?", start, "GGUF models (*.gguf);;All files (*)"
            )
        return path or None

    def _rename(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        name, ok = QInputDialog.getText(self, "Rename model", "New name:", text=model["name"])
        if ok and name.strip():
            self.client.call("models.rename", {"id": model["id"], "name": name.strip()}).on_success(
                lambda _m: self.refresh()
            ).on_failure(self._show_error)

    def _remove(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Remove model")
        box.setText(f"Remove {model['name']} from the library?")
        delete_files = None
        if model.get("managed") and not model.get("bundled"):
            delete_files = QCheckBox("Also delete the copy in Hearth's data folder")
            box.setCheckBox(delete_files)
        else:
            box.setInformativeText("Its files stay where they are.")
        box.setStandardButtons(QMessageBox.StandardButton.Cancel)
        remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        box.exec()
        if box.clickedButton() is not remove:
            return
        params = {
            "id": model["id"],
            "delete_files": bool(delete_files and delete_files.isChecked()),
        }
        self.client.call("models.remove", params).on_success(
            lambda _r: (
                self.message.show_message(f"Removed {model['name']}.", "success", timeout_ms=5000),
                self.refresh(),
            )
        ).on_failure(self._show_error)

    def _convert(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        text = f"Converting {model['name']} to torch (about a minute for a small model)"
        self._follow(self.client.start_job("models.convert", {"id": model["id"]}), text)

    def _link(self, url: Any) -> None:
        if url.toString() == "hearth:compare-quantized":
            ids = [r["model_id"] for r in self._family.get("rows", [])]
            open_in_evaluate(self, *ids, kind="perplexity")

    def _quantize(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        self.client.call("models.quantize_options", {"id": model["id"]}).on_success(
            lambda options: self._ask_quantize(model, options)
        ).on_failure(self._show_error)

    def _ask_quantize(self, model: dict[str, Any], options: dict[str, Any]) -> None:
        dialog = QuantizeDialog(options, self)
        if not self.run_dialog(dialog) or dialog.quant() is None:
            return
        quant, compare = dialog.quant(), dialog.compare.isChecked()

        def done(result: dict[str, Any]) -> None:
            size = human_bytes(result.get("size_bytes"))
            note = f" {result['note']}" if result.get("note") else ""
            self.message.show_message(f"Quantized {model['name']} to {quant} ({size}).{note}", "success")  # fmt: skip
            if compare:
                open_in_evaluate(self, model["id"], result["model_id"], kind="perplexity")

        handle = self.client.start_job("models.quantize", {"id": model["id"], "quant": quant})
        self._follow(handle, f"Quantizing {model['name']} to {quant}", done=done)

    def _add_server(self) -> None:
        from desktop.panels.models.server_dialog import ServerDialog

        dialog = ServerDialog(self.client, self)
        if self.run_dialog(dialog) and dialog.added:
            added = dialog.added
            self.message.show_message(f"Added {added['name']}, served by {added['path']}. Hearth asks before the first message goes there.", "info")  # fmt: skip
            self.refresh()

    def _server_key(self) -> None:
        model = self.selected_model()
        if model is None or not model.get("remote"):
            return
        base = model["remote"]["base"]
        key, ok = QInputDialog.getText(self, "Server key", f"API key for {base} (empty: none). It is kept in the system keyring.", QLineEdit.EchoMode.Password)  # fmt: skip
        if ok:
            params = {"base": base, **({"api_key": key.strip()} if key.strip() else {})}
            self.client.call("models.set_remote_key", params).on_success(
                lambda _i: (self.message.show_message(f"The key of {base} was changed.", "info"), self.refresh())
            ).on_failure(self._show_error)  # fmt: skip

    def run_dialog(self, dialog: QDialog) -> bool:
        """Show a dialog modally (a seam: tests answer it without a window manager)."""
        return dialog.exec() == QDialog.DialogCode.Accepted

    def _follow(
        self,
        handle: JobHandle,
        text: str,
        refused: Callable[[EngineError], None] | None = None,
        done: Callable[[Any], None] | None = None,
    ) -> None:
        """Say in the panel's message line what the job does and how it ended (``done`` then
        gets the job's result)."""

        def started(reply: dict[str, Any]) -> None:
            self.sig_import_started.emit(handle.job_id)
            if not handle.done:
                self.message.show_message(
                    f"{text}… Progress is in the status bar and the Activity panel.", "info"
                )

        def finished(result: Any) -> None:
            self.message.show_message(f"{text}: done.", "success", timeout_ms=8000)
            self.refresh()
            if done is not None:
                done(result)

        def failed(error: Exception) -> None:
            if isinstance(error, JobFailure) and error.state != "failed":
                self.message.show_message(f"{text}: {error.state}.", "info", timeout_ms=8000)
            elif isinstance(error, JobFailure):
                self.message.show_message(f"{text} failed: {error.message}", "error")
            else:  # the engine refused to start it
                (refused or self._show_error)(error)
                return
            self.refresh()

        handle.sig_started.connect(started)
        handle.sig_finished.connect(finished)
        handle.sig_failed.connect(failed)

    def _show_error(self, error: EngineError) -> None:
        self.message.show_message(error.message, "error")

    # -- drag and drop --------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if droppable_paths(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = droppable_paths(event.mimeData().urls())
        if paths:
            event.acceptProposedAction()
            self.import_paths(paths)


def droppable_paths(urls: list[Any]) -> list[str]:
    """Local .gguf files and folders among dropped URLs."""
    out = []
    for url in urls:
        if not url.isLocalFile():
            continue
        path = Path(url.toLocalFile())
        if path.is_dir() or path.suffix.lower() == ".gguf":
            out.append(str(path))
    return out


def role_text(m: dict[str, Any]) -> str:
    if m.get("role") == "embedding":
        return "embedding model"
    if m.get("role") == "adapter":
        base = m.get("base_name") or m.get("base_model_id") or "no base model"
        text = f"LoRA adapter on {base}"
        if m.get("format") == "peft":
            text = (f"Prompt tuning on {base}: {m.get('virtual_tokens')} learned virtual tokens in "
                    "front of every input. It runs in transformers; llama.cpp cannot run it")  # fmt: skip
        return f"{text} (unusable: {m['missing_reason']})" if m.get("missing_reason") else text
    return "language model"


def lineage_text(lineage: dict[str, Any]) -> str:
    """Where a model made in Hearth came from: parent, method and amount."""
    parent = lineage.get("parent_name") or lineage.get("parent_id") or "another model"
    if lineage.get("method") == "quantize":
        return f"{parent}, quantized to {lineage.get('quant')} by llama.cpp"
    method = {"distill": "distillation from its original"}.get(lineage.get("method"), f"{lineage.get('method')} pruning")  # fmt: skip
    text = f"{parent}, by {method}"
    if lineage.get("amount"):
        text += f" ({lineage['amount']})"
    if lineage.get("quant"):
        text += f", exported as GGUF {lineage['quant']}"
    return text


def family_html(family: dict[str, Any], shown_id: str | None = None) -> str:
    """The table of a model and its quantized versions: type, size, perplexity and its change
    (the row of ``shown_id`` in bold)."""
    cells = "padding:2px 10px 2px 0"
    head = "".join(f"<th align='left' style='{cells}'>{h}</th>" for h in ("Type", "Size", "Perplexity"))  # fmt: skip
    body = ""
    for r in family["rows"]:
        ppl = "–" if r["perplexity"] is None else f"{r['perplexity']:.2f}"
        if r["change"] is not None and r["model_id"] != family.get("base_id"):
            ppl += f" ({r['change']:+.1%})"
        kind = r["quant"] if r["model_id"] != family["root_id"] else f"{r['quant']} (original)"
        row = "".join(f"<td style='{cells}'>{html.escape(str(v))}</td>"
                      for v in (kind, human_bytes(r["size_bytes"]), ppl))  # fmt: skip
        body += f"<tr style='font-weight:bold'>{row}</tr>" if r["model_id"] == shown_id else f"<tr>{row}</tr>"  # fmt: skip
    if family.get("run_id"):
        note = f"Perplexity on {html.escape(family.get('text') or 'the same text')}, from Evaluate."
    else:
        note = "Perplexity not measured yet."
    link = "<a href='hearth:compare-quantized'>Compare their perplexity in Evaluate</a>"
    return (f"<h4>Quantized versions</h4><table><tr>{head}</tr>{body}</table>"
            f"<p style='color:gray'>{note} {link}</p>")  # fmt: skip


def details_html(m: dict[str, Any]) -> str:
    esc = html.escape
    rows = [
        ("Name", m.get("name")),
        ("ID", m.get("id")),
        ("Format", (m.get("format") or "").upper()),
        ("Role", role_text(m)),
        ("Architecture", m.get("arch") or "–"),
        ("Parameters", f"{human_count(m.get('params'))} ({m.get('params') or 0:,})"),
        ("Quantization", m.get("quant") or "–"),
        ("Context length", f"{m['context_length']:,} tokens" if m.get("context_length") else "–"),
        ("Size", human_bytes(m.get("size_bytes"))),
        ("Source", source_of(m)),
        ("Path", m.get("path")),
        ("Torch copy", m.get("torch_path") or "not converted"),
        ("Can", capabilities_text(m)),
    ]
    if m.get("lineage"):
        rows.insert(4, ("Made from", lineage_text(m["lineage"])))
    remote = m.get("remote")
    if remote:
        keys = {"keyring": "in the system keyring", "environment": f"from ${remote.get('key_env')}"}
        rows = [*rows[:4], ("Server", remote["base"]), ("Server's model", remote["model"]),
                ("API key", keys.get(remote.get("key") or "", "none")),
                ("Sending", "confirmed" if remote.get("confirmed") else "asked before the first message"),
                ("Context length", rows[7][1]), ("Can", capabilities_text(m))]  # fmt: skip
    body = "".join(
        f"<tr><td style='color:gray;padding-right:8px'>{esc(k)}</td><td>{esc(str(v))}</td></tr>"
        for k, v in rows
    )
    warn = ""
    if remote:
        warn = f"<p style='color:{REMOTE_COLOUR}'><b>⇄ Runs on {esc(remote['base'])}.</b> What you send this model leaves this machine.</p>"  # fmt: skip
        return f"<h3>{esc(m.get('name') or '')}</h3>{warn}<table>{body}</table>"
    if m.get("missing"):
        warn = "<p style='color:#d9534f'><b>The file is missing.</b> Import it again from its new place, or remove it.</p>"
    template = m.get("chat_template")
    tpl = (
        f"<h4>Chat template</h4><pre style='white-space:pre-wrap'>{esc(template)}</pre>"
        if template
        else "<h4>Chat template</h4><p style='color:gray'>None in the file: Hearth uses a plain transcript format unless you pick one.</p>"
    )
    return f"<h3>{esc(m.get('name') or '')}</h3>{warn}<table>{body}</table>{tpl}"
