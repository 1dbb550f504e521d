"""``MessageView``: one message of a conversation -- who wrote it, its state, its Markdown, the
branch arrows (‹ n/m ›), Copy, Edit (user) or Regenerate (assistant), and the reply's figures.

``MessageBody`` is a ``QTextBrowser`` that grows to fit its document instead of scrolling, so the
conversation scrolls as one page; ``render_count`` counts how often its document was rebuilt
(streaming rebuilds it once per frame, not per token).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.panels.chat.citations import message_markdown
from desktop.panels.chat.figures import result_text
from desktop.panels.chat.markdown import COPY_CODE, CodeColors, IncrementalRenderer
from desktop.panels.chat.preset_outcome import PresetOutcomeView
from desktop.panels.chat.thread_model import STATE_LABELS

_BADGE_COLORS = {
    "cancelled": "#b26a00",
    "interrupted": "#c62828",
    "error": "#c62828",
    "streaming": "#6b7280",
}
_BADGE_TIPS = {
    "cancelled": "You stopped this reply; the text so far is kept.",
    "interrupted": "The engine stopped while writing this reply; the text so far is kept.",
    "error": "Generation failed; see the note below.",
}


class MessageBody(QTextBrowser):
    """Read-only Markdown that is exactly as tall as its text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.render_count = 0
        self._renderer = IncrementalRenderer(self.document())
        self.setOpenLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextBrowser {background: transparent;}")
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.anchorClicked.connect(self._on_link)

    @property
    def code_blocks(self) -> list[str]:
        return self._renderer.codes

    def set_markdown(self, text: str, *, streaming: bool = False) -> None:
        """Show ``text``; while ``streaming`` only the changing tail is rebuilt."""
        # the application's palette: this widget's own is transparent (its style sheet)
        colors = CodeColors.from_palette(QGuiApplication.palette())
        if self._renderer.render(text, colors, streaming=streaming):
            self.render_count += 1
            self._fit()

    def refresh_colors(self) -> None:
        """Render again in the application's current palette (light/dark switch)."""
        renderer = self._renderer
        if renderer.text is not None:
            text, streaming = renderer.text, renderer.streaming
            renderer.text = None
            self.set_markdown(text, streaming=streaming)

    def _fit(self, *_args: Any) -> None:
        height = int(self.document().size().height() + 0.999) + 2 * self.frameWidth()
        if height != self.height():
            self.setFixedHeight(height)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def wheelEvent(self, event) -> None:
        event.ignore()  # let the conversation scroll

    def _on_link(self, url: QUrl) -> None:
        href = url.toString()
        if href.startswith(COPY_CODE):
            index = int(href[len(COPY_CODE) :] or -1)
            if 0 <= index < len(self.code_blocks):
                QGuiApplication.clipboard().setText(self.code_blocks[index])
        elif url.scheme() in ("http", "https"):
            QDesktopServices.openUrl(url)


def _palette_key() -> tuple[int, int]:
    palette = QGuiApplication.palette()
    return (
        palette.color(QPalette.ColorRole.Base).rgb(),
        palette.color(QPalette.ColorRole.Highlight).rgb(),
    )


def _tool(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setAutoRaise(True)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


class MessageView(QFrame):
    sig_edit_requested = Signal(object)
    """The user wants to edit this (user) message; the argument is the Message."""
    sig_regenerate_requested = Signal(object)
    """The user wants another reply in place of this (assistant) message."""
    sig_branch_requested = Signal(str)
    """Show the branch through this message id (a sibling of the one shown)."""

    def __init__(self, message: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message: dict[str, Any] = {}
        self.busy = False
        self._palette_key = _palette_key()
        self.setObjectName("ChatMessage")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.role_label = QLabel()
        self.role_label.setStyleSheet("font-weight: bold;")
        self.state_label = QLabel()
        self.prev_button = _tool("‹", "Previous alternative")
        self.branch_label = QLabel()
        self.next_button = _tool("›", "Next alternative")
        self.copy_button = _tool("Copy", "Copy this message as Markdown")
        self.edit_button = _tool("Edit", "Edit this message and send it again as a new branch")
        self.regenerate_button = _tool(
            "Regenerate", "Write another reply here (the old one stays reachable with ‹ ›)"
        )
        self.prev_button.clicked.connect(lambda: self._step(-1))
        self.next_button.clicked.connect(lambda: self._step(1))
        self.copy_button.clicked.connect(self._copy)
        self.edit_button.clicked.connect(lambda: self.sig_edit_requested.emit(self.message))
        self.regenerate_button.clicked.connect(
            lambda: self.sig_regenerate_requested.emit(self.message)
        )
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.role_label)
        header.addWidget(self.state_label)
        header.addStretch(1)
        for w in (
            self.prev_button,
            self.branch_label,
            self.next_button,
            self.copy_button,
            self.edit_button,
            self.regenerate_button,
        ):
            header.addWidget(w)
        self.body = MessageBody()
        self.footer = QLabel()
        self.footer.setWordWrap(True)
        self.footer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.footer.setStyleSheet("color: palette(placeholder-text); font-size: 9pt;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.body)
        self.outcome = PresetOutcomeView()  # a preset's SQL result or review verdict
        layout.addWidget(self.outcome)
        layout.addWidget(self.footer)
        self.set_message(message)

    def set_message(self, message: dict[str, Any]) -> None:
        role_changed = message.get("role") != self.message.get("role")
        self.message = message
        role = message.get("role", "")
        self.role_label.setText({"user": "You", "assistant": "Assistant"}.get(role, role.title()))
        if role_changed:
            self._style_frame(role)
        state = message.get("state", "complete")
        self.state_label.setText(f"[{STATE_LABELS[state]}]" if state in STATE_LABELS else "")
        self.state_label.setStyleSheet(f"color: {_BADGE_COLORS.get(state, '#6b7280')};")
        self.state_label.setToolTip(_BADGE_TIPS.get(state, ""))
        self.body.set_markdown(message_markdown(message), streaming=state == "streaming")
        meta = message.get("metadata") or {}
        footer = ""
        if role == "assistant" and state != "streaming":
            footer = result_text(meta)
            if meta.get("error"):
                footer = f"Error: {meta['error']}" + (f" · {footer}" if footer else "")
        self.footer.setText(footer)
        self.footer.setVisible(bool(footer))
        done = role == "assistant" and state != "streaming"
        self.outcome.set_outcome(meta.get("preset") if done else None)
        self._update_controls()

    def set_busy(self, busy: bool) -> None:
        """While a reply streams, editing and branch switching wait."""
        self.busy = busy
        self._update_controls()

    def _update_controls(self) -> None:
        m = self.message
        siblings = m.get("siblings") or []
        index = int(m.get("sibling_index") or 0)
        many = len(siblings) > 1
        for w in (self.prev_button, self.branch_label, self.next_button):
            w.setVisible(many)
        self.branch_label.setText(f"{index + 1}/{len(siblings)}")
        self.prev_button.setEnabled(many and index > 0 and not self.busy)
        self.next_button.setEnabled(many and index < len(siblings) - 1 and not self.busy)
        stored = not m.get("local")
        self.edit_button.setVisible(m.get("role") == "user")
        self.edit_button.setEnabled(stored and not self.busy)
        self.regenerate_button.setVisible(m.get("role") == "assistant")
        self.regenerate_button.setEnabled(stored and not self.busy)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._palette_key != _palette_key():
            self._style_frame(self.message.get("role", ""))  # the OS went light or dark
            self.body.refresh_colors()

    def _step(self, delta: int) -> None:
        siblings = self.message.get("siblings") or []
        index = int(self.message.get("sibling_index") or 0) + delta
        if 0 <= index < len(siblings):
            self.sig_branch_requested.emit(siblings[index])

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.message.get("content") or "")
        self.copy_button.setText("Copied")
        QTimer.singleShot(1200, self.copy_button, lambda: self.copy_button.setText("Copy"))

    def _style_frame(self, role: str) -> None:
        self._palette_key = _palette_key()
        palette = QGuiApplication.palette()
        base = palette.color(QPalette.ColorRole.Base)
        accent = palette.color(QPalette.ColorRole.Highlight)
        if role == "user":
            t = 0.10
            tint = QColor(
                round(base.red() * (1 - t) + accent.red() * t),
                round(base.green() * (1 - t) + accent.green() * t),
                round(base.blue() * (1 - t) + accent.blue() * t),
            )
            self.setStyleSheet(f"#ChatMessage {{background: {tint.name()}; border-radius: 6px;}}")
        else:
            self.setStyleSheet("#ChatMessage {background: transparent;}")
