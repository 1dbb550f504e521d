"""``ConversationView``: the messages of a ``ThreadModel`` as a scrolling column of
``MessageView`` widgets that follows the model's row signals (an update repaints one message).

It sticks to the bottom while a reply grows, unless the user scrolled up to read.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from desktop.panels.chat.message_view import MessageView
from desktop.panels.chat.thread_model import ThreadModel

EMPTY_HINT = (
    "<p>Ask the model anything.</p>"
    "<p>Ctrl+Enter sends, Esc stops a reply.<br>"
    "Pick the model, system prompt and sampling under Settings.</p>"
    "<p style='max-width: 36em'>The bundled model is tiny: Gemma 3 270M with Hearth's starter "
    "adapter. It gives short answers and answers questions about your documents, but it knows "
    "little and is easily wrong. For better answers, <a href='import'>import a larger GGUF "
    "model</a> (an instruct model of 1 to 8 billion parameters runs on most laptops).</p>"
)


class ConversationView(QScrollArea):
    sig_edit_requested = Signal(object)
    """A user message should be edited and sent again; the argument is the Message."""
    sig_regenerate_requested = Signal(object)
    """An assistant message should be written again; the argument is the Message."""
    sig_branch_requested = Signal(str)
    """Show the branch through this message id."""

    def __init__(self, model: ThreadModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.views: list[MessageView] = []
        self.busy = False
        self._follow = True
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        container = QWidget()
        container.setObjectName("ChatColumn")
        self.column = QVBoxLayout(container)
        self.column.setContentsMargins(8, 8, 8, 8)
        self.column.setSpacing(8)
        self.hint = QLabel(EMPTY_HINT)
        self.hint.setTextFormat(Qt.TextFormat.RichText)
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.linkActivated.connect(self._import_model)
        self.hint.setStyleSheet("color: palette(placeholder-text); font-size: 11pt;")
        self.column.addWidget(self.hint, 1)
        self.column.addStretch(0)
        self.setWidget(container)
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range)
        model.modelReset.connect(self._rebuild)
        model.rowsInserted.connect(self._on_inserted)
        model.rowsRemoved.connect(self._on_removed)
        model.dataChanged.connect(self._on_changed)
        self._rebuild()

    # -- following the model --------------------------------------------------------------

    def _make(self, row: int) -> MessageView:
        view = MessageView(self.model.message_at(row) or {})
        view.set_busy(self.busy)
        view.sig_edit_requested.connect(self.sig_edit_requested)
        view.sig_regenerate_requested.connect(self.sig_regenerate_requested)
        view.sig_branch_requested.connect(self.sig_branch_requested)
        return view

    def _rebuild(self) -> None:
        for view in self.views:
            view.deleteLater()
        self.views = []
        self._on_inserted(QModelIndex(), 0, self.model.rowCount() - 1)

    def _on_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        for row in range(first, last + 1):
            view = self._make(row)
            self.views.insert(row, view)
            self.column.insertWidget(row, view)
        self._update_hint()

    def _on_removed(self, _parent: QModelIndex, first: int, last: int) -> None:
        for view in self.views[first : last + 1]:
            self.column.removeWidget(view)
            view.deleteLater()
        del self.views[first : last + 1]
        self._update_hint()

    def _on_changed(self, top: QModelIndex, bottom: QModelIndex, _roles=None) -> None:
        for row in range(top.row(), bottom.row() + 1):
            message = self.model.message_at(row)
            if message is not None and row < len(self.views):
                self.views[row].set_message(message)

    def _import_model(self, _link: str) -> None:
        """The hint's link: the Models panel's file picker for a GGUF."""
        window = self.window()
        models = (getattr(window, "panels", None) or {}).get("models")
        if models is not None and hasattr(window, "show_panel"):
            window.show_panel("models")
            models.choose_file()

    def _update_hint(self) -> None:
        self.hint.setVisible(not self.views)
        self.column.setStretch(self.column.count() - 1, 0 if not self.views else 1)

    # -- behaviour ------------------------------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        for view in self.views:
            view.set_busy(busy)

    def scroll_to_bottom(self) -> None:
        self._follow = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 24

    def _on_range(self, _low: int, high: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(high)

    def render_count(self) -> int:
        """How many times message documents were rebuilt (for the batching test)."""
        return sum(view.body.render_count for view in self.views)
