"""``SearchPane``: try the selected collection's retrieval -- a query, the mode (hybrid, dense,
BM25), how many chunks, filters by file and type -- and see the ranked chunks with their scores,
file, page and heading. A result that came from the semantic cache is marked *cached*; unticking
*Use cache* bypasses it and *Clear cache* empties it. Double-click a result to open its passage.
"""

from __future__ import annotations

import html
import time
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
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
from desktop.panels.documents.item_models import MODE_LABELS, MODES, HitsModel, score_text
from desktop.panels.documents.source_viewer import SourceViewer, where_text
from desktop.widgets import HintTableView

TYPES = ("pdf", "docx", "pptx", "md", "html", "txt", "csv")


class SearchPane(QWidget):
    sig_results = Signal(object)
    """A search answered; the argument is the SearchResult."""
    sig_error = Signal(object)
    """A call failed; the argument is the ``EngineError``."""
    sig_message = Signal(str, str)
    """Feedback for the panel's message bar: text, kind."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.collection: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self.viewer: SourceViewer | None = None
        self._seq = 0
        self.query_edit = QLineEdit()
        self.query_edit.setPlaceholderText("Search the collection… (Enter)")
        self.query_edit.setClearButtonEnabled(True)
        self.query_edit.returnPressed.connect(self.search)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        self.mode_combo = QComboBox()
        for mode in MODES:
            self.mode_combo.addItem(MODE_LABELS[mode], mode)
        self.mode_combo.setToolTip("Hybrid fuses dense (meaning) and BM25 (keywords) rankings")
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 100)
        self.k_spin.setValue(5)
        self.k_spin.setPrefix("top ")
        self.k_spin.setToolTip("How many chunks to return")
        self.file_combo = QComboBox()
        self.file_combo.setToolTip("Only chunks of this file")
        self.file_combo.setMinimumContentsLength(14)
        self.file_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.type_combo = QComboBox()
        self.type_combo.setToolTip("Only chunks of this file type")
        self.set_types(list(TYPES))
        self.cache_check = QCheckBox("Use cache")
        self.cache_check.setChecked(True)
        self.cache_check.setToolTip(
            "A question close to an earlier one reuses its retrieval; untick to search afresh"
        )
        self.clear_cache_button = QPushButton("Clear cache")
        self.clear_cache_button.clicked.connect(self.clear_cache)

        row1 = QHBoxLayout()
        row1.addWidget(self.query_edit, 1)
        row1.addWidget(self.search_button)
        row2 = QHBoxLayout()
        for w in (self.mode_combo, self.k_spin, self.file_combo, self.type_combo):
            row2.addWidget(w)
        row2.addStretch(1)
        row2.addWidget(self.cache_check)
        row2.addWidget(self.clear_cache_button)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)

        self.model = HitsModel(self)
        self.table = HintTableView("Results show here, best first, with their scores and sources.")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._show_hit())
        self.table.doubleClicked.connect(lambda index: self.open_hit(index.row()))
        self.detail = QTextBrowser()
        self.detail.setOpenLinks(False)
        self.detail.setPlaceholderText("Select a result to read the whole chunk.")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail)
        splitter.setSizes([300, 160])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)
        self._update_enabled()

    # -- setup ----------------------------------------------------------------------------
    def set_types(self, types: list[str]) -> None:
        current = self.type_combo.currentData()
        self.type_combo.clear()
        self.type_combo.addItem("All types", None)
        for t in types:
            self.type_combo.addItem(t.upper(), t)
        self.type_combo.setCurrentIndex(max(0, self.type_combo.findData(current)))

    def show_collection(self, collection: dict[str, Any] | None) -> None:
        changed = (collection or {}).get("id") != (self.collection or {}).get("id")
        self.collection = collection
        if changed:
            settings = (collection or {}).get("settings") or {}
            self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(settings.get("mode"))))
            self.k_spin.setValue(int(settings.get("k") or 5))
            self.model.set_records([])
            self.detail.clear()
            self.status.clear()
            self.result = None
        self._update_enabled()

    def set_files(self, files: list[dict[str, Any]]) -> None:
        """The indexed files offered as a filter."""
        current = self.file_combo.currentData()
        self.file_combo.clear()
        self.file_combo.addItem("All files", None)
        for f in files:
            self.file_combo.addItem(f.get("name") or f["path"], f["path"])
            self.file_combo.setItemData(
                self.file_combo.count() - 1, f["path"], Qt.ItemDataRole.ToolTipRole
            )
        self.file_combo.setCurrentIndex(max(0, self.file_combo.findData(current)))

    def _update_enabled(self) -> None:
        has = self.collection is not None
        for w in (self.query_edit, self.search_button, self.clear_cache_button):
            w.setEnabled(has)

    # -- searching ------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "id": (self.collection or {}).get("id"),
            "query": self.query_edit.text().strip(),
            "mode": self.mode_combo.currentData(),
            "k": self.k_spin.value(),
            "cache": self.cache_check.isChecked(),
        }
        if self.file_combo.currentData():
            params["files"] = [self.file_combo.currentData()]
        if self.type_combo.currentData():
            params["types"] = [self.type_combo.currentData()]
        return params

    def search(self) -> None:
        params = self.params()
        if self.collection is None or not params["query"]:
            return
        self._seq += 1
        seq, started = self._seq, time.monotonic()
        self.status.setText("Searching…")
        request(
            self,
            self.client,
            "docs.search",
            params,
            ok=lambda r: seq == self._seq and self._show(r, time.monotonic() - started),
            fail=lambda e: seq == self._seq and self._failed(e),
        )

    def _show(self, result: dict[str, Any], _seconds: float) -> None:
        self.result = result
        hits = result.get("results") or []
        self.model.set_mode(result.get("mode"))
        self.model.set_records(hits)
        if hits:
            self.table.selectRow(0)
        else:
            self.detail.clear()
        self.status.setText(status_html(result))
        self.sig_results.emit(result)

    def _failed(self, error: EngineError) -> None:
        self.status.setText(f"<span style='color:#c62828'>{html.escape(error.message)}</span>")
        self.sig_error.emit(error)

    def clear_cache(self) -> None:
        if self.collection is None:
            return
        request(
            self,
            self.client,
            "docs.cache_clear",
            {"id": self.collection["id"]},
            ok=lambda r: self.sig_message.emit(
                f"Cleared {int(r.get('cleared') or 0)} cached searches.", "success"
            ),
            fail=self.sig_error.emit,
        )

    # -- results --------------------------------------------------------------------------
    def _show_hit(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        hit = self.model.record_at(rows[0].row()) if rows else None
        if hit is None:
            self.detail.clear()
            return
        self.detail.setHtml(
            f"<p><b>#{hit.get('rank')}</b> · score {score_text(hit.get('score'))} · "
            f"{html.escape(where_text(hit))}</p>"
            f"<p style='white-space:pre-wrap'>{html.escape(hit.get('text') or '')}</p>"
            "<p style='color:gray'>Double-click the result to see it in its file.</p>"
        )

    def open_hit(self, row: int) -> None:
        hit = self.model.record_at(row)
        if hit is None or self.collection is None:
            return
        self.viewer = SourceViewer(self.client, hit, collection=self.collection["id"], parent=self)
        self.viewer.show()


def status_html(result: dict[str, Any]) -> str:
    """``5 results · hybrid · 12 ms · cached (…)`` or the engine's nothing-found message."""
    hits = result.get("results") or []
    if not hits:
        message = result.get("message") or "Nothing relevant found."
        return f"<span style='color:#b26a00'>{html.escape(message)}</span>"
    text = f"{len(hits)} result{'s' if len(hits) != 1 else ''} · {html.escape(str(result.get('mode')))}"
    if result.get("took_ms") is not None:
        text += f" · {float(result['took_ms']):.0f} ms"
    cached = result.get("cached")
    if cached:
        similar = cached.get("similarity")
        text += (
            " · <b style='color:#1565c0'>cached</b> <span style='color:gray'>(reused the retrieval "
            f"for “{html.escape(str(cached.get('query')))}”"
            + (f", similarity {similar:.2f}" if isinstance(similar, (int, float)) else "")
            + "; untick Use cache to search afresh)</span>"
        )
    return text
