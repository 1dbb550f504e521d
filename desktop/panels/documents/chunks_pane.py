"""``ChunksPane``: check the splitter. Pick an indexed file to see its stored chunks
(``docs.chunks``), or preview how a file -- indexed or not -- would be split with other chunk and
overlap sizes (``docs.preview``, nothing stored). Each chunk shows its tokens, page, heading path
and character span; the selected one is shown whole.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient
from desktop.errors import EngineError
from desktop.panels.documents.files_pane import FILE_FILTER
from desktop.panels.documents.item_models import ChunksModel
from desktop.panels.documents.source_viewer import where_text
from desktop.widgets import HintTableView

LIMIT = 500


class ChunksPane(QWidget):
    sig_loaded = Signal(object)
    """Chunks are shown; the argument is the ``docs.chunks`` or ``docs.preview`` answer."""
    sig_error = Signal(object)
    """A call failed; the argument is the ``EngineError``."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.collection: dict[str, Any] | None = None
        self.answer: dict[str, Any] | None = None
        self._seq = 0
        self.file_combo = QComboBox()
        self.file_combo.setToolTip("An indexed file: its chunks as stored")
        self.file_combo.setMinimumContentsLength(24)
        self.file_combo.activated.connect(lambda _i: self.show_stored())
        self.other_button = QPushButton("Other file…")
        self.other_button.setToolTip("Preview how any file would be split (nothing is stored)")
        self.other_button.clicked.connect(self.choose_file)
        self.tokens_spin = QSpinBox()  # limits, default and help: set_descriptors
        self.tokens_spin.setSuffix(" tokens")
        self.overlap_spin = QSpinBox()
        self.overlap_spin.setPrefix("overlap ")
        self.preview_button = QPushButton("Preview split")
        self.preview_button.setToolTip("Split the file with these sizes (nothing is stored)")
        self.preview_button.clicked.connect(lambda: self.preview())
        self.stored_button = QPushButton("Stored chunks")
        self.stored_button.clicked.connect(self.show_stored)
        top = QHBoxLayout()
        top.addWidget(QLabel("File"))
        top.addWidget(self.file_combo, 1)
        top.addWidget(self.other_button)
        second = QHBoxLayout()
        second.addWidget(self.stored_button)
        second.addStretch(1)
        second.addWidget(self.tokens_spin)
        second.addWidget(self.overlap_spin)
        second.addWidget(self.preview_button)
        self.status = QLabel()
        self.status.setWordWrap(True)

        self.model = ChunksModel(self)
        self.table = HintTableView("Pick a file to see how it was split into chunks.")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._show_chunk())
        self.detail = QTextBrowser()
        self.detail.setPlaceholderText("Select a chunk to read it whole.")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail)
        splitter.setSizes([300, 160])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(top)
        layout.addLayout(second)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)
        self._update_enabled()

    # -- input ----------------------------------------------------------------------------
    def set_descriptors(self, descriptors: list[dict[str, Any]]) -> None:
        """The chunking limits, defaults and help from ``docs.settings``."""
        by_name = {d["name"]: d for d in descriptors}
        for spin, name in (
            (self.tokens_spin, "chunk_tokens"),
            (self.overlap_spin, "overlap_tokens"),
        ):
            d = by_name.get(name)
            if d is None:
                continue
            spin.setRange(*(int(x) for x in d["range"]))
            if self.collection is None:
                spin.setValue(int(d["default"]))
            spin.setToolTip(d["help"][:1].upper() + d["help"][1:])

    def show_collection(self, collection: dict[str, Any] | None) -> None:
        changed = (collection or {}).get("id") != (self.collection or {}).get("id")
        self.collection = collection
        if changed:
            settings = (collection or {}).get("settings") or {}
            # a collection's settings are stored whole (the engine fills in its defaults)
            if settings.get("chunk_tokens") is not None:
                self.tokens_spin.setValue(int(settings["chunk_tokens"]))
            if settings.get("overlap_tokens") is not None:
                self.overlap_spin.setValue(int(settings["overlap_tokens"]))
            self.model.set_records([])
            self.detail.clear()
            self.status.clear()
            self.answer = None
        self._update_enabled()

    def set_files(self, files: list[dict[str, Any]]) -> None:
        """The collection's indexed files, offered in the file picker."""
        current = self.file_combo.currentData()
        self.file_combo.clear()
        for f in files:
            self.file_combo.addItem(f.get("name") or f["path"], f["path"])
            self.file_combo.setItemData(
                self.file_combo.count() - 1, f["path"], Qt.ItemDataRole.ToolTipRole
            )
        if current and self.file_combo.findData(current) < 0:
            self.file_combo.addItem(Path(current).name + " (not indexed)", current)
        self.file_combo.setCurrentIndex(max(0, self.file_combo.findData(current)))
        self._update_enabled()

    def _update_enabled(self) -> None:
        has_file = self.collection is not None and self.file_combo.count() > 0
        self.preview_button.setEnabled(has_file)
        self.stored_button.setEnabled(has_file and self._indexed(self.file_combo.currentData()))
        self.other_button.setEnabled(self.collection is not None)

    def _indexed(self, path: str | None) -> bool:
        index = self.file_combo.findData(path) if path else -1
        return index >= 0 and not self.file_combo.itemText(index).endswith("(not indexed)")

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Preview how a file is split", str(Path.home()), FILE_FILTER
        )
        if path:
            self.preview(path)

    # -- calls ----------------------------------------------------------------------------
    def show_stored(self) -> None:
        path = self.file_combo.currentData()
        self._update_enabled()
        if self.collection is None or not path:
            return
        if not self._indexed(path):
            self.preview(path)
            return
        params = {"id": self.collection["id"], "file": path, "limit": LIMIT}
        self._call("docs.chunks", params, "stored")

    def preview(self, path: str | None = None) -> None:
        """Split ``path`` (default: the picked file) with the sizes in the spin boxes."""
        path = path or self.file_combo.currentData()
        if self.collection is None or not path:
            return
        if self.file_combo.findData(path) < 0:
            self.file_combo.addItem(Path(path).name + " (not indexed)", path)
        self.file_combo.setCurrentIndex(self.file_combo.findData(path))
        self._update_enabled()
        params = {
            "path": path,
            "id": self.collection["id"],
            "settings": {
                "chunk_tokens": self.tokens_spin.value(),
                "overlap_tokens": self.overlap_spin.value(),
            },
            "limit": LIMIT,
        }
        self._call("docs.preview", params, "preview")

    def _call(self, method: str, params: dict[str, Any], kind: str) -> None:
        self._seq += 1
        seq = self._seq
        self.status.setText("Splitting…" if kind == "preview" else "Loading chunks…")
        request(
            self,
            self.client,
            method,
            params,
            ok=lambda r: seq == self._seq and self._show(r, kind),
            fail=lambda e: seq == self._seq and self._failed(e),
        )

    def _show(self, answer: dict[str, Any], kind: str) -> None:
        self.answer = {**answer, "kind": kind}
        chunks = answer.get("chunks") or []
        self.model.set_records(chunks)
        if chunks:
            self.table.selectRow(0)
        total = int(answer.get("total") or len(chunks))
        name = Path(answer.get("file") or "").name
        if kind == "preview":
            s = answer.get("settings") or {}
            text = (
                f"Preview of {name}: {total} chunks with {s.get('chunk_tokens')} tokens, "
                f"overlap {s.get('overlap_tokens')} (nothing stored)"
            )
            notes = answer.get("notes") or []
            if notes:
                text += " · " + "; ".join(notes)
        else:
            text = f"{name}: {total} stored chunks"
        if total > len(chunks):
            text += f" (first {len(chunks)} shown)"
        self.status.setText(text)
        self.sig_loaded.emit(self.answer)

    def _failed(self, error: EngineError) -> None:
        self.status.setText(error.message)
        self.sig_error.emit(error)

    def _show_chunk(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        chunk = self.model.record_at(rows[0].row()) if rows else None
        if chunk is None:
            self.detail.clear()
            return
        self.detail.setHtml(
            f"<p><b>Chunk {chunk.get('index')}</b> · {chunk.get('tokens')} tokens · "
            f"characters {chunk.get('start')}–{chunk.get('end')} · "
            f"{html.escape(where_text({**chunk, 'name': Path((self.answer or {}).get('file') or '').name}))}</p>"
            f"<p style='white-space:pre-wrap'>{html.escape(chunk.get('text') or '')}</p>"
        )
