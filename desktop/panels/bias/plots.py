"""The bias panel's plots, on the shared ``PlotCanvas``: each shows its value under the mouse,
reports clicks on a cell or point (to drill down), saves itself as PNG or SVG, and gives the
numbers it draws as CSV rows, so an exported table is exactly what the picture shows.

- ``HeatmapCanvas``: a labelled matrix (component x layer, token x layer, or a difference map with
  a diverging colour scale centred on zero); rows can be marked (differing tokens in bold red).
- ``NeuronsCanvas``: the top neurons of a layer as horizontal bars, with each category's score.
- ``PcaCanvas``: both prompts' tokens on two principal components, an arrow from each token of
  prompt A to the matching token of prompt B, differing tokens labelled in red.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QWidget

from desktop.plot_canvas import PlotCanvas

A_COLOUR = "#2f6db5"
B_COLOUR = "#d9822b"
DIFFER = "#c0392b"


class HeatmapCanvas(PlotCanvas):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.matrix: list[list[float]] = []
        self.row_labels: list[str] = []
        self.col_labels: list[str] = []

    def show_matrix(self, matrix: list[list[float]], row_labels: list[str], col_labels: list[str],
                    *, title: str, xlabel: str, ylabel: str, marked: list[bool] | None = None,
                    diverging: bool = False, per_row: bool = False,
                    colour_label: str = "mean |a − b|") -> None:  # fmt: skip
        """``per_row``: colour each row on its own scale (components differ in magnitude by orders);
        the hover and the CSV always show the raw values."""
        import numpy as np

        self._reset()
        self.matrix, self.row_labels, self.col_labels = matrix, row_labels, col_labels
        data = np.array(matrix, dtype=float) if matrix else np.zeros((0, 0))
        shown = data
        if per_row and data.size:
            peak = np.abs(data).max(1, keepdims=True)
            shown = data / np.where(peak > 0, peak, 1)
        if diverging:
            limit = float(np.abs(shown).max()) if shown.size else 1.0
            image = self.ax.imshow(shown, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                                   interpolation="nearest")  # fmt: skip
        else:
            image = self.ax.imshow(shown, aspect="auto", cmap="viridis", interpolation="nearest")
        bar = self.figure.colorbar(image, ax=self.ax, fraction=0.04, pad=0.02)
        bar.set_label(colour_label + (" (each row scaled to its largest)" if per_row else ""),
                      color=self.fg, fontsize=8)  # fmt: skip
        bar.ax.tick_params(colors=self.fg, labelsize=7)
        self.ax.set_xticks(range(len(col_labels)), col_labels, rotation=0)
        self.ax.set_yticks(range(len(row_labels)), row_labels)
        self._style(title, xlabel, ylabel)
        for label, mark in zip(self.ax.get_yticklabels(), marked or [], strict=False):
            if mark:
                label.set_color(DIFFER)
                label.set_fontweight("bold")
        self.header = [ylabel, *col_labels]
        self.rows = [
            [r, *[f"{v:.6g}" for v in row]] for r, row in zip(row_labels, matrix, strict=True)
        ]
        self.draw_idle()

    def _index(self, x: float, y: float) -> tuple[int, int] | None:
        r, c = round(y), round(x)
        if 0 <= r < len(self.matrix) and 0 <= c < len(self.matrix[r]):
            return r, c
        return None

    def value_at(self, x: float, y: float) -> str | None:
        cell = self._index(x, y)
        if cell is None:
            return None
        r, c = cell
        return f"{self.row_labels[r]}, {self.col_labels[c]}: {self.matrix[r][c]:.5g}"

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        return self._index(x, y)


class NeuronsCanvas(PlotCanvas):
    def show_neurons(self, view: dict[str, Any]) -> None:
        self._reset()
        self.view = view
        names = [f"#{n}" for n in view["neurons"]]
        ys = list(range(len(names)))
        self.ax.barh(ys, view["scores"], color="#b8c2cf", label="all pairs")
        cats = list(view["by_category"])
        for k, cat in enumerate(cats):
            self.ax.scatter(view["by_category"][cat], ys, s=14, zorder=3,
                            label=cat, marker="os^Dv<>"[k % 7])  # fmt: skip
        self.ax.set_yticks(ys, names)
        self.ax.invert_yaxis()
        self._style(f"Top {len(names)} of {view['width']} neurons: {view['component']}, layer {view['layer']}",
                    "token-pooled |a − b| (bars: all pairs; marks: each category)", "neuron")  # fmt: skip
        legend = self.ax.legend(fontsize=7, loc="lower right", facecolor=self.bg)
        for text in legend.get_texts():
            text.set_color(self.fg)
        self.header = ["neuron", "all pairs", *cats]
        self.rows = [[n, f"{s:.6g}", *[f"{view['by_category'][c][i]:.6g}" for c in cats]]
                     for i, (n, s) in enumerate(zip(view["neurons"], view["scores"], strict=True))]  # fmt: skip
        self.draw_idle()

    def value_at(self, x: float, y: float) -> str | None:
        i = round(y)
        view = getattr(self, "view", None)
        if view is None or not 0 <= i < len(view["neurons"]):
            return None
        return f"neuron {view['neurons'][i]}: {view['scores'][i]:.5g}"

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        view = getattr(self, "view", None)
        i = round(y)
        return (i, 0) if view is not None and 0 <= i < len(view["neurons"]) else None


class PcaCanvas(PlotCanvas):
    def show_pca(self, view: dict[str, Any]) -> None:
        self._reset()
        self.view = view
        a, b = view["a"], view["b"]
        placed = lambda p: p is not None  # noqa: E731 -- None: a BOS left out of the fit
        ax = self.ax
        ax.scatter([p[0] for p in a if placed(p)], [p[1] for p in a if placed(p)], color=A_COLOUR, s=22, label="prompt A", zorder=3)  # fmt: skip
        ax.scatter([p[0] for p in b if placed(p)], [p[1] for p in b if placed(p)], color=B_COLOUR, s=22, label="prompt B", zorder=3)  # fmt: skip
        for row in view["rows"]:
            if not all(placed(a[i]) for i in row["a"]) or not all(placed(b[i]) for i in row["b"]):
                continue
            pa = [sum(a[i][k] for i in row["a"]) / len(row["a"]) for k in (0, 1)]
            pb = [sum(b[i][k] for i in row["b"]) / len(row["b"]) for k in (0, 1)]
            colour = DIFFER if row["differs"] else "#999999"
            ax.annotate("", pb, pa, arrowprops={"arrowstyle": "->", "color": colour, "lw": 0.8})
            label = "".join(view["tokens_a"][i] for i in row["a"]).replace("▁", " ").strip()
            if row["differs"]:
                other = "".join(view["tokens_b"][i] for i in row["b"]).replace("▁", " ").strip()
                label = f"{label} / {other}"
            ax.annotate(label[:18], pa, fontsize=7, color=DIFFER if row["differs"] else self.fg,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
        ev = view["explained"]
        self._style(f"Tokens of both prompts, {view['component']}, layer {view['layer']}",
                    f"PC1 ({ev[0]:.0%} of the variance)", f"PC2 ({ev[1]:.0%})")  # fmt: skip
        legend = ax.legend(fontsize=7, facecolor=self.bg)
        for text in legend.get_texts():
            text.set_color(self.fg)
        self.points = [("A", t, p) for t, p in zip(view["tokens_a"], a, strict=True)] + [
            ("B", t, p) for t, p in zip(view["tokens_b"], b, strict=True)
        ]
        self.header = ["prompt", "position", "token", "pc1", "pc2"]
        self.rows = [[side, i if side == "A" else i - len(a), tok,
                      *(["", ""] if p is None else [f"{p[0]:.6g}", f"{p[1]:.6g}"])]
                     for i, (side, tok, p) in enumerate(self.points)]  # fmt: skip
        self.draw_idle()

    def _nearest(self, x: float, y: float) -> int | None:
        points = getattr(self, "points", [])
        if not points:
            return None
        xl, yl = self.ax.get_xlim(), self.ax.get_ylim()
        sx, sy = (xl[1] - xl[0]) or 1, (yl[1] - yl[0]) or 1
        dist = [((p[0] - x) / sx) ** 2 + ((p[1] - y) / sy) ** 2 if p is not None else 1e9
                for _s, _t, p in points]  # fmt: skip
        i = min(range(len(dist)), key=dist.__getitem__)
        return i if dist[i] < 0.002 else None

    def value_at(self, x: float, y: float) -> str | None:
        i = self._nearest(x, y)
        if i is None:
            return None
        side, tok, p = self.points[i]
        return f"{side}: {tok!r} ({p[0]:.3g}, {p[1]:.3g})"

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        i = self._nearest(x, y)
        return None if i is None else (i, 0)
