"""Every panel at 1280x800 and 1920x1080 on the fake engine: no visible label or button has
text cut off, and the status bar's parts do not overlap. Set HEARTH_SCREENSHOTS=DIR to keep a
PNG of each panel at each size."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget

from desktop.elided_label import ElidedLabel
from desktop.main_window import MainWindow

SIZES = ((1280, 800), (1920, 1080))


def clipped(root: QWidget) -> list[str]:
    """Visible plain-text labels and buttons narrower than their one-line text."""
    out = []
    for widget in root.findChildren(QWidget):
        if not widget.isVisibleTo(root) or widget.width() <= 1:
            continue
        if isinstance(widget, ElidedLabel):  # shortened on purpose, the whole text as tooltip
            continue
        if isinstance(widget, QLabel):
            text = widget.text()
            if not text or widget.wordWrap() or widget.textFormat() == Qt.TextFormat.RichText:
                continue
            if "<" in text and ">" in text:  # auto-detected rich text
                continue
            needed = max(widget.fontMetrics().horizontalAdvance(line) for line in text.splitlines())
            room = widget.contentsRect().width() - 2 * widget.margin() - widget.indent() % 1
            if needed > room + 1:
                out.append(f"label {text!r}: {needed}px in {room}px")
        elif isinstance(widget, QAbstractButton) and widget.text():
            needed = widget.sizeHint().width()
            if needed > widget.width() + 1:
                out.append(f"button {widget.text()!r}: {needed}px in {widget.width()}px")
    return out


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_text_is_cut_off_in_any_panel(qtbot, make_client, size):
    window = MainWindow(make_client())
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    keep = os.environ.get("HEARTH_SCREENSHOTS")
    problems = {}
    for spec in window.specs:
        window.show_panel(spec.id)
        qtbot.wait(300)  # the panel's first answers from the engine
        found = clipped(window)
        if found:
            problems[spec.id] = found
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            window.grab().save(str(Path(keep) / f"{spec.id}-{size[0]}x{size[1]}.png"))
    assert problems == {}
    parts = [w for w in (window.engine_label, window.device_label, window.memory_label, window.loaded_label) if w.isVisible()]  # fmt: skip
    edges = sorted((w.geometry().left(), w.geometry().right()) for w in parts)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(edges)), edges


def test_long_model_names_are_elided_in_the_middle_with_the_whole_name_as_tooltip(qtbot):
    from desktop.elide_combo import ElidedCombo

    combo = ElidedCombo()
    qtbot.addWidget(combo)
    long = "Gemma 3 270M (base) − width −20% (2048→1639) (q8_0)"
    combo.addItem("Short", "a")
    combo.addItem(long, "b")
    combo.setFixedWidth(220)
    combo.show()
    combo.setCurrentIndex(1)
    shown = combo.shown_text()
    assert "…" in shown and shown.startswith("Gemma") and shown.endswith("(q8_0)")
    assert combo.toolTip() == long
    combo.setCurrentIndex(0)
    assert combo.shown_text() == "Short" and combo.toolTip() == "Short"


def test_an_elided_combo_keeps_what_it_is_for_in_its_tooltip(qtbot):
    from desktop.elide_combo import ElidedCombo

    combo = ElidedCombo()
    qtbot.addWidget(combo)
    combo.setToolTip("The model that writes the replies")
    assert combo.toolTip() == "The model that writes the replies"
    combo.addItem("Gemma 3 270M (base)", "a")
    combo.addItem("Gemma 3 270M (base) (q8_0)", "b")
    combo.setItemData(1, "8-bit copy", Qt.ItemDataRole.ToolTipRole)
    combo.setCurrentIndex(1)
    assert combo.toolTip().splitlines() == [
        "Gemma 3 270M (base) (q8_0)",
        "8-bit copy",
        "The model that writes the replies",
    ]
    combo.setCurrentIndex(0)
    assert combo.toolTip() == "Gemma 3 270M (base)\nThe model that writes the replies"
