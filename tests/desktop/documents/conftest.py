"""Fixtures for the Documents tests: a shown ``DocumentsPanel`` on the fake engine (fake_docs.py),
small files written in the test, and helpers that wait for what a user would wait for."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from desktop.panels.documents.panel import DocumentsPanel

BEES = (
    "# Bees\n\nHoneybees make honey from flower nectar. The queen bee lays all the eggs.\n\n"
    "# Hives\n\nA hive keeps about forty thousand bees in summer.\n"
)
VOLCANOES = "Volcanoes erupt lava and ash.\n\n\fMagma rises from the mantle below the crust.\n"


@pytest.fixture
def panel(qtbot, make_client):
    client = make_client()
    widget = DocumentsPanel(client)
    qtbot.addWidget(widget)
    widget.resize(1200, 720)
    widget.show()
    qtbot.waitExposed(widget)
    # the collection form is built from docs.settings: New collection waits for its answer
    qtbot.waitUntil(widget.new_button.isEnabled, timeout=5000)
    return widget


@pytest.fixture
def corpus(tmp_path) -> dict[str, Path]:
    """Two good files, a scanned PDF, an empty file and one of an unknown type."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    files = {
        "bees": folder / "bees.md",
        "volcanoes": folder / "volcanoes.txt",
        "scan": folder / "scan.pdf",
        "empty": folder / "empty.txt",
        "binary": folder / "tool.bin",
    }
    files["bees"].write_text(BEES)
    files["volcanoes"].write_text(VOLCANOES)
    files["scan"].write_bytes(b"%PDF-1.4 image only")
    files["empty"].write_text("")
    files["binary"].write_bytes(b"\x00\x01")
    return files


def create(qtbot, panel, name: str, **fields) -> dict:
    """Create a collection through the New collection dialog and wait until it is selected."""
    dialog = panel.new_collection()
    dialog.name_edit.setText(name)
    for key, value in fields.items():
        getattr(dialog, key).setText(value)
    with qtbot.waitSignal(dialog.sig_created, timeout=5000) as created:
        dialog.ok_button.click()
    qtbot.waitUntil(lambda: (panel.collection or {}).get("name") == name, timeout=5000)
    return created.args[0]


def drop(panel, paths: list[Path]) -> None:
    """Drop files on the panel as a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    panel.dropEvent(event)


def ingest(qtbot, panel, paths: list[Path], timeout: int = 10000) -> None:
    """Drop ``paths`` and wait for the ingest to end and the files table to show them all."""
    with qtbot.waitSignal(panel.tracker.sig_ended, timeout=timeout):
        drop(panel, paths)
    names = {p.name for p in paths if p.is_file()}
    qtbot.waitUntil(
        lambda: all(panel.files.model.status_of(n) not in (None, "indexing") for n in names),
        timeout=timeout,
    )


def search(qtbot, panel, query: str, **options) -> dict:
    pane = panel.search
    panel.tabs.setCurrentWidget(pane)
    pane.query_edit.setText(query)
    for key, value in options.items():
        combo = getattr(pane, f"{key}_combo")
        combo.setCurrentIndex(combo.findData(value))
    with qtbot.waitSignal(pane.sig_results, timeout=5000) as answered:
        pane.search_button.click()
    return answered.args[0]
