"""``ConversationList``: the left column of the Chat panel -- search box, stored conversations
(pinned first), and New / Rename / Pin / Delete (with a confirmation), also on a context menu.

It owns the ``chat.list``/``search``/``rename``/``pin``/``delete`` calls; creating a conversation
needs the panel's settings, so New only asks the panel (``sig_new_requested``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListView,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.engine_client import EngineClient
from desktop.panels.chat.conversations_model import ConversationsModel

SEARCH_DEBOUNCE_MS = 250


class ConversationList(QWidget):
    sig_selected = Signal(object)
    """The user opened a conversation (a Conversation dict), or None when none is left."""
    sig_new_requested = Signal()
    """The user asked for a new conversation."""
    sig_error = Signal(object)
    """An engine call failed; the argument is the ``EngineError``."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.current_id: str | None = None
        self._loaded_once = False
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search conversations…")
        self.search_box.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self.refresh)
        self.search_box.textChanged.connect(lambda _t: self._search_timer.start())

        self.model = ConversationsModel(self)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setUniformItemSizes(False)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._menu)
        self.view.selectionModel().currentChanged.connect(self._on_current)
        QShortcut(QKeySequence("F2"), self.view, activated=self.rename_current)
        QShortcut(QKeySequence.StandardKey.Delete, self.view, activated=self.delete_current)

        self.new_button = QPushButton("New chat")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(self.sig_new_requested)
        self.rename_button = QPushButton("Rename")
        self.pin_button = QPushButton("Pin")
        self.delete_button = QPushButton("Delete")
        self.rename_button.clicked.connect(self.rename_current)
        self.pin_button.clicked.connect(self.toggle_pin)
        self.delete_button.clicked.connect(self.delete_current)
        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        for b in (self.rename_button, self.pin_button, self.delete_button):
            buttons.addWidget(b)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search_box)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        self._update_buttons()

    # -- data -----------------------------------------------------------------------------

    def refresh(self) -> None:
        query = self.search_box.text().strip()
        if query:
            self.client.call("chat.search", {"query": query}).on_success(
                lambda r: self._show(r.get("results") or [], search=True)
            ).on_failure(self.sig_error)
        else:
            self.client.call("chat.list").on_success(
                lambda r: self._show(r.get("conversations") or [], search=False)
            ).on_failure(self.sig_error)

    def _show(self, rows: list[dict[str, Any]], *, search: bool) -> None:
        if search:
            self.model.set_search_results(rows)
        else:
            self.model.set_conversations(rows)
        first_load = not self._loaded_once and not search
        self._loaded_once = self._loaded_once or not search
        if self.current_id is None and first_load and self.model.rowCount():
            self.select(self.model.conversation_at(0)["id"])  # reopen the most recent one
        else:
            self._select_row(self.model.row_of(self.current_id), notify=False)
        self._update_buttons()

    def current(self) -> dict[str, Any] | None:
        return self.model.conversation_at(self.model.row_of(self.current_id))

    def select(self, conv_id: str) -> None:
        self.current_id = conv_id
        self._select_row(self.model.row_of(conv_id), notify=True)

    def upsert(self, conv: dict[str, Any]) -> None:
        """A conversation changed elsewhere (created, retitled by its first message)."""
        if self.search_box.text().strip():
            return
        row = self.model.upsert(conv)
        if conv["id"] == self.current_id:
            self._select_row(row, notify=False)

    def _select_row(self, row: int, *, notify: bool) -> None:
        selection = self.view.selectionModel()
        if row < 0:
            selection.clearSelection()
        else:
            index = self.model.index(row)
            selection.blockSignals(not notify)
            selection.setCurrentIndex(index, selection.SelectionFlag.ClearAndSelect)
            selection.blockSignals(False)
            if notify:
                self._on_current(index)
        self._update_buttons()

    def _on_current(self, index: QModelIndex, _previous: QModelIndex | None = None) -> None:
        conv = self.model.conversation_at(index.row())
        if conv is None:
            return
        self.current_id = conv["id"]
        self._update_buttons()
        self.sig_selected.emit(conv)

    def _update_buttons(self) -> None:
        conv = self.current()
        for b in (self.rename_button, self.pin_button, self.delete_button):
            b.setEnabled(conv is not None)
        self.pin_button.setText("Unpin" if conv and conv.get("pinned") else "Pin")

    # -- actions --------------------------------------------------------------------------

    def rename_current(self) -> None:
        conv = self.current()
        if conv is None:
            return
        title, ok = QInputDialog.getText(
            self, "Rename conversation", "Title:", text=conv.get("title") or ""
        )
        if ok and title.strip():
            self.client.call("chat.rename", {"id": conv["id"], "title": title.strip()}).on_success(
                self._changed
            ).on_failure(self.sig_error)

    def toggle_pin(self) -> None:
        conv = self.current()
        if conv is None:
            return
        self.client.call(
            "chat.pin", {"id": conv["id"], "pinned": not conv.get("pinned")}
        ).on_success(self._changed).on_failure(self.sig_error)

    def delete_current(self) -> None:
        conv = self.current()
        if conv is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete conversation",
            f"Delete “{conv.get('title')}” and all its messages? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.client.call("chat.delete", {"id": conv["id"]}).on_success(
            lambda _r: self._deleted(conv["id"])
        ).on_failure(self.sig_error)

    def _changed(self, conv: dict[str, Any]) -> None:
        self.model.upsert(conv)
        self._select_row(self.model.row_of(self.current_id), notify=False)
        self.refresh()

    def _deleted(self, conv_id: str) -> None:
        row = self.model.row_of(conv_id)
        self.model.remove(conv_id)
        if conv_id != self.current_id:
            return
        self.current_id = None
        nxt = self.model.conversation_at(min(row, self.model.rowCount() - 1))
        if nxt is not None:
            self.select(nxt["id"])
        else:
            self._update_buttons()
            self.sig_selected.emit(None)

    def _menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        self.view.setCurrentIndex(index)
        conv = self.current() or {}
        menu = QMenu(self)
        menu.addAction("Rename…", self.rename_current)
        menu.addAction("Unpin" if conv.get("pinned") else "Pin to top", self.toggle_pin)
        menu.addSeparator()
        menu.addAction("Delete…", self.delete_current)
        menu.exec(self.view.viewport().mapToGlobal(pos))
