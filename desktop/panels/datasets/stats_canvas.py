"""``StatsCanvas``: the Datasets panel's statistics as matplotlib plots on the QtAgg canvas --
rows per token length (with the median) above messages per role -- in the palette's colours."""

from __future__ import annotations

import itertools
from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QWidget


class StatsCanvas(FigureCanvasQTAgg):
    """Two plots, one above the other (the pane is narrow): rows per token length, and messages
    per role."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.figure = Figure(figsize=(3.6, 5.0), dpi=100, layout="constrained")
        super().__init__(self.figure)
        self.setParent(parent)
        self.setMinimumHeight(360)
        self.hist_ax = self.figure.add_subplot(2, 1, 1)
        self.roles_ax = self.figure.add_subplot(2, 1, 2)

    def plot(self, stats: dict[str, Any] | None, palette: QPalette) -> None:
        fg = palette.color(QPalette.ColorRole.WindowText).name()
        bg = palette.color(QPalette.ColorRole.Window).name()
        self.figure.set_facecolor(bg)
        for ax in (self.hist_ax, self.roles_ax):
            ax.clear()
            ax.set_facecolor(bg)
            ax.tick_params(colors=fg, labelsize=8)
            for spine in ax.spines.values():
                spine.set_color(fg)
        if stats:
            tokens = stats.get("tokens") or {}
            hist = tokens.get("histogram") or {}
            edges, counts = hist.get("edges") or [], hist.get("counts") or []
            if counts and len(edges) == len(counts) + 1:
                widths = [b - a for a, b in itertools.pairwise(edges)]
                self.hist_ax.bar(
                    edges[:-1], counts, width=widths, align="edge", color="#d9822b",
                    edgecolor=bg, linewidth=0.5,
                )  # fmt: skip
                median = tokens.get("median")
                if median is not None:
                    self.hist_ax.axvline(median, color=fg, linestyle="--", linewidth=1)
                    self.hist_ax.text(
                        median, max(counts) * 0.95, f" median {median:,.0f}", color=fg, fontsize=8
                    )
            exact = "" if stats.get("exact_tokens") else " (estimated)"
            self.hist_ax.set_xlabel(f"tokens per row{exact}", color=fg, fontsize=9)
            self.hist_ax.set_ylabel("rows", color=fg, fontsize=9)
            self.hist_ax.set_title("Token lengths", color=fg, fontsize=10)
            roles = stats.get("roles") or {}
            if roles:
                names = list(roles)
                self.roles_ax.bar(names, [roles[n] for n in names], color="#4a7ab5")
                self.roles_ax.set_ylabel("messages", color=fg, fontsize=9)
            else:
                self.roles_ax.text(0.5, 0.5, "no roles in this format", ha="center",
                                   va="center", color=fg, transform=self.roles_ax.transAxes)  # fmt: skip
            self.roles_ax.set_title("Messages per role", color=fg, fontsize=10)
        self.draw_idle()
