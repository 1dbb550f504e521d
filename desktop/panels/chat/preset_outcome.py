"""``PresetOutcomeView``: what a preset did with a reply, shown under that reply.

- SQL preset: the statement that ran, then its result as a table (``SqlResultModel``), or why it
  was refused or failed;
- Moderated preset: the review's verdict -- passed, rewritten (the draft can be shown) or blocked
  with the reason.

It reads the reply's ``metadata.preset`` (docs/PROTOCOL.md, ``PresetOutcome``) and hides itself
for replies without one.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.widgets import guarded_data

Index = QModelIndex | QPersistentModelIndex
MAX_TABLE_ROWS_SHOWN = 12  # taller results scroll inside the table
_VERDICTS = {
    "pass": ("Passed review", "#2e7d32"),
    "rewrite": ("Rewritten by review", "#b26a00"),
    "block": ("Blocked by review", "#c62828"),
}


class SqlResultModel(QAbstractTableModel):
    """The rows of one SQL result (``columns`` and ``rows`` as the engine sent them)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.columns: list[str] = []
        self.rows: list[list[Any]] = []

    def set_result(self, columns: list[str], rows: list[list[Any]]) -> None:
        self.beginResetModel()
        self.columns, self.rows = [str(c) for c in columns], [list(r) for r in rows]
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    @guarded_data
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self.rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return "NULL" if value is None else str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, (int, float)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and value is None:
            from PySide6.QtGui import QGuiApplication

            return QGuiApplication.palette().placeholderText()
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.columns[section] if section < len(self.columns) else None
        return str(section + 1)


class PresetOutcomeView(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.outcome: dict[str, Any] = {}
        self.setObjectName("PresetOutcome")
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold;")
        self.title.setWordWrap(True)
        self.sql_label = QLabel()
        self.sql_label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.sql_label.setWordWrap(True)
        self.sql_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model = SqlResultModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.draft_button = QToolButton()
        self.draft_button.setText("Show the draft")
        self.draft_button.setCheckable(True)
        self.draft_button.setAutoRaise(True)
        self.draft = QPlainTextEdit()
        self.draft.setReadOnly(True)
        self.draft.setMaximumHeight(120)
        self.draft_button.toggled.connect(self._show_draft)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        for w in (self.title, self.sql_label, self.table, self.note, self.draft_button, self.draft):
            layout.addWidget(w)
        self.setStyleSheet("#PresetOutcome {border: 1px solid palette(mid); border-radius: 6px;}")
        self.set_outcome(None)

    def set_outcome(self, outcome: dict[str, Any] | None) -> None:
        self.outcome = outcome or {}
        kind = self.outcome.get("kind")
        for w in (self.sql_label, self.table, self.note, self.draft_button, self.draft):
            w.hide()
        if kind == "sql":
            self._show_sql()
        elif kind == "moderated":
            self._show_review()
        self.setVisible(kind in ("sql", "moderated"))

    # -- SQL ------------------------------------------------------------------------------
    def _show_sql(self) -> None:
        o = self.outcome
        if o.get("sql"):
            self.sql_label.setText(o["sql"])
            self.sql_label.show()
        if o.get("error"):
            self.title.setText("SQL refused" if o.get("refused") else "SQL failed")
            self.title.setStyleSheet("font-weight: bold; color: #c62828;")
            self.note.setText(o["error"])
            self.note.show()
            return
        count = int(o.get("row_count") or 0)
        more = f" (first {count}; more were cut)" if o.get("truncated") else ""
        self.title.setText(f"Result: {count} row{'s' if count != 1 else ''}{more}")
        self.title.setStyleSheet("font-weight: bold;")
        self.model.set_result(o.get("columns") or [], o.get("rows") or [])
        self.table.resizeColumnsToContents()
        shown = min(max(count, 1), MAX_TABLE_ROWS_SHOWN)
        header = self.table.horizontalHeader().height() or 24
        self.table.setFixedHeight(header + shown * 22 + 2 * self.table.frameWidth() + 4)
        self.table.show()

    # -- review ---------------------------------------------------------------------------
    def _show_review(self) -> None:
        o = self.outcome
        verdict = o.get("verdict")
        if o.get("cancelled") or verdict is None:
            self.title.setText("Review stopped")
            self.title.setStyleSheet("font-weight: bold; color: #6b7280;")
            return
        label, color = _VERDICTS.get(verdict, (f"Review: {verdict}", "#6b7280"))
        self.title.setText(label)
        self.title.setStyleSheet(f"font-weight: bold; color: {color};")
        reviewer = o.get("reviewer_model")
        self.note.setText((o.get("reason") or "") + (f"\nReviewer: {reviewer}" if reviewer else ""))
        self.note.show()
        if verdict in ("rewrite", "block") and o.get("draft"):
            self.draft.setPlainText(o["draft"])
            self.draft_button.show()
            self._show_draft(self.draft_button.isChecked())

    def _show_draft(self, on: bool) -> None:
        self.draft.setVisible(on and self.draft_button.isVisible())
        self.draft_button.setText("Hide the draft" if on else "Show the draft")
