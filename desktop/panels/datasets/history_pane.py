"""``HistoryPane``: a dataset's versions (``data.history``) with what each step changed, and
Undo, Redo and Check out. Nothing is ever lost: undo makes the parent version current, redo the
newest child, and any version can be checked out; a step after an undo starts a new branch."""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient
from desktop.format import clock
from desktop.panels.datasets.rowtext import version_text
from desktop.table_model import RecordTableModel


class VersionsModel(RecordTableModel):
    COLUMNS: ClassVar[tuple[str, ...]] = ("", "Version", "What changed", "Rows")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.current: int | None = None

    def set_history(self, history: dict[str, Any]) -> None:
        self.current = history.get("current")
        self.set_records(list(reversed(history.get("versions") or [])))  # newest first

    def version_at(self, row: int) -> dict[str, Any] | None:
        return self.record_at(row)

    def cell(self, record: dict[str, Any], column: int, role: int) -> Any:
        current = record.get("version") == self.current
        if role == Qt.ItemDataRole.DisplayRole:
            values = (
                "●" if current else "",
                str(record.get("version")),
                version_text(record),
                f"{int(record.get('rows') or 0):,}",
            )
            return values[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            parent = record.get("parent")
            return (
                f"Version {record.get('version')}: {record.get('operation')} at "
                f"{clock(record.get('created_at'))}"
                + (f" (from version {parent})" if parent else "")
                + f"\n{version_text(record)}"
                + ("\nThis is the current version." if current else "")
            )
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (1, 3):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        if role == Qt.ItemDataRole.FontRole and current:
            font = QFont()
            font.setBold(True)
            return font
        return None


class HistoryPane(QWidget):
    sig_message = Signal(str, str)
    sig_can_move = Signal(bool, bool)
    """Whether there is a version to undo to, and one to redo (the toolbar's buttons follow)."""
    """Something to tell the user: text, kind (info, success, error)."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.dataset_id: str | None = None
        self.model = VersionsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Go back to the version before this one (Ctrl+Z)")
        self.redo_button = QPushButton("Redo")
        self.redo_button.setToolTip("Go forward to the step you undid (Ctrl+Shift+Z)")
        self.checkout_button = QPushButton("Check out")
        self.checkout_button.setToolTip("Make the selected version the current one")
        self.undo_button.clicked.connect(lambda: self._move("data.undo", {}))
        self.redo_button.clicked.connect(lambda: self._move("data.redo", {}))
        self.checkout_button.clicked.connect(self.checkout_selected)
        self.table.doubleClicked.connect(lambda _i: self.checkout_selected())
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._update_buttons())
        buttons = QHBoxLayout()
        for b in (self.undo_button, self.redo_button, self.checkout_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        self._update_buttons()

    def show_dataset(self, dataset_id: str | None) -> None:
        self.dataset_id = dataset_id
        self.refresh()

    def refresh(self) -> None:
        if self.dataset_id is None:
            self.model.set_history({})
            self._update_buttons()
            return
        wanted = self.dataset_id
        request(self, self.client, "data.history", {"id": wanted},
                ok=lambda h: self._show(wanted, h), fail=self._failed)  # fmt: skip

    def _show(self, dataset_id: str, history: dict[str, Any]) -> None:
        if dataset_id != self.dataset_id:
            return
        self.model.set_history(history)
        self._update_buttons()

    def _current_record(self) -> dict[str, Any] | None:
        rows = [self.model.version_at(r) for r in range(self.model.rowCount())]
        return next((r for r in rows if r and r["version"] == self.model.current), None)

    def _update_buttons(self) -> None:
        has = self.dataset_id is not None and self.model.rowCount() > 0
        current = self._current_record()
        versions = [self.model.version_at(r) for r in range(self.model.rowCount())]
        self.undo_button.setEnabled(has and bool(current and current.get("parent")))
        self.redo_button.setEnabled(
            has and any(v and v.get("parent") == self.model.current for v in versions)
        )
        self.sig_can_move.emit(self.undo_button.isEnabled(), self.redo_button.isEnabled())
        selected = self.selected_version()
        self.checkout_button.setEnabled(
            has and selected is not None and selected["version"] != self.model.current
        )

    def selected_version(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.version_at(rows[0].row()) if rows else None

    def undo(self) -> None:
        self._move("data.undo", {})

    def redo(self) -> None:
        self._move("data.redo", {})

    def checkout_selected(self) -> None:
        selected = self.selected_version()
        if selected is not None and selected["version"] != self.model.current:
            self._move("data.checkout", {"version": selected["version"]})

    def _move(self, method: str, extra: dict[str, Any]) -> None:
        if self.dataset_id is None:
            return
        verb = {"data.undo": "Undone", "data.redo": "Redone"}.get(method, "Checked out")

        def done(ds: dict[str, Any]) -> None:
            self.sig_message.emit(
                f"{verb}: {ds.get('name')} is at version {ds.get('version')} "
                f"({int(ds.get('rows') or 0):,} rows).",
                "success",
            )
            self.refresh()

        request(self, self.client, method, {"id": self.dataset_id, **extra}, ok=done,
                fail=self._failed)  # fmt: skip

    def _failed(self, error: Any) -> None:
        self.sig_message.emit(error.message, "error")
