"""``RowsView``: the middle of the Datasets panel -- the search bar (text or regex, one field or
all, "show only" filters, a split), the lazy rows table, a status line (rows, version, search
progress) and the Add / Edit / Delete row buttons. Typing waits 300 ms before searching."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.engine_client import EngineClient
from desktop.panels.datasets.rows_model import LazyRowsModel
from desktop.panels.datasets.rowtext import dataset_line

SHOW_FILTERS = (
    ("All rows", None),
    ("Rows too long for every model", [{"op": "too_long"}]),
    ("Rows with an empty field", [{"op": "empty"}]),
)


class RowsView(QWidget):
    sig_current_row = Signal(int)
    """The current table row changed (-1: none)."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dataset: dict[str, Any] | None = None
        self.model = LazyRowsModel(client, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self.sig_current_row.emit(current.row())
        )
        self._user_sized = False  # the user resized a column: stop fitting them to the width
        self._fitting = False
        self.model.modelReset.connect(self._reset_columns)
        self.table.horizontalHeader().sectionResized.connect(self._section_resized)
        self.table.viewport().installEventFilter(self)  # resized after its scroll bars
        self.model.sig_loaded.connect(self._show_status)
        self.model.sig_loaded.connect(lambda _s: self._restore_place())
        self._place: tuple[int, int] | None = None  # (current row, scroll) to go back to

        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search rows (Ctrl+F)")
        self.search_box.setClearButtonEnabled(True)
        self.regex_check = QCheckBox("Regex")
        self.field_combo = QComboBox()
        self.field_combo.setToolTip("Search in one field, or in all the row's text")
        self.show_combo = QComboBox()
        self.show_combo.setToolTip("Show only some rows")
        for label, filters in SHOW_FILTERS:
            self.show_combo.addItem(label, filters)
        self.split_combo = QComboBox()
        self.split_combo.setToolTip("Show one split of a split dataset")
        for combo in (self.field_combo, self.show_combo, self.split_combo):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(8)
        self.add_button = QPushButton("Add row")
        self.edit_button = QPushButton("Edit…")
        self.delete_button = QPushButton("Delete rows")
        self.status_label = QLabel()
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        search_row = QHBoxLayout()
        search_row.addWidget(self.search_box, 2)
        for w in (self.regex_check, self.field_combo, self.show_combo, self.split_combo):
            search_row.addWidget(w)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status_label, 1)
        for b in (self.add_button, self.edit_button, self.delete_button):
            bottom.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(search_row)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(300)
        self._timer.timeout.connect(self.apply_search)
        self.search_box.textChanged.connect(lambda _t: self._timer.start())
        self.search_box.returnPressed.connect(self.apply_search)
        for combo in (self.field_combo, self.show_combo, self.split_combo):
            combo.currentIndexChanged.connect(lambda _i: self.apply_search())
        self.regex_check.toggled.connect(lambda _c: self.apply_search())

    def show_dataset(self, ds: dict[str, Any] | None, *, same: bool) -> None:
        """Show a dataset's current version; ``same``: the same dataset in a new version, so
        the search and the chosen field and split stay."""
        self.dataset = ds
        fields = [("All fields", None)] + [(f, f) for f in (ds or {}).get("fields") or []]
        splits = [("All splits", None)]
        splits += [(s["name"], s["name"]) for s in (ds or {}).get("splits") or []]
        for combo, items in ((self.field_combo, fields), (self.split_combo, splits)):
            chosen = combo.currentData() if same else None
            combo.blockSignals(True)
            combo.clear()
            for label, data in items:
                combo.addItem(label, data)
            combo.setCurrentIndex(max(0, combo.findData(chosen)))
            combo.blockSignals(False)
        self.split_combo.setVisible(bool((ds or {}).get("splits")))
        place = (self.current_row(), self.table.verticalScrollBar().value()) if same else None
        self.apply_search()
        self._place = place  # after an edit or undo, stay where the user was

    def split(self) -> str | None:
        return self.split_combo.currentData()

    def search_params(self) -> dict[str, Any]:
        query = self.search_box.text().strip()
        filters = self.show_combo.currentData()
        if not query and not filters:
            return {}
        return {
            "query": query or None,
            "regex": self.regex_check.isChecked(),
            "field": self.field_combo.currentData(),
            "filters": filters,
        }

    def apply_search(self) -> None:
        self._timer.stop()
        ds, split = self.dataset, self.split()
        start = next((s["start"] for s in (ds or {}).get("splits") or [] if s["name"] == split), 0)
        self.model.set_source(
            ds["id"] if ds else None, split=split, split_start=start, search=self.search_params()
        )
        self.status_label.setText("Loading…" if ds else "")
        self.sig_current_row.emit(-1)

    def _restore_place(self) -> None:
        place, self._place = self._place, None
        if place is None:
            return
        row, scroll = place
        self.table.verticalScrollBar().setValue(scroll)
        if 0 <= row < self.model.rowCount():
            self.table.setCurrentIndex(self.model.index(row, 1))

    def selected_rows(self) -> list[int]:
        return sorted(i.row() for i in self.table.selectionModel().selectedRows())

    def current_row(self) -> int:
        return self.table.currentIndex().row()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        resized = event.type() == QEvent.Type.Resize
        if resized and watched is self.table.viewport() and not self._user_sized:
            self._fit_columns()
        return super().eventFilter(watched, event)

    def _reset_columns(self) -> None:
        self._user_sized = False
        self._fit_columns()

    def _section_resized(self, *_args: Any) -> None:
        if not self._fitting:
            self._user_sized = True

    def _fit_columns(self) -> None:
        """Index and tokens narrow; the text columns share the rest of the width."""
        count = self.model.columnCount()
        if not count:
            return
        header = self.table.horizontalHeader()
        narrow = {0: 60, count - 1: 64}
        room = self.table.viewport().width() - sum(narrow.values())
        each = max(110, room // max(1, count - len(narrow)))
        self._fitting = True
        for column in range(count):
            header.resizeSection(column, narrow.get(column, each))
        self._fitting = False

    def _show_status(self, status: dict[str, Any]) -> None:
        if not status["searching"]:
            self.status_label.setText(
                dataset_line({**(self.dataset or {}), "rows": status["total"]})
            )
            return
        n = status["matches"]
        found = f"{n:,} match{'es' if n != 1 else ''}"
        if status["capped"]:
            found += " shown (refine the search for more)"
        if status["done"]:
            self.status_label.setText(f"{found} in {status['total']:,} rows")
            self.status_label.setToolTip("")
        else:
            self.status_label.setText(
                f"{found} · {status['scanned_to']:,} of {status['total']:,} rows searched"
            )
            self.status_label.setToolTip("Scroll down to search further")
