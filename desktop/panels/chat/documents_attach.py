"""``CollectionsPicker``: the Chat header's *Documents* button -- a menu of the document
collections with a tick beside each one attached to the conversation -- and ``AttachedNote``, the
line above the composer saying which collections answer and how to read their sources.

Neither widget calls the engine: ``DocumentsChat`` fills them and gives the choice to the engine
(the conversation's ``collections``).
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMenu, QToolButton, QWidget


class CollectionsPicker(QToolButton):
    sig_changed = Signal(list)
    """The user attached or detached a collection; the argument is the attached ids."""
    sig_menu_opening = Signal()
    """The menu is about to show (a moment to re-list the collections)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.collections: list[dict[str, Any]] = []
        self.selected: list[str] = []
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setMenu(QMenu(self))
        self.menu().aboutToShow.connect(self._opening)
        self._update()

    def set_collections(self, collections: list[dict[str, Any]]) -> None:
        self.collections = list(collections)
        self._update()

    def set_selected(self, ids: list[str]) -> None:
        """Show ``ids`` as attached (no ``sig_changed``: this is the stored choice)."""
        self.selected = list(ids)
        self._update()

    def names(self, ids: list[str] | None = None) -> list[str]:
        by_id = {c["id"]: c.get("name") or c["id"] for c in self.collections}
        return [by_id.get(i, i) for i in (self.selected if ids is None else ids)]

    def toggle(self, collection_id: str, on: bool) -> None:
        """Attach or detach one collection, as its menu entry does."""
        ids = [i for i in self.selected if i != collection_id]
        if on:
            ids.append(collection_id)
        self.selected = ids
        self._update_text()  # not the menu: this may run inside one of its actions' signals
        self.sig_changed.emit(list(ids))

    def _opening(self) -> None:
        self._rebuild_menu()
        self.sig_menu_opening.emit()

    def _update(self) -> None:
        self._rebuild_menu()
        self._update_text()

    def _rebuild_menu(self) -> None:
        menu = self.menu()
        menu.clear()
        for c in self.collections:
            action = QAction(c.get("name") or c["id"], menu)
            action.setCheckable(True)
            action.setChecked(c["id"] in self.selected)
            chunks = int(c.get("chunks") or 0)
            action.setToolTip(f"{chunks:,} chunks")
            action.toggled.connect(lambda on, cid=c["id"]: self.toggle(cid, on))
            menu.addAction(action)
        if not self.collections:
            empty = menu.addAction("No collections yet: make one in the Documents panel")
            empty.setEnabled(False)
        elif self.selected:
            menu.addSeparator()
            detach = menu.addAction("Detach all")
            detach.triggered.connect(self._detach_all)

    def _update_text(self) -> None:
        known = {c["id"] for c in self.collections}
        attached = [i for i in self.selected if not self.collections or i in known]
        names = self.names(attached)
        if not names:
            self.setText("Documents")
        elif len(names) == 1:
            name = names[0] if len(names[0]) <= 20 else names[0][:19] + "…"
            self.setText(f"Documents: {name}")
        else:
            self.setText(f"Documents: {len(names)}")
        font = self.font()
        font.setBold(bool(names))
        self.setFont(font)
        self.setToolTip(
            "Answer from these document collections, with numbered citations: " + ", ".join(names)
            if names
            else "Attach document collections: replies then come from them, with citations"
        )

    def _detach_all(self) -> None:
        self.selected = []
        self._update_text()
        self.sig_changed.emit([])


class AttachedNote(QLabel):
    """One line above the composer while collections are attached."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setStyleSheet(
            "QLabel {background: palette(alternate-base); border: 1px solid palette(mid);"
            " border-radius: 4px; padding: 3px 6px;}"
        )
        self.hide()

    def show_names(self, names: list[str]) -> None:
        if not names:
            self.hide()
            return
        listed = ", ".join(f"<b>{html.escape(n)}</b>" for n in names)
        self.setText(
            f"Answering from {listed}. Replies cite numbered sources; click [1], [2]… to read "
            "the passage. The conversation keeps the sources with each reply."
        )
        self.show()
