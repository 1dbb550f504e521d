"""Small widgets shared by panels: an inline message bar, a table view with an empty-state hint,
and icons from ``desktop/resources`` drawn in the palette's colours."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QBuffer, QByteArray, QSize, Qt, QTimer
from PySide6.QtGui import QIcon, QImageReader, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QTableView, QToolButton, QWidget

from desktop.table_model import guarded_data  # re-exported for panels' own item models

if TYPE_CHECKING:
    from desktop.engine_client import EngineClient

__all__ = ["HintTableView", "MessageBar", "app_icon", "guarded_data", "themed_icon"]

RESOURCES = Path(__file__).with_name("resources")

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
        """The message on show (even while its panel is not the current one); "" once dismissed."""
        return "" if self.isHidden() else self.label.text()


class HintTableView(QTableView):
    """A table that paints a hint in its viewport while it has no rows."""

    def __init__(self, hint: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hint = hint
        self.empty_hint = hint

    def follow_engine(self, client: EngineClient) -> None:
        """While the engine is down, say so instead of "nothing here yet" (which would be a lie)."""
        client.sig_state_changed.connect(self._on_engine_state)
        self._on_engine_state(client.state.value)

    def _on_engine_state(self, state: str) -> None:
        down = {
            "starting": "Starting the engine…",
            "crashed": "The engine stopped; see the message above.",
            "restarting": "Restarting the engine…",
            "failed": "The engine is not running; see the message above.",
            "stopped": "The engine is not running.",
        }
        self.hint = down.get(state, self.empty_hint)
        self.viewport().update()

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


def _render_svg(svg: bytes, size: int) -> QPixmap:
    buffer = QBuffer()
    buffer.setData(QByteArray(svg))
    reader = QImageReader(buffer, b"svg")
    reader.setScaledSize(QSize(size, size))
    return QPixmap.fromImage(reader.read())  # null when Qt has no SVG plugin: no icon, no error


def themed_icon(name: str, palette: QPalette, *, size: int = 48) -> QIcon:
    """``resources/<name>.svg`` with ``currentColor`` painted in the palette's text colour (and
    the highlighted-text colour when selected), so one drawing reads on light and dark themes.
    An empty icon when there is no such file."""
    path = RESOURCES / f"{name}.svg"
    if not name or not path.is_file():
        return QIcon()
    svg = path.read_text(encoding="utf-8")
    icon = QIcon()
    for mode, role in (
        (QIcon.Mode.Normal, QPalette.ColorRole.Text),
        (QIcon.Mode.Selected, QPalette.ColorRole.HighlightedText),
    ):
        coloured = svg.replace("currentColor", palette.color(role).name())
        pixmap = _render_svg(coloured.encode("utf-8"), size)
        if not pixmap.isNull():
            icon.addPixmap(pixmap, mode)
    return icon


def app_icon() -> QIcon:
    """Hearth's own icon (a hearth fire), for the window title and the task bar."""
    pixmap = _render_svg((RESOURCES / "hearth.svg").read_bytes(), 256)
    return QIcon(pixmap) if not pixmap.isNull() else QIcon()


def open_in_evaluate(
    widget: QWidget, *model_ids: str, run_id: str | None = None, kind: str | None = None
) -> bool:
    """Switch ``widget``'s main window to Evaluate with ``model_ids`` ticked (and the measure
    ``kind`` picked, e.g. "perplexity"), or with the stored evaluation ``run_id`` shown; False
    when there is no such window or panel."""
    window = widget.window()
    panel = (getattr(window, "panels", None) or {}).get("evaluate")
    if panel is None or not hasattr(panel, "open_model") or not hasattr(window, "show_panel"):
        return False
    for model_id in model_ids:
        if model_id:
            panel.open_model(model_id)
    if kind:
        panel.pick_kind(kind)
    if run_id:
        panel.open_run(run_id)
    window.show_panel("evaluate")
    return True


def open_in_chat(widget: QWidget, model_id: str) -> bool:
    """Switch ``widget``'s main window to Chat with ``model_id`` in a new conversation; False
    when there is no such window (the caller then emits its own signal)."""
    window = widget.window()
    chat = (getattr(window, "panels", None) or {}).get("chat")
    if chat is not None and hasattr(chat, "open_model") and hasattr(window, "show_panel"):
        chat.open_model(model_id)
        window.show_panel("chat")
        return True
    return False
