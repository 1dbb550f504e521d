"""``LossCurveCanvas``: a run's training curves -- train and eval loss, learning rate, tokens per
second and gradient norm against the step, one small plot each -- painted with QPainter.

Points arrive one ``job.metrics`` notification at a time (every optimizer step) and are kept in
lists at once; the widget repaints at most ``REDRAW_MS`` apart. A matplotlib figure of these four
plots took 100 to 450 ms to draw on a laptop CPU, on the GUI thread or, drawn on a worker thread,
holding the interpreter lock for as long: the window froze at every redraw. Four line plots with
nice ticks paint in a few milliseconds. Until there is a point the widget says when the curves
will appear, instead of drawing empty axes with made-up tick labels.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QWidget

REDRAW_MS = 400
WAITING = "The curves appear with the first training step."
SERIES = ("loss", "eval_loss", "lr", "tokens_per_s", "grad_norm", "reward_chosen", "reward_rejected",
          "reward_margin", "eval_reward_margin", "reward_accuracy", "eval_reward_accuracy",
          "eval_pref_loss")  # fmt: skip
PLOTS = (  # (title, ((series, label, colour, with markers), ...)), in reading order
    ("Loss", (("loss", "train", "#d9822b", False), ("eval_loss", "eval", "#4a7ab5", True))),
    ("Learning rate", (("lr", "lr", "#6aa84f", False),)),
    ("Tokens / s", (("tokens_per_s", "tokens/s", "#a64d79", False),)),
    ("Gradient norm", (("grad_norm", "grad norm", "#888888", False),)),
)
PREFERENCE_PLOTS = (  # DPO and ORPO runs: two more, below
    ("Rewards", (("reward_chosen", "chosen", "#2e8b57", False),
                 ("reward_rejected", "rejected", "#c0392b", False),
                 ("reward_margin", "margin", "#d9822b", False),
                 ("eval_reward_margin", "eval", "#4a7ab5", True))),
    ("Reward accuracy (chosen ahead)", (("reward_accuracy", "train", "#d9822b", False),
                                        ("eval_reward_accuracy", "eval", "#4a7ab5", True))),
)  # fmt: skip


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) covering lo..hi."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, value = [], first
    while value <= hi + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def tick_text(value: float, step: float) -> str:
    if value == 0:
        return "0"
    if abs(value) < 1e-3 or abs(value) >= 1e5:
        return f"{value:.1e}".replace("e-0", "e-").replace("e+0", "e")
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    return f"{value:.{min(decimals, 6)}f}"


def span(values: list[float]) -> tuple[float, float]:
    """The range a plot shows for ``values``, with a little room above and below."""
    lo, hi = min(values), max(values)
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


class LossCurveCanvas(QWidget):
    """2x2 plots: loss (train and eval), learning rate, tokens/s, gradient norm; a preference
    run adds its rewards (chosen, rejected, margin) and reward accuracy in a third row."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(360, 260)
        self.points: dict[str, tuple[list[float], list[float]]] = {}
        self.redraws = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)
        self.clear()

    def sizeHint(self) -> QSize:
        return QSize(600, 400)

    # -- data ------------------------------------------------------------------------------

    def clear(self) -> None:
        """No points: the plots give way to a line saying when they will appear."""
        self.points = {name: ([], []) for name in SERIES}
        self.update()

    def add_metrics(self, step: int, values: dict[str, Any]) -> None:
        """Keep one step's values (a later value for the same step replaces the earlier one);
        the plots follow within ``REDRAW_MS``."""
        for name in SERIES:
            value = values.get(name)
            if value is None or not math.isfinite(float(value)):
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

    def has_data(self) -> bool:
        return any(steps for steps, _ys in self.points.values())

    def shows_curves(self) -> bool:
        """Whether the widget shows plots (False: the line saying they will come)."""
        return self.has_data()

    def line_data(self, name: str) -> tuple[list[float], list[float]]:
        """What the plot of ``name`` shows (x, y)."""
        xs, ys = self.points.get(name, ([], []))
        return [float(v) for v in xs], [float(v) for v in ys]

    def plots(self) -> tuple:
        """The plots shown: the preference ones join when a run logs rewards."""
        rewards = any(self.points[name][0] for _t, series in PREFERENCE_PLOTS for name, *_ in series)  # fmt: skip
        if not rewards:
            return PLOTS
        # a preference run's train loss is the DPO/ORPO loss: its eval line is the same loss on
        # the held-out pairs (eval_loss there is the chosen replies' cross-entropy)
        loss = ("Loss", (PLOTS[0][1][0], ("eval_pref_loss", "eval", "#4a7ab5", True)))
        return (loss, *PLOTS[1:], *PREFERENCE_PLOTS)

    def redraw(self) -> None:
        self._timer.stop()
        self.redraws += 1
        self.update()

    # -- painting --------------------------------------------------------------------------

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Window))
        fg = palette.color(QPalette.ColorRole.WindowText)
        if not self.has_data():
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, WAITING)
            return
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.8))
        painter.setFont(font)
        plots = self.plots()
        w, h = self.width() / 2, self.height() / math.ceil(len(plots) / 2)
        for index, (title, series) in enumerate(plots):
            cell = QRectF((index % 2) * w, (index // 2) * h, w, h)
            bottom = index >= len(plots) - 2
            self._plot(painter, cell.adjusted(4, 2, -6, -2), title, series, fg, bottom=bottom)

    def _plot(self, painter: QPainter, cell: QRectF, title: str, series: tuple, fg: QColor, *, bottom: bool) -> None:  # fmt: skip
        metrics = painter.fontMetrics()
        line = metrics.height()
        painter.setPen(fg)
        painter.drawText(QRectF(cell.left(), cell.top(), cell.width(), line + 2), Qt.AlignmentFlag.AlignCenter, title)  # fmt: skip
        drawn = [(name, label, colour, marks) for name, label, colour, marks in series if self.points[name][0]]  # fmt: skip
        xs = [x for name, *_ in drawn for x in self.points[name][0]]
        ys = [y for name, *_ in drawn for y in self.points[name][1]]
        if not xs:
            return
        (x0, x1), (y0, y1) = span(xs), span(ys)
        x0, x1 = (min(xs), max(xs)) if max(xs) > min(xs) else (x0, x1)
        y_ticks = nice_ticks(y0, y1)
        y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 0.0
        labels = [tick_text(v, y_step) for v in y_ticks]
        left = max(metrics.horizontalAdvance(t) for t in labels) + 8
        area = QRectF(cell.left() + left, cell.top() + line + 4, cell.width() - left,
                      cell.height() - line * (3.2 if bottom else 2.2) - 4)  # fmt: skip
        if area.width() < 20 or area.height() < 20:
            return

        def at(x: float, y: float) -> QPointF:
            return QPointF(area.left() + (x - x0) / (x1 - x0) * area.width(),
                           area.bottom() - (y - y0) / (y1 - y0) * area.height())  # fmt: skip

        faint = QColor(fg)
        faint.setAlpha(40)
        for value, text in zip(y_ticks, labels, strict=True):
            y = at(x0, value).y()
            painter.setPen(QPen(faint, 1))
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(fg)
            painter.drawText(QRectF(cell.left(), y - line / 2, left - 4, line), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)  # fmt: skip
        x_ticks = [t for t in nice_ticks(x0, x1) if float(t).is_integer()] or [x0]
        for value in x_ticks:
            x = at(value, y0).x()
            painter.drawText(QRectF(x - 30, area.bottom() + 2, 60, line), Qt.AlignmentFlag.AlignHCenter, str(int(value)))  # fmt: skip
        if bottom:
            painter.drawText(QRectF(area.left(), area.bottom() + line + 2, area.width(), line), Qt.AlignmentFlag.AlignHCenter, "step")  # fmt: skip
        painter.setPen(QPen(fg, 1))
        painter.drawRect(area)
        painter.save()
        painter.setClipRect(area.adjusted(-3, -3, 3, 3))
        for name, _label, colour, marks in drawn:
            steps, values = self.points[name]
            pen = QPen(QColor(colour), 1.6)
            painter.setPen(pen)
            path = QPainterPath(at(steps[0], values[0]))
            for x, y in zip(steps[1:], values[1:], strict=True):
                path.lineTo(at(x, y))
            painter.drawPath(path)
            if marks or len(steps) == 1:
                painter.setBrush(QColor(colour))
                for x, y in zip(steps, values, strict=True):
                    painter.drawEllipse(at(x, y), 2.5, 2.5)
                painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.restore()
        if len(series) > 1:  # a legend, top right inside the plot, in rows that fit its width
            rows: list[list[tuple]] = [[]]
            used = 0.0
            for entry in drawn:
                width = metrics.horizontalAdvance(entry[1]) + 24
                if rows[-1] and used + width > area.width() - 12:
                    rows.append([])
                    used = 0.0
                rows[-1].append(entry)
                used += width
            backdrop = QColor(self.palette().color(QPalette.ColorRole.Window))
            backdrop.setAlpha(210)  # the lines stay visible under the legend, its text readable
            for r, row in enumerate(rows):
                x = area.right() - 6
                y = area.top() + line * (r + 1)
                width = sum(metrics.horizontalAdvance(e[1]) + 24 for e in row)
                painter.fillRect(QRectF(x - width - 2, y - line + 3, width + 6, line), backdrop)
                for _name, label, colour, _marks in reversed(row):
                    x -= metrics.horizontalAdvance(label)
                    painter.setPen(fg)
                    painter.drawText(QPointF(x, y), label)
                    painter.setPen(QPen(QColor(colour), 2))
                    painter.drawLine(
                        QPointF(x - 16, y - line * 0.35), QPointF(x - 4, y - line * 0.35)
                    )
                    x -= 24
