"""``DatasetsPanel``: the dataset library, a lazy table of the selected dataset's rows with search
and filters, and beside it the row preview, the version history and the statistics.

Import (buttons, or drop files and folders on the panel) goes through ``ImportFlow``; the steps
(edit rows, clean, generate, convert, split, export) through ``DatasetActions``. The engine's
``data.changed`` re-lists the library, and the table re-pages when the shown version changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QMenu,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient
from desktop.panels.datasets.actions import DatasetActions
from desktop.panels.datasets.history_pane import HistoryPane
from desktop.panels.datasets.import_flow import ImportFlow
from desktop.panels.datasets.jobs import DataJobs, JobStrip
from desktop.panels.datasets.library_model import DatasetsListModel
from desktop.panels.datasets.preview_pane import PreviewPane
from desktop.panels.datasets.rows_view import RowsView
from desktop.panels.datasets.rowtext import FORMATS
from desktop.panels.datasets.stats_pane import StatsPane
from desktop.widgets import HintTableView, MessageBar

EMPTY_HINT = "No datasets yet.\nDrop a JSONL, CSV, Parquet or text file here, or use Import."


class DatasetsPanel(QWidget):
    sig_dataset_shown = Signal(object)
    """The table shows another dataset or version; the argument is the Dataset (or None)."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.dataset: dict[str, Any] | None = None
        self.datasets: list[dict[str, Any]] = []
        self.models: list[dict[str, Any]] = []
        self._pending_select: str | None = None
        self.setAcceptDrops(True)
        self.message = MessageBar()
        self.jobs = DataJobs(client, self)
        self.job_strip = JobStrip(self.jobs)
        self.import_flow = ImportFlow(client, self.jobs, self)
        self.actions = DatasetActions(self)

        # -- library (left) --
        self.list_model = DatasetsListModel(self)
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
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete…")
        self.rename_button.clicked.connect(self.actions.rename_dataset)
        self.delete_button.clicked.connect(self.actions.delete_dataset)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.list_view, 1)
        list_buttons = QHBoxLayout()
        list_buttons.addWidget(self.rename_button)
        list_buttons.addWidget(self.delete_button)
        left_layout.addLayout(list_buttons)

        # -- rows (middle) --
        self.rows_view = RowsView(client)
        self.rows_model = self.rows_view.model
        self.table = self.rows_view.table
        self.search_box = self.rows_view.search_box
        self.rows_view.sig_current_row.connect(lambda _r: self._row_changed())
        self.table.doubleClicked.connect(lambda _i: self.actions.edit_row())
        self.rows_model.sig_failed.connect(lambda m: self.message.show_message(m, "error"))
        self.rows_view.add_button.clicked.connect(self.actions.add_row)
        self.rows_view.edit_button.clicked.connect(self.actions.edit_row)
        self.rows_view.delete_button.clicked.connect(self.actions.delete_rows)
        self.rows_view.split_combo.currentIndexChanged.connect(
            lambda _i: self.stats.show_dataset(
                self.dataset["id"] if self.dataset else None, self.rows_view.split()
            )
        )

        # -- preview, history, stats (right) --
        self.preview = PreviewPane(client)
        self.history = HistoryPane(client)
        self.stats = StatsPane(client)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.preview, "Preview")
        self.tabs.addTab(self.history, "History")
        self.tabs.addTab(self.stats, "Stats")
        self.tabs.currentChanged.connect(self._tab_changed)
        for pane in (self.history, self.stats):
            pane.sig_message.connect(self.message.show_message)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.rows_view)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([200, 620, 340])
        layout = QVBoxLayout(self)
        layout.addLayout(self._toolbar())
        layout.addWidget(self.message)
        layout.addWidget(self.job_strip)
        layout.addWidget(splitter, 1)

        self.import_flow.sig_message.connect(self.message.show_message)
        self.import_flow.sig_imported.connect(lambda r: self.select_dataset(r["dataset"]["id"]))
        self.actions.sig_message.connect(self.message.show_message)
        client.sig_ready.connect(lambda _r: self.refresh())
        client.sig_models_changed.connect(self._load_models)
        client.sig_notification.connect(self._on_notification)
        self._shortcuts()
        self._update_enabled()

    def _toolbar(self) -> QHBoxLayout:
        self.import_button = QPushButton("Import")
        menu = QMenu(self.import_button)
        menu.addAction("File…", self.choose_file)
        menu.addAction("Hugging Face dataset folder…", self.choose_folder)
        menu.addAction("Hearth conversations", self.import_flow.start_conversations)
        self.import_button.setMenu(menu)
        self.generate_button = QPushButton("Generate…")
        self.generate_button.clicked.connect(self.actions.open_generate)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.clean_button = QPushButton("Clean")
        clean = QMenu(self.clean_button)
        clean.addAction("Filter rows…", self.actions.open_filter)
        clean.addAction("Remove duplicates…", self.actions.open_dedup)
        clean.addAction("Scrub personal data…", self.actions.open_scrub)
        clean.addAction("Check for test-set leaks…", self.actions.open_contamination)
        self.clean_button.setMenu(clean)
        self.convert_button = QPushButton("Convert")
        self.convert_menu = QMenu(self.convert_button)
        self.convert_button.setMenu(self.convert_menu)
        self.split_button = QPushButton("Split…")
        self.split_button.clicked.connect(self.actions.open_split)
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(self.actions.open_export)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Back to the previous version (Ctrl+Z)")
        self.undo_button.clicked.connect(self.history.undo)
        self.history.sig_can_move.connect(
            lambda undo, redo: (
                self.undo_button.setEnabled(undo),
                self.redo_button.setEnabled(redo),
            )
        )
        self.redo_button = QPushButton("Redo")
        self.redo_button.setToolTip("Forward to the version you undid (Ctrl+Shift+Z)")
        self.redo_button.clicked.connect(self.history.redo)
        bar = QHBoxLayout()
        for b in (self.import_button, self.generate_button, self.refresh_button):
            bar.addWidget(b)
        bar.addStretch(1)
        for b in (self.clean_button, self.convert_button, self.split_button, self.export_button,
                  self.undo_button, self.redo_button):  # fmt: skip
            bar.addWidget(b)
        return bar

    def _shortcuts(self) -> None:
        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for keys, slot in (
            ("Ctrl+F", self.search_box.setFocus),
            ("Ctrl+Z", self.history.undo),
            ("Ctrl+Shift+Z", self.history.redo),
            ("Esc", lambda: self.jobs.cancel()),
        ):
            QShortcut(QKeySequence(keys), self, activated=slot, context=context)
        QShortcut(QKeySequence.StandardKey.Delete, self.table, activated=self.actions.delete_rows,
                  context=Qt.ShortcutContext.WidgetShortcut)  # fmt: skip

    # -- library --------------------------------------------------------------------------

    def on_shown(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Re-list the datasets and the models (for the preview and token counts)."""
        self._list_datasets()
        self._load_models()

    def _list_datasets(self) -> None:
        request(self, self.client, "data.list", ok=self._show_datasets,
                fail=lambda e: self.message.show_message(e.message, "error"))  # fmt: skip

    def _load_models(self) -> None:
        request(self, self.client, "models.list", ok=self._show_models)

    def _show_models(self, result: dict[str, Any]) -> None:
        self.models = result.get("models") or []
        self.preview.set_models(self.models)
        self.stats.set_models(self.models)

    def _show_datasets(self, result: dict[str, Any]) -> None:
        self.datasets = result.get("datasets") or []
        wanted = self._pending_select or (self.dataset or {}).get("id")
        self.list_model.set_datasets(self.datasets)
        row = self.list_model.row_of(wanted) if wanted else -1
        if row >= 0:
            self._pending_select = None
        elif self.list_model.rowCount():
            row = 0
        if row >= 0:
            self.list_view.selectRow(row)
        self._selected()

    def select_dataset(self, dataset_id: str) -> None:
        """Show a dataset (once it is listed: an import's data.changed may still be on its way)."""
        row = self.list_model.row_of(dataset_id)
        if row >= 0:
            self.list_view.selectRow(row)
        else:
            self._pending_select = dataset_id
            self._list_datasets()

    def selected_dataset(self) -> dict[str, Any] | None:
        rows = self.list_view.selectionModel().selectedRows()
        return self.list_model.dataset_at(rows[0].row()) if rows else None

    def _selected(self) -> None:
        ds = self.selected_dataset()
        before = self.dataset
        self.dataset = ds
        same = before is not None and ds is not None and before["id"] == ds["id"]
        changed = not same or (before["version"], before["rows"]) != (ds["version"], ds["rows"])
        if changed:
            self._show_dataset(ds, keep_controls=same)
        self._update_enabled()

    def _show_dataset(self, ds: dict[str, Any] | None, *, keep_controls: bool) -> None:
        self.rows_view.show_dataset(ds, same=keep_controls)
        self.convert_menu.clear()
        for fmt in FORMATS:
            if ds and fmt != ds.get("format"):
                self.convert_menu.addAction(f"To {fmt}", lambda f=fmt: self.actions.convert(f))
        self.history.show_dataset(ds["id"] if ds else None)
        self.stats.show_dataset(ds["id"] if ds else None, self.rows_view.split())
        self.sig_dataset_shown.emit(ds)

    # -- rows -----------------------------------------------------------------------------

    def selected_rows(self) -> list[int]:
        return self.rows_view.selected_rows()

    def _row_changed(self) -> None:
        row = self.rows_view.current_row()
        self._update_enabled()
        if row < 0 or self.dataset is None:
            self.preview.show_row(None, None, None)
            return
        self.preview.show_row(self.dataset["id"], self.rows_model.position_at(row),
                              self.rows_model.version)  # fmt: skip

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.stats:
            self.stats.refresh_if_stale()

    def _update_enabled(self) -> None:
        has = self.dataset is not None
        for w in (self.rename_button, self.delete_button, self.clean_button, self.convert_button,
                  self.split_button, self.export_button, self.rows_view.add_button):  # fmt: skip
            w.setEnabled(has)
        self.undo_button.setEnabled(has and self.history.undo_button.isEnabled())
        self.redo_button.setEnabled(has and self.history.redo_button.isEnabled())
        has_row = has and self.rows_view.current_row() >= 0
        self.rows_view.edit_button.setEnabled(has_row)
        self.rows_view.delete_button.setEnabled(has_row)

    def _on_notification(self, method: str, _params: Any) -> None:
        if method == "data.changed":
            self._list_datasets()

    # -- import ---------------------------------------------------------------------------

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a dataset", str(Path.home()),
            "Datasets (*.jsonl *.ndjson *.json *.csv *.tsv *.parquet *.txt *.md);;All files (*)",
        )  # fmt: skip
        if path:
            self.import_flow.start(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import a Hugging Face dataset folder")
        if path:
            self.import_flow.start(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = self._dropped_paths(event)
        if paths:
            event.acceptProposedAction()
            for path in paths:
                self.import_flow.start(path)

    @staticmethod
    def _dropped_paths(event: QDragEnterEvent | QDropEvent) -> list[str]:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        paths = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
        return [str(p) for p in paths if ImportFlow.is_importable(p)]
