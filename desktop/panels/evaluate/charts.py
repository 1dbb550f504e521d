"""``MetricBars``: one metric of every model of an evaluation as bars with their 95% bootstrap
intervals as error bars. The value under the mouse shows as a tooltip, a click on a bar reports
that model (the panel then shows its rows), and the CSV holds exactly the drawn numbers."""

from __future__ import annotations

from typing import Any

from desktop.plot_canvas import PlotCanvas

COLOURS = ("#2f6db5", "#d9822b", "#3a9d5d", "#8e5cb5", "#c0392b", "#6d6d6d")
HIGHER_IS_WORSE = {"perplexity"}
RATINGS = {"elo", "bradley_terry"}


class MetricBars(PlotCanvas):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.names: list[str] = []
        self.values: list[dict[str, float]] = []
        self.metric_name = ""

    def show_metric(self, metric: str, names: list[str], values: list[dict[str, float]], *,
                    title: str) -> None:  # fmt: skip
        """``values``: ``{value, ci_low, ci_high}`` per model, in ``names``' order."""
        self._reset()
        self.metric_name, self.names, self.values = metric, names, values
        ys = [v["value"] for v in values]
        low = [v["value"] - v["ci_low"] for v in values]
        high = [v["ci_high"] - v["value"] for v in values]
        colours = [COLOURS[i % len(COLOURS)] for i in range(len(names))]
        bars = self.ax.bar(range(len(names)), ys, color=colours, yerr=[low, high], capsize=6,
                           error_kw={"ecolor": self.fg, "elinewidth": 1})  # fmt: skip
        self.ax.bar_label(
            bars, labels=[f"{y:.3g}" for y in ys], padding=3, color=self.fg, fontsize=8
        )
        top = max([v["ci_high"] for v in values] + [v["value"] for v in values] + [0.0])
        if metric in RATINGS:  # ratings centred on 1000: a zero baseline would hide the gaps
            low_end = min(v["ci_low"] for v in values) if values else 900.0
            self.ax.set_ylim(low_end - 100, top + 100)
        else:  # every other metric here is >= 0
            self.ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
        self.ax.set_xticks(range(len(names)), [_short(n) for n in names], rotation=12, ha="right")
        better = "lower is better" if metric in HIGHER_IS_WORSE else "higher is better"
        spread = any(v["ci_low"] != v["ci_high"] for v in values)
        self._style(
            title, "model", f"{metric} ({better}" + ("; whiskers: 95% interval)" if spread else ")")
        )
        self.header = ["model", metric, "ci_low", "ci_high"]
        self.rows = [[n, v["value"], v["ci_low"], v["ci_high"]] for n, v in zip(names, values, strict=True)]  # fmt: skip
        self.draw_idle()

    def _index(self, x: float) -> int | None:
        i = round(x)
        return i if 0 <= i < len(self.names) and abs(x - i) <= 0.4 else None

    def value_at(self, x: float, y: float) -> str | None:
        i = self._index(x)
        if i is None:
            return None
        v = self.values[i]
        return f"{self.names[i]}\n{self.metric_name} {v['value']:.4g} [{v['ci_low']:.4g}, {v['ci_high']:.4g}]"

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        i = self._index(x)
        return None if i is None else (i, 0)


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
