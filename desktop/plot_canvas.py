"""The matplotlib canvas every panel's plots start from: a figure in the window's colours and one
axes styled the same way (title, axis labels, ticks and frame in the text colour)."""

from __future__ import annotations

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QWidget


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
