"""``DocumentsPanel``: the collections on the left (New, Rename, Delete), and for the selected one
its ingest job strip and four tabs -- Files, Search, Chunks, Evaluation.

Files and folders come in through the Files tab's buttons or by dropping them anywhere on the
panel; either way they start a ``docs.ingest`` job followed by the ``IngestTracker``. The engine's
``docs.changed`` notification (a collection created, renamed, deleted, or an ingest that ended)
re-lists the collections and the files. Engine errors go to the message bar in the engine's words.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient, EngineState
from desktop.errors import EngineError
from desktop.format import human_bytes
from desktop.panels.documents.chunks_pane import ChunksPane
from desktop.panels.documents.collection_dialog import CollectionDialog
from desktop.panels.documents.eval_pane import EvalPane
from desktop.panels.documents.files_pane import FilesPane
from desktop.panels.documents.ingest import (
    STOPPED,
    IngestJob,
    IngestStrip,
    IngestTracker,
    summary_text,
)
from desktop.panels.documents.item_models import CollectionsModel
from desktop.panels.documents.search_pane import SearchPane
from desktop.widgets import HintTableView, MessageBar

EMPTY_HINT = "No collections yet.\nClick New collection… to make one, then add files to it."


class DocumentsPanel(QWidget):
    sig_collections_loaded = Signal(list)
    """``docs.list`` answered; the argument is the list of collections."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.collection: dict[str, Any] | None = None
        self.dialog: CollectionDialog | None = None
        self._select_after: str | None = None
        self._descriptors: list[dict[str, Any]] | None = None
        self._embedders: list[dict[str, Any]] = []
        self.setAcceptDrops(True)
        self.message = MessageBar()
        self.tracker = IngestTracker(client, self)
        self.strip = IngestStrip(self.tracker)

        self.new_button = QPushButton("New collection…")
        self.rename_button = QPushButton("Rename…")
        self.settings_button = QPushButton("Settings…")
        self.settings_button.setToolTip("Chunking and search defaults of this collection")
        self.delete_button = QPushButton("Delete…")
        self.move_button = QPushButton("Move…")
        self.move_button.setToolTip(
            "Move the collection to a Qdrant server, or back to the embedded store: copied, "
            "checked by counts and searches, then switched (it keeps its id, settings and chats)"
        )
        self.move_button.clicked.connect(self.move_collection)
        self.new_button.clicked.connect(self.new_collection)
        self.rename_button.clicked.connect(lambda: self.rename_collection())
        self.settings_button.clicked.connect(self.edit_settings)
        self.delete_button.clicked.connect(self.delete_collection)
        self.list_model = CollectionsModel(self)
        self.list_view = HintTableView(EMPTY_HINT)
        self.list_view.follow_engine(client)
        self.list_view.setModel(self.list_model)
        self.list_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.list_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list_view.verticalHeader().hide()
        self.list_view.setWordWrap(False)
        header = self.list_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.list_view.selectionModel().selectionChanged.connect(lambda *_a: self._selected())
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.new_button)
        left_layout.addWidget(self.list_view, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.rename_button)
        buttons.addWidget(self.settings_button)
        buttons.addWidget(self.move_button)
        buttons.addWidget(self.delete_button)
        left_layout.addLayout(buttons)

        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.files = FilesPane(client)
        self.search = SearchPane(client)
        self.chunks = ChunksPane(client)
        self.eval = EvalPane(client)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.files, "Files")
        self.tabs.addTab(self.search, "Search")
        self.tabs.addTab(self.chunks, "Chunks")
        self.tabs.addTab(self.eval, "Evaluation")
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.title)
        right_layout.addWidget(self.tabs, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 860])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.strip)
        layout.addWidget(splitter, 1)

        self._relist = QTimer(self)  # docs.changed comes in bursts: one re-list per burst
        self._relist.setSingleShot(True)
        self._relist.setInterval(150)
        self._relist.timeout.connect(self.refresh)
        self._files_timer = QTimer(self)  # files table during an ingest, at most ~1/s
        self._files_timer.setSingleShot(True)
        self._files_timer.setInterval(800)
        self._files_timer.timeout.connect(self.files.refresh)

        self.files.sig_add_paths.connect(self.add_paths)
        self.files.sig_reingest.connect(lambda: self.add_paths(None))
        self.files.sig_remove_paths.connect(self.remove_paths)
        self.files.sig_loaded.connect(self._files_loaded)
        for pane in (self.files, self.search, self.chunks, self.eval):
            pane.sig_error.connect(self.show_error)
        self.search.sig_message.connect(
            lambda t, k: self.message.show_message(t, k, timeout_ms=6000)
        )
        self.tracker.sig_error.connect(lambda m: self.message.show_message(m, "error"))
        self.tracker.sig_changed.connect(self._ingest_changed)
        self.tracker.sig_ended.connect(self._ingest_ended)
        client.sig_ready.connect(lambda _r: self._on_ready())
        client.sig_notification.connect(self._on_notification)
        self._show_title()
        self._update_enabled()
        if client.state == EngineState.READY:
            self._on_ready()

    # -- loading --------------------------------------------------------------------------
    def _on_ready(self) -> None:
        def settings(r: dict[str, Any]) -> None:
            self._descriptors = r.get("collection") or None
            self.chunks.set_descriptors(self._descriptors or [])
            self._update_enabled()
            if r.get("types"):
                self.search.set_types(r["types"])

        request(self, self.client, "docs.settings", ok=settings)
        request(self, self.client, "models.list", ok=self._models)
        self.refresh()

    def _models(self, result: dict[str, Any]) -> None:
        self._embedders = [m for m in result.get("models") or [] if m.get("role") == "embedding"]

    def on_shown(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        request(self, self.client, "docs.list", ok=self._show_collections, fail=self.show_error)

    def _show_collections(self, result: dict[str, Any]) -> None:
        collections = result.get("collections") or []
        wanted = self._select_after or (self.collection or {}).get("id")
        self._select_after = None
        self.list_model.set_records(collections)
        row = self.list_model.row_of(wanted) if wanted else -1
        if row < 0 and collections:
            row = 0
        if row >= 0:
            self.list_view.selectRow(row)
        else:
            self._selected()
        self.sig_collections_loaded.emit(collections)

    def _selected(self) -> None:
        rows = self.list_view.selectionModel().selectedRows()
        collection = self.list_model.record_at(rows[0].row()) if rows else None
        previous = (self.collection or {}).get("id")
        self.collection = collection
        for pane in (self.files, self.search, self.chunks, self.eval):
            pane.show_collection(collection)
        cid = (collection or {}).get("id")
        self.strip.show_collection(cid)
        self._show_title()
        self._update_enabled()
        if collection is not None and cid != previous:
            self._find_ingest(collection)

    def _find_ingest(self, collection: dict[str, Any]) -> None:
        """Follow a running ingest of this collection, or offer to resume one that stopped."""
        if self.tracker.job_for(collection["id"]) is not None:
            return
        running = collection.get("ingesting")
        if running:
            self.tracker.follow(running, collection)
            return

        def listed(result: dict[str, Any]) -> None:
            for job in result.get("jobs") or []:
                if job.get("kind") != "docs.ingest":
                    continue
                if (job.get("params") or {}).get("collection") != collection["id"]:
                    continue
                if job.get("state") in STOPPED and job.get("resumable"):
                    self.tracker.offer_resume(job, collection)
                return  # only the newest ingest of the collection counts

        request(self, self.client, "jobs.list", {"limit": 200}, ok=listed)

    def _files_loaded(self, result: dict[str, Any]) -> None:
        indexed = self.files.indexed_files()
        self.search.set_files(indexed)
        self.chunks.set_files(indexed)

    def _show_title(self) -> None:
        c = self.collection
        if c is None:
            self.title.setText("<span style='color:gray'>Select or create a collection.</span>")
            return
        store = (
            f"Qdrant server {html.escape(c['server_url'])}"
            if c.get("server_url")
            else "embedded Qdrant"
        )
        s = c.get("settings") or {}
        self.title.setText(
            f"<b style='font-size:12pt'>{html.escape(c.get('name') or '')}</b> &nbsp; "
            f"<span style='color:gray'>{int(c.get('chunks') or 0):,} chunks · "
            f"{human_bytes(c.get('size_bytes'))} · {store} · {html.escape(self._embedder_name(c))} · "
            f"chunks of {s.get('chunk_tokens')} tokens, overlap {s.get('overlap_tokens')}</span>"
        )

    def _embedder_name(self, c: dict[str, Any]) -> str:
        embedder = c.get("embedder_id")
        names = {m["id"]: m.get("name") or m["id"] for m in self._embedders}
        return str(names.get(embedder, embedder))

    def _update_enabled(self) -> None:
        has = self.collection is not None
        self.new_button.setEnabled(self._descriptors is not None)  # its form comes from them
        self.rename_button.setEnabled(has)
        self.settings_button.setEnabled(has)
        self.delete_button.setEnabled(has)
        self.move_button.setEnabled(has)
        self.tabs.setEnabled(has)

    # -- collections ----------------------------------------------------------------------
    def new_collection(self) -> CollectionDialog:
        self.dialog = CollectionDialog(
            self.client, descriptors=self._descriptors or [], embedders=self._embedders, parent=self
        )
        self.dialog.sig_created.connect(self._created)
        self.dialog.sig_refused.connect(self.show_error)
        self.dialog.open()
        return self.dialog

    def edit_settings(self) -> CollectionDialog | None:
        """The collection's settings in the same form as a new one; saved with ``docs.update``."""
        if self.collection is None:
            return None
        self.dialog = CollectionDialog(
            self.client,
            descriptors=self._descriptors or [],
            embedders=self._embedders,
            collection=self.collection,
            parent=self,
        )
        self.dialog.sig_updated.connect(self._settings_saved)
        self.dialog.open()
        return self.dialog

    def _settings_saved(self, collection: dict[str, Any]) -> None:
        dialog = self.dialog
        resplit = (
            dialog is not None and dialog.chunking_changed() and bool(collection.get("chunks"))
        )
        if resplit:
            self.message.show_message(
                f"Saved. The new chunking applies when {collection['name']} is indexed again: "
                "use Re-ingest in the Files tab.",
                "info",
            )
        else:
            self.message.show_message(
                "Saved the collection's settings.", "success", timeout_ms=6000
            )
        self.select_collection(collection["id"])

    def _created(self, collection: dict[str, Any]) -> None:
        self.message.show_message(
            f"Created {collection['name']}. Add files or drop them here to index them.",
            "success",
            timeout_ms=8000,
        )
        self.tabs.setCurrentWidget(self.files)
        self.select_collection(collection["id"])

    def select_collection(self, collection_id: str) -> None:
        """Select a collection once it is listed (re-lists now)."""
        self._select_after = collection_id
        self.refresh()

    def rename_collection(self, name: str | None = None) -> None:
        c = self.collection
        if c is None:
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "Rename collection", "New name:", text=c["name"])
            if not ok:
                return
        if name.strip() and name.strip() != c["name"]:
            request(
                self,
                self.client,
                "docs.rename",
                {"id": c["id"], "name": name.strip()},
                ok=lambda r: self.select_collection(r["id"]),
                fail=self.show_error,
            )

    def ask_move_target(self, collection: dict[str, Any]) -> tuple[str | None, str | None] | None:
        """(server URL or None for the embedded store, key variable), or None to do nothing."""
        if collection.get("server_url"):
            answer = QMessageBox.question(self, "Move collection", f"Move {collection['name']} from {collection['server_url']} back to the embedded store on this machine? The server's copy is deleted once the copy here checks out.")  # fmt: skip
            return (None, None) if answer == QMessageBox.StandardButton.Yes else None
        url, ok = QInputDialog.getText(self, "Move collection to a Qdrant server", f"Server address for {collection['name']} (e.g. http://qdrant:6333):")  # fmt: skip
        if not ok or not url.strip():
            return None
        env, ok = QInputDialog.getText(self, "Move collection to a Qdrant server", "Environment variable holding its API key (empty: none):")  # fmt: skip
        return (url.strip(), env.strip() or None) if ok else None

    def move_collection(self) -> None:
        c = self.collection
        if c is None:
            return
        target = self.ask_move_target(c)
        if target is None:
            return
        url, env = target
        handle = self.client.start_job("docs.move", {"id": c["id"], "to": url or "embedded", "api_key_env": env})  # fmt: skip
        where = url or "the embedded store"
        handle.sig_started.connect(lambda _r: self.message.show_message(f"Moving {c['name']} to {where}; searches use it where it is until the copy checks out.", "info"))  # fmt: skip

        def finished(result: dict[str, Any]) -> None:
            self.message.show_message(f"Moved {result['collection']} to {result['to']}: {result['chunks']:,} chunks, checked on {result['verified']['searches']} searches.", "success")  # fmt: skip
            self.refresh()

        handle.sig_finished.connect(finished)
        handle.sig_failed.connect(lambda error: self.message.show_message(f"The move did not finish: {getattr(error, 'message', error)}", "error"))  # fmt: skip

    def confirm_delete(self, collection: dict[str, Any]) -> bool:
        answer = QMessageBox.question(
            self,
            "Delete collection",
            f"Delete the collection {collection['name']} and its index? "
            "Your files stay where they are.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def delete_collection(self) -> None:
        c = self.collection
        if c is None or not self.confirm_delete(c):
            return

        def deleted(_r: dict[str, Any]) -> None:
            self.message.show_message(f"Deleted {c['name']}.", "success", timeout_ms=6000)
            self.collection = None
            self.refresh()

        request(self, self.client, "docs.delete", {"id": c["id"]}, ok=deleted, fail=self.show_error)

    # -- files and ingestion --------------------------------------------------------------
    def add_paths(self, paths: list[str] | None) -> None:
        """Ingest files/folders into the selected collection (None: re-read its sources)."""
        if self.collection is None:
            self.message.show_message(
                "Create or select a collection first, then add files to it.", "info"
            )
            return
        self.message.hide()
        self.tabs.setCurrentWidget(self.files)
        self.tracker.start(self.collection, paths)

    def remove_paths(self, paths: list[str]) -> None:
        if self.collection is None:
            return
        request(
            self,
            self.client,
            "docs.remove_files",
            {"id": self.collection["id"], "paths": paths},
            ok=lambda r: self.message.show_message(
                f"Removed {len(r.get('removed') or [])} file(s) from the collection.",
                "success",
                timeout_ms=6000,
            ),
            fail=self.show_error,
        )

    def _ingest_changed(self, collection_id: str) -> None:
        if collection_id == (self.collection or {}).get("id") and not self._files_timer.isActive():
            self._files_timer.start()

    def _ingest_ended(self, job: IngestJob) -> None:
        record = job.record or {}
        state = record.get("state")
        name = job.title.replace("Ingesting into ", "")
        if state == "succeeded":
            result = record.get("result") or {}
            kind = "error" if result.get("failed") else "success"
            self.message.show_message(f"{name}: {summary_text(result)}", kind)
        elif state == "failed":
            self.message.show_message(
                f"Ingest into {name} failed: {record.get('error') or job.message}", "error"
            )
        self.refresh()
        if job.collection_id == (self.collection or {}).get("id"):
            self.files.refresh()

    def _on_notification(self, method: str, _params: Any) -> None:
        if method == "docs.changed":
            self._relist.start()

    def show_error(self, error: EngineError) -> None:
        self.message.show_message(error.message, "error")

    # -- drag and drop --------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_paths(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_paths(event.mimeData().urls())
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)


def dropped_paths(urls: list[Any]) -> list[str]:
    """Local files and folders among dropped URLs (the engine decides what it can read)."""
    return [str(Path(u.toLocalFile())) for u in urls if u.isLocalFile() and u.toLocalFile()]
