"""Small widgets shared by panels: an inline message bar and a table view with an empty-state hint."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QTableView, QToolButton, QWidget

from desktop.table_model import guarded_data  # re-exported for panels' own item models

__all__ = ["HintTableView", "MessageBar", "guarded_data"]

_STYLES = {
    "info": "background:#e8f1fb; color:#17365d; border:1px solid #b5cde8;",
    "success": "background:#e7f6ea; color:#1d4d27; border:1px solid #b3dcbc;",
    "error": "background:#fbeaea; color:#6b1a1a; border:1px solid #e6b3b3;",
}


class MessageBar(QWidget):
    """One line of feedback above a panel's content: what happened and what to do next."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.kind = ""
        self.hide()

    def show_message(self, text: str, kind: str = "info", *, timeout_ms: int = 0) -> None:
        self.kind = kind
        self.label.setText(text)
        self.setStyleSheet(
            f"MessageBar {{{_STYLES.get(kind, _STYLES['info'])} border-radius:4px;}} QLabel {{border:none; background:transparent;}}"
        )
        self.show()
        if timeout_ms:
            self._timer.start(timeout_ms)
        else:
            self._timer.stop()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


class HintTableView(QTableView):
    """A table that paints a hint in its viewport while it has no rows."""

    def __init__(self, hint: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hint = hint

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        model = self.model()
        if model is not None and model.rowCount() == 0 and self.hint:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(
                self.viewport().rect().adjusted(24, 24, -24, -24),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self.hint,
            )
            painter.end()
