"""``Composer``: where the user writes -- a multi-line box (Enter is a new line, Ctrl+Enter sends),
Send and Stop, a strip saying when an earlier message is being edited, and the ``ContextMeter``
(tokens used of the model's window, and what the truncation policy would drop).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.panels.chat.figures import meter_text

_SEND_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


class ComposerEdit(QPlainTextEdit):
    sig_submit = Signal()
    """Ctrl+Enter was pressed."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in _SEND_KEYS and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            event.accept()
            self.sig_submit.emit()
            return
        super().keyPressEvent(event)


class ContextMeter(QWidget):
    """Used / available tokens for the conversation plus the draft."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(8)
        self.bar.setMaximumWidth(160)
        self.figure = QLabel("Context: –")
        self.note = QLabel()
        self.note.setStyleSheet("color: palette(placeholder-text);")
        self.note.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Context"))
        layout.addWidget(self.bar)
        layout.addWidget(self.figure)
        layout.addWidget(self.note, 1)
        self.count: dict[str, Any] | None = None

    def show_count(self, count: dict[str, Any]) -> None:
        self.count = count
        figure, note = meter_text(count)
        available = max(int(count.get("available") or 0), 1)
        used = int(count.get("used") or 0)
        self.bar.setRange(0, available)
        self.bar.setValue(min(used, available))
        trouble = not count.get("fits", True) or (count.get("truncated") or {}).get(
            "dropped_messages"
        )
        self.bar.setStyleSheet(
            "QProgressBar::chunk {background: %s;}" % ("#d9534f" if trouble else "#4a90d9")
        )
        self.figure.setText(figure)
        self.note.setText(note)
        self.setToolTip(
            f"{used:,} tokens of {available:,} in the prompt; "
            f"{int(count.get('reserved') or 0):,} kept for the reply (max tokens, at most half)."
        )

    def clear(self) -> None:
        self.count = None
        self.bar.setValue(0)
        self.figure.setText("–")
        self.note.clear()


class Composer(QWidget):
    sig_send = Signal(str)
    """The user sent this text (Send or Ctrl+Enter)."""
    sig_stop = Signal()
    """The user pressed Stop."""
    sig_edit_cancelled = Signal()
    """The user gave up editing an earlier message."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editing: dict[str, Any] | None = None
        self.edit_strip = QFrame()
        self.edit_strip.setStyleSheet(
            "QFrame {background:#fff4e5; border:1px solid #f0b060; border-radius:4px;}"
            " QLabel {border:none; color:#5a3300;}"
        )
        self.edit_label = QLabel()
        self.edit_label.setWordWrap(True)  # never widen the window
        cancel_edit = QToolButton()
        cancel_edit.setText("Cancel edit")
        cancel_edit.setAutoRaise(True)
        cancel_edit.clicked.connect(self.cancel_edit)
        strip = QHBoxLayout(self.edit_strip)
        strip.setContentsMargins(8, 2, 2, 2)
        strip.addWidget(self.edit_label, 1)
        strip.addWidget(cancel_edit)
        self.edit_strip.hide()

        self.editor = ComposerEdit()
        self.editor.setPlaceholderText("Message the model…  (Enter: new line · Ctrl+Enter: send)")
        self.editor.setTabChangesFocus(True)
        self.editor.setFixedHeight(84)
        self.editor.sig_submit.connect(self.submit)
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Send (Ctrl+Enter)")
        self.send_button.setDefault(False)
        self.send_button.clicked.connect(self.submit)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the reply; what it wrote so far stays (Esc)")
        self.stop_button.clicked.connect(self.sig_stop)
        self.stop_button.hide()
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.editor, 1)
        row.addLayout(buttons)
        self.meter = ContextMeter()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.edit_strip)
        layout.addLayout(row)
        layout.addWidget(self.meter)

    def text(self) -> str:
        return self.editor.toPlainText()

    def submit(self) -> None:
        text = self.text()
        if text.strip() and self.send_button.isEnabled():
            self.sig_send.emit(text)

    def set_streaming(self, streaming: bool) -> None:
        self.send_button.setEnabled(not streaming)
        self.stop_button.setVisible(streaming)

    def start_edit(self, message: dict[str, Any]) -> None:
        """Load an earlier user message for editing; sending makes a new branch."""
        self.editing = message
        self.edit_label.setText(
            "Editing an earlier message: Ctrl+Enter sends it as a new branch; "
            "the old one stays reachable with ‹ ›."
        )
        self.edit_strip.show()
        self.editor.setPlainText(message.get("content") or "")
        self.editor.setFocus()
        self.editor.moveCursor(self.editor.textCursor().MoveOperation.End)

    def cancel_edit(self) -> None:
        if self.editing is not None:
            self.editing = None
            self.editor.clear()
            self.edit_strip.hide()
            self.sig_edit_cancelled.emit()

    def finish_edit(self) -> None:
        self.editing = None
        self.edit_strip.hide()
