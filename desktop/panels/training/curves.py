"""``LossCurveCanvas``: a run's training curves on the QtAgg canvas -- train and eval loss,
learning rate, tokens per second and gradient norm against the step, one small plot each.

Points arrive one ``job.metrics`` notification at a time (every optimizer step); they are kept
in lists at once and drawn by a timer at most ``REDRAW_MS`` apart, so a fast run costs a few
redraws a second, not one per step.
"""

from __future__ import annotations

from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PySide6.QtCore import QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QWidget

REDRAW_MS = 400
WAITING = "The curves appear with the first training step."
SERIES = ("loss", "eval_loss", "lr", "tokens_per_s", "grad_norm")


class LossCurveCanvas(FigureCanvasQTAgg):
    """2x2 plots: loss (train and eval), learning rate, tokens/s, gradient norm."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.figure = Figure(figsize=(6.0, 4.0), dpi=100, layout="constrained")
        super().__init__(self.figure)
        self.setParent(parent)
        self.setMinimumSize(360, 260)
        axes = self.figure.subplots(2, 2)
        self.loss_ax, self.lr_ax = axes[0]
        self.speed_ax, self.grad_ax = axes[1]
        self.points: dict[str, tuple[list[float], list[float]]] = {}
        self.lines: dict[str, Any] = {}
        self.redraws = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)
        self._style(self.palette())
        self.waiting = self.figure.text(0.5, 0.5, WAITING, ha="center", va="center",
                                        color=self.fg, fontsize=10, alpha=0.7)  # fmt: skip
        self.clear()

    def _style(self, palette: QPalette) -> None:
        self.fg = palette.color(QPalette.ColorRole.WindowText).name()
        self.bg = palette.color(QPalette.ColorRole.Window).name()
        self.figure.set_facecolor(self.bg)

    def clear(self) -> None:
        """No points: the plots hidden behind a line saying when they will appear."""
        self.points = {name: ([], []) for name in SERIES}
        self.lines = {}
        specs = (
            (self.loss_ax, "Loss", (("loss", "train", "#d9822b", ""), ("eval_loss", "eval", "#4a7ab5", "o"))),
            (self.lr_ax, "Learning rate", (("lr", "lr", "#6aa84f", ""),)),
            (self.speed_ax, "Tokens / s", (("tokens_per_s", "tokens/s", "#a64d79", ""),)),
            (self.grad_ax, "Gradient norm", (("grad_norm", "grad norm", "#888888", ""),)),
        )  # fmt: skip
        for ax, title, series in specs:
            ax.clear()
            ax.set_facecolor(self.bg)
            ax.tick_params(colors=self.fg, labelsize=7)
            for spine in ax.spines.values():
                spine.set_color(self.fg)
            ax.set_title(title, color=self.fg, fontsize=9)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            for name, label, colour, marker in series:
                (self.lines[name],) = ax.plot([], [], color=colour, marker=marker, markersize=3,
                                              linewidth=1.4, label=label)  # fmt: skip
        self.loss_ax.legend(fontsize=7, loc="upper right")
        self.lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        self.lr_ax.yaxis.get_offset_text().set_color(self.fg)
        self.lr_ax.yaxis.get_offset_text().set_fontsize(7)
        self.speed_ax.set_xlabel("step", color=self.fg, fontsize=8)
        self.grad_ax.set_xlabel("step", color=self.fg, fontsize=8)
        self._show_axes(False)  # no axes (and no made-up tick labels) until there is data
        self.draw_idle()

    def _show_axes(self, shown: bool) -> None:
        for ax in (self.loss_ax, self.lr_ax, self.speed_ax, self.grad_ax):
            ax.set_visible(shown)
        self.waiting.set_visible(not shown)

    def has_data(self) -> bool:
        return any(steps for steps, _ys in self.points.values())

    def add_metrics(self, step: int, values: dict[str, Any]) -> None:
        """Keep one step's values (a later value for the same step replaces the earlier one);
        the plots follow within ``REDRAW_MS``."""
        for name in SERIES:
            value = values.get(name)
            if value is None:
                continue
            steps, ys = self.points[name]
            if steps and steps[-1] >= step:
                if steps[-1] == step:
                    ys[-1] = float(value)
                    continue
                # an older step (a resumed run replays from its checkpoint): keep order
                cut = next(i for i, s in enumerate(steps) if s >= step)
                del steps[cut:], ys[cut:]
            steps.append(step)
            ys.append(float(value))
        if not self._timer.isActive():
            self._timer.start()

    def set_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Replace every point with ``train.metrics`` rows and draw now."""
        self.points = {name: ([], []) for name in SERIES}
        for row in rows:
            self.add_metrics(int(row.get("step") or 0), row)
        self.redraw()

    def line_data(self, name: str) -> tuple[list[float], list[float]]:
        """What the plot of ``name`` shows now (x, y)."""
        x, y = self.lines[name].get_data()
        return [float(v) for v in x], [float(v) for v in y]

    def redraw(self) -> None:
        self._timer.stop()
        self.redraws += 1
        for name, (steps, ys) in self.points.items():
            self.lines[name].set_data(steps, ys)
        for ax in (self.loss_ax, self.lr_ax, self.speed_ax, self.grad_ax):
            ax.relim()
            ax.autoscale_view()
        self._show_axes(self.has_data())
        self.draw_idle()
