"""``FilesPane``: the files of the selected collection (``docs.files``) with their status --
indexed, indexing, skipped or failed with the engine's reason -- chunks, size and pages, and the
buttons that add files or folders (an ingest job), re-read every source, or take files out.

Adding is the panel's business (it owns the ingest tracker and drag and drop): the pane only asks
for it with ``sig_add_paths``/``sig_reingest``/``sig_remove_paths``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient
from desktop.format import human_bytes
from desktop.panels.documents.item_models import FilesModel
from desktop.widgets import HintTableView

FILE_FILTER = (
    "Documents (*.pdf *.docx *.pptx *.md *.markdown *.html *.htm *.txt *.csv);;All files (*)"
)
EMPTY_HINT = (
    "No files yet.\nDrop files or folders here, or use Add files… / Add folder…\n"
    "PDF, Word, PowerPoint, Markdown, HTML, text and CSV."
)


class FilesPane(QWidget):
    sig_add_paths = Signal(list)
    """The user chose files or folders to ingest."""
    sig_reingest = Signal()
    """The user asked to re-read every source of the collection."""
    sig_remove_paths = Signal(list)
    """The user asked to take these files out of the collection."""
    sig_loaded = Signal(object)
    """``docs.files`` answered; the argument is its result."""
    sig_error = Signal(object)
    """A call failed; the argument is the ``EngineError``."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.collection: dict[str, Any] | None = None
        self.sources: list[str] = []
        self._seq = 0
        self.add_files_button = QPushButton("Add files…")
        self.add_folder_button = QPushButton("Add folder…")
        self.reingest_button = QPushButton("Re-ingest")
        self.reingest_button.setToolTip(
            "Read every source again: new and changed files are indexed, unchanged ones skipped, "
            "deleted ones removed"
        )
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip(
            "Take the selected files out of the collection (not off disk)"
        )
        self.add_files_button.clicked.connect(self.choose_files)
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.reingest_button.clicked.connect(self.sig_reingest)
        self.remove_button.clicked.connect(self._remove)
        self.summary = QLabel()
        self.summary.setStyleSheet("color: palette(placeholder-text);")
        buttons = QHBoxLayout()
        for b in (self.add_files_button, self.add_folder_button, self.reingest_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.remove_button)

        self.model = FilesModel(self)
        self.table = HintTableView(EMPTY_HINT)
        self.table.follow_engine(client)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 220)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._update_enabled())

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        self._update_enabled()

    # -- data -----------------------------------------------------------------------------
    def show_collection(self, collection: dict[str, Any] | None) -> None:
        changed = (collection or {}).get("id") != (self.collection or {}).get("id")
        self.collection = collection
        if changed:
            self.model.set_records([])
            self.summary.clear()
        self._update_enabled()
        self.refresh()

    def refresh(self) -> None:
        if self.collection is None:
            return
        self._seq += 1
        seq, cid = self._seq, self.collection["id"]
        request(
            self,
            self.client,
            "docs.files",
            {"id": cid, "limit": 5000},
            ok=lambda r: seq == self._seq and self._show(r),
            fail=self.sig_error.emit,
        )

    def _show(self, result: dict[str, Any]) -> None:
        selected = {self.model.record_at(i.row())["path"] for i in self._selected_rows()}
        self.model.set_records(result.get("files") or [])
        self.sources = list(result.get("sources") or [])
        for path in selected:
            row = self.model.row_of(path)
            if row >= 0:
                self.table.selectRow(row)
        counts = result.get("counts") or {}
        parts = [f"{int(counts.get(k) or 0)} {k}" for k in ("indexed", "skipped", "failed")]
        if counts.get("indexing"):
            parts.append(f"{counts['indexing']} unfinished")
        self.summary.setText(
            " · ".join(parts)
            + f" · {int(result.get('chunks') or 0):,} chunks · {human_bytes(result.get('size_bytes'))}"
        )
        self._update_enabled()
        self.sig_loaded.emit(result)

    def indexed_files(self) -> list[dict[str, Any]]:
        return [
            self.model.record_at(r)
            for r in range(self.model.rowCount())
            if self.model.record_at(r).get("status") == "indexed"
        ]

    # -- actions --------------------------------------------------------------------------
    def choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Add files to the collection", str(Path.home()), FILE_FILTER
        )
        if paths:
            self.sig_add_paths.emit(paths)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Add a folder (and everything in it) to the collection", str(Path.home())
        )
        if path:
            self.sig_add_paths.emit([path])

    def _selected_rows(self):
        model = self.table.selectionModel()
        return model.selectedRows() if model is not None else []

    def selected_paths(self) -> list[str]:
        return [self.model.record_at(i.row())["path"] for i in self._selected_rows()]

    def _remove(self) -> None:
        paths = self.selected_paths()
        if paths:
            self.sig_remove_paths.emit(paths)

    def _update_enabled(self) -> None:
        has = self.collection is not None
        for b in (self.add_files_button, self.add_folder_button):
            b.setEnabled(has)
        self.reingest_button.setEnabled(has and bool(self.sources))
        self.remove_button.setEnabled(has and bool(self._selected_rows()))
