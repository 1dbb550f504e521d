"""Export the open conversation: a file dialog, then ``chat.export`` writes the file (Markdown:
the branch on screen; JSON: the whole tree) and the panel's message bar says where it went."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog, QMenu

if TYPE_CHECKING:
    from desktop.panels.chat.panel import ChatPanel

FORMATS = {
    "markdown": ("Markdown", ".md", "Markdown (*.md);;All files (*)"),
    "json": ("JSON", ".json", "JSON (*.json);;All files (*)"),
}


def file_stem(title: str) -> str:
    """A file name from a conversation title: letters, digits, dashes."""
    stem = re.sub(r"[^\w-]+", "-", title.strip(), flags=re.UNICODE).strip("-")
    return stem[:60] or "conversation"


def export_menu(panel: ChatPanel) -> QMenu:
    menu = QMenu(panel)
    for fmt, (label, _suffix, _filter) in FORMATS.items():
        menu.addAction(f"{label}…", lambda f=fmt: export_conversation(panel, f))
    return menu


def export_conversation(panel: ChatPanel, fmt: str) -> None:
    conv = panel.conversation
    if conv is None:
        return
    label, suffix, filters = FORMATS[fmt]
    suggested = str(Path.home() / f"{file_stem(conv.get('title') or '')}{suffix}")
    path, _ = QFileDialog.getSaveFileName(
        panel, f"Export conversation as {label}", suggested, filters
    )
    if not path:
        return
    if not Path(path).suffix:
        path += suffix

    def done(result: dict[str, Any]) -> None:
        panel.message.show_message(
            f"Exported “{conv.get('title')}” as {label} to {result.get('path') or path}.",
            "success",
            timeout_ms=8000,
        )

    panel.client.call("chat.export", {"id": conv["id"], "format": fmt, "path": path}).on_success(
        done
    ).on_failure(panel.show_error)
