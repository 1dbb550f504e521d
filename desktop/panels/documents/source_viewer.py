"""``SourceViewer``: the passage a citation or a search hit points at -- file, page and heading,
and the file's text around the span with the span itself highlighted.

The text comes from ``docs.passage`` (the extracted text kept at ingest, ``context`` characters
either side). When the engine cannot give it (the file was removed or changed since), the viewer
says so and shows the chunk text the citation carries, still highlighted.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient
from desktop.errors import EngineError
from desktop.panels.documents.item_models import page_text

CONTEXT_CHARS = 800
HIGHLIGHT = "background-color:#ffe27a; color:#1a1a1a;"


def where_text(source: dict[str, Any]) -> str:
    """``manual.pdf · page 3 · Setup > Wiring`` for a citation or hit."""
    parts = [source.get("name") or Path(source.get("file") or "?").name]
    if source.get("page"):
        label = "pages" if source.get("page_end") not in (None, source.get("page")) else "page"
        parts.append(f"{label} {page_text(source)}")
    if source.get("heading"):
        parts.append(source["heading"])
    return " · ".join(parts)


def passage_html(before: str, text: str, after: str, *, more_before: bool, more_after: bool) -> str:
    """The passage as HTML: the context in the normal colour, the span highlighted; an ellipsis
    where the file goes on beyond the context shown."""

    def esc(s: str) -> str:
        return html.escape(s).replace("\n", "<br>")

    lead = "…" if more_before else ""
    tail = "…" if more_after else ""
    return (
        "<div style='white-space:pre-wrap; line-height:140%'>"
        f"<span style='color:gray'>{lead}</span>{esc(before)}"
        f"<a name='cited'></a><span style='{HIGHLIGHT}'>{esc(text)}</span>"
        f"{esc(after)}<span style='color:gray'>{tail}</span></div>"
    )


class SourceViewer(QDialog):
    sig_loaded = Signal(object)
    """The passage is shown; the argument is the ``docs.passage`` answer (or None on fallback)."""

    def __init__(
        self,
        client: EngineClient,
        source: dict[str, Any],
        *,
        collection: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.client = client
        self.source = dict(source)
        self.collection = collection or source.get("collection")
        self.passage: dict[str, Any] | None = None
        self.highlighted = ""
        n = source.get("n")
        self.setWindowTitle(f"Source [{n}]" if n else "Source passage")
        self.resize(680, 520)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label = QLabel()
        self.path_label.setWordWrap(True)
        self.path_label.setStyleSheet("color: palette(placeholder-text);")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #b26a00;")
        self.note.hide()
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.open_button = QPushButton("Open file")
        self.open_button.setToolTip("Open the file in its usual application")
        self.open_button.clicked.connect(self.open_file)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.path_label)
        layout.addWidget(self.note)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        label = f"[{n}] " if n else ""
        self.title.setText(f"<b>{html.escape(label + where_text(source))}</b>")
        self.path_label.setText(html.escape(source.get("file") or ""))
        self.text.setPlainText("Loading the passage…")
        self.load()

    def load(self) -> None:
        s = self.source
        if not self.collection or s.get("start") is None or s.get("end") is None:
            self._fallback("This source has no position in its file.")
            return
        params = {
            "id": self.collection,
            "file": s.get("file"),
            "start": int(s["start"]),
            "end": int(s["end"]),
            "context": CONTEXT_CHARS,
        }
        request(
            self,
            self.client,
            "docs.passage",
            params,
            ok=self._show,
            fail=lambda e: self._fallback(self._why(e)),
        )

    @staticmethod
    def _why(error: EngineError) -> str:
        return f"The file's text is not available ({error.message}); showing the cited chunk."

    def _show(self, passage: dict[str, Any]) -> None:
        self.passage = passage
        self.highlighted = passage.get("text") or ""
        before, after = passage.get("before") or "", passage.get("after") or ""
        starts_at = int(passage.get("start") or 0) - len(before)  # where the context begins
        self.text.setHtml(
            passage_html(
                before,
                self.highlighted,
                after,
                more_before=starts_at > 0,
                more_after=len(after) >= CONTEXT_CHARS,
            )
        )
        self.text.scrollToAnchor("cited")
        self.sig_loaded.emit(passage)

    def _fallback(self, why: str) -> None:
        self.note.setText(why)
        self.note.show()
        self.highlighted = self.source.get("text") or ""
        self.text.setHtml(passage_html("", self.highlighted, "", more_before=True, more_after=True))
        self.sig_loaded.emit(None)

    def open_file(self) -> None:
        file = self.source.get("file")
        if file:
            QDesktopServices.openUrl(QUrl.fromLocalFile(file))
