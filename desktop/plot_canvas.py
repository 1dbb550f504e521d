"""The matplotlib canvases every panel's plots start from.

- ``ThemedCanvas``: a figure in the window's colours and one axes styled the same way (title,
  axis labels, ticks and frame in the text colour);
- ``PlotCanvas``: an interactive one: the value under the mouse in a tooltip, clicks reported as
  a cell or point, PNG/SVG export, and the numbers it draws as CSV rows;
- ``PlotTab``: a ``PlotCanvas`` with its controls above and Save image / Save numbers below.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QPushButton, QVBoxLayout, QWidget


class ThemedCanvas(FigureCanvasQTAgg):
    def __init__(self, parent: QWidget | None, size: tuple[float, float]) -> None:
        self.figure = Figure(figsize=size, dpi=100, layout="constrained")
        super().__init__(self.figure)
        self.setParent(parent)
        pal = self.palette()
        self.fg = pal.color(QPalette.ColorRole.WindowText).name()
        self.bg = pal.color(QPalette.ColorRole.Window).name()
        self.figure.set_facecolor(self.bg)
        self.ax = self.figure.subplots()

    def _style(self, title: str, xlabel: str, ylabel: str) -> None:
        ax = self.ax
        ax.set_facecolor(self.bg)
        ax.set_title(title, color=self.fg, fontsize=10)
        ax.set_xlabel(xlabel, color=self.fg, fontsize=9)
        ax.set_ylabel(ylabel, color=self.fg, fontsize=9)
        ax.tick_params(colors=self.fg, labelsize=8)
        for spine in ax.spines.values():
            spine.set_color(self.fg)


class PlotCanvas(ThemedCanvas):
    sig_clicked = Signal(int, int)
    """A cell (row, column) or a point (index, 0) was clicked."""

    def __init__(
        self, parent: QWidget | None = None, size: tuple[float, float] = (6.4, 3.6)
    ) -> None:
        super().__init__(parent, size)
        self.setMinimumSize(360, 240)
        self.header: list[str] = []
        self.rows: list[list[Any]] = []
        self.hover_text = ""
        self._tip = None
        self.mpl_connect("motion_notify_event", self._moved)
        self.mpl_connect("button_press_event", self._pressed)

    # -- what subclasses fill ------------------------------------------------------------------
    def value_at(self, x: float, y: float) -> str | None:
        return None

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        return None

    # -- shared --------------------------------------------------------------------------------
    def _reset(self) -> None:
        self.figure.clear()
        self.ax = self.figure.subplots()
        self._tip = None

    def _moved(self, event: Any) -> None:
        text = None
        if event.inaxes is self.ax and event.xdata is not None:
            text = self.value_at(event.xdata, event.ydata)
        self.hover_text = text or ""
        if text is None:
            if self._tip is not None:
                self._tip.set_visible(False)
                self.draw_idle()
            return
        if self._tip is None:
            self._tip = self.ax.annotate(
                "", (0, 0), xytext=(10, 10), textcoords="offset points", fontsize=8,
                bbox={"boxstyle": "round", "fc": "#ffffe0", "ec": "#888888"}, zorder=10,
            )  # fmt: skip
        self._tip.xy = (event.xdata, event.ydata)
        self._tip.set_text(text)
        self._tip.set_visible(True)
        self.draw_idle()

    def _pressed(self, event: Any) -> None:
        if event.inaxes is self.ax and event.xdata is not None:
            cell = self.cell_at(event.xdata, event.ydata)
            if cell is not None:
                self.sig_clicked.emit(*cell)

    def export_image(self, path: str | Path) -> None:
        """PNG or SVG by the file's suffix (PNG when it has none)."""
        path = Path(path)
        if path.suffix.lower() not in (".png", ".svg"):
            path = path.with_suffix(".png")
        tip = self._tip is not None and self._tip.get_visible()
        if tip:
            self._tip.set_visible(False)
        self.figure.savefig(path, facecolor=self.bg, dpi=150)
        if tip:
            self._tip.set_visible(True)

    def export_csv(self, path: str | Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.header)
            writer.writerows(self.rows)


class PlotTab(QWidget):
    """A plot with its controls above and Save image / Save CSV below."""

    def __init__(self, canvas: PlotCanvas, controls: QWidget | None = None, *, name: str = "plot") -> None:  # fmt: skip
        super().__init__()
        self.canvas = canvas
        self.name = name
        layout = QVBoxLayout(self)
        if controls is not None:
            layout.addWidget(controls)
        layout.addWidget(canvas, 1)
        row = QHBoxLayout()
        self.save_image = QPushButton("Save image…")
        self.save_image.setToolTip("PNG or SVG, as drawn")
        self.save_csv = QPushButton("Save numbers (CSV)…")
        self.save_csv.setToolTip("The numbers this plot draws")
        self.save_image.clicked.connect(self._save_image)
        self.save_csv.clicked.connect(self._save_csv)
        row.addStretch(1)
        row.addWidget(self.save_image)
        row.addWidget(self.save_csv)
        layout.addLayout(row)

    def _save_image(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save image", f"{self.name}.png", "Images (*.png *.svg)"
        )
        if path:
            self.canvas.export_image(path)

    def _save_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save numbers", f"{self.name}.csv", "CSV (*.csv)"
        )
        if path:
            self.canvas.export_csv(path)
