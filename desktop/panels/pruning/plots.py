"""The pruning wizard's plots, on matplotlib's QtAgg canvas (imported when the page is first shown).

``ScoresCanvas``: one bar per block. Width: the share of the block's neuron score that goes (the
same number of neurons goes from every block, so the bar says how much of what the block does is
lost). Depth and attention: the block's score, the bars that go in red, protected blocks hatched.

``FrontierCanvas``: perplexity against parameters for every pruning of one parent, the parent as
a star, one marker per method, the selected run ringed; perplexity on a log axis, since one bad
pruning can be a hundred times worse than the rest.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QWidget

from desktop.plot_canvas import ThemedCanvas

KEEP = "#4a7ab5"
GONE = "#c0392b"
MARKERS = {"width": ("o", "#d9822b"), "depth": ("s", "#4a7ab5"), "attention": ("^", "#6aa84f")}


class _Canvas(ThemedCanvas):
    def __init__(self, parent: QWidget | None, size: tuple[float, float]) -> None:
        super().__init__(parent, size)
        self.setMinimumSize(320, 220)


class ScoresCanvas(_Canvas):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, (6.0, 3.0))
        self.plan: dict[str, Any] | None = None

    def show_plan(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        ax = self.ax
        ax.clear()
        layers = plan.get("layers") or []
        xs = [row["index"] for row in layers]
        if plan["method"] == "width":
            ys = [100 * float(row["score"] or 0) for row in layers]
            ax.bar(xs, ys, color=GONE, label="share of the block's neuron score removed")
            self._style(f"{plan['width_before']} → {plan['width_after']} neurons in every block ({plan['selector']})",
                        "block", "score removed (%)")  # fmt: skip
        else:
            ys = [float(row["score"]) if row.get("score") is not None else 0.0 for row in layers]
            colors = [GONE if row["removed"] else KEEP for row in layers]
            bars = ax.bar(xs, ys, color=colors)
            for bar, row in zip(bars, layers, strict=True):
                if row.get("protected"):
                    bar.set_hatch("//")
                    bar.set_edgecolor(self.fg)
            what = "blocks" if plan["method"] == "depth" else "attention modules"
            gone = sum(1 for row in layers if row["removed"])
            ylabel = {"influence": "1 − cos(in, out)", "perplexity": "loss with the block skipped",
                      "cosine": "1 − cos(residual, residual + attention)",
                      "iterative": "1 − cos(residual, residual + attention)",
                      "adaptive": "1 − cos(residual, residual + attention)"}.get(plan["selector"], "score")  # fmt: skip
            if all(row.get("score") is None for row in layers):
                ylabel = "(chosen by position)"
            self._style(f"{gone} of {len(layers)} {what} removed (red), by {plan['selector']}", "block", ylabel)  # fmt: skip
            from matplotlib.patches import Patch

            handles = [Patch(color=KEEP, label="kept"), Patch(color=GONE, label="removed")]
            if any(row.get("protected") for row in layers):
                handles.append(Patch(facecolor=KEEP, hatch="//", edgecolor=self.fg, label="always kept"))  # fmt: skip
            ax.legend(handles=handles, fontsize=8, facecolor=self.bg, labelcolor=self.fg)
        ax.set_xticks(xs)
        types = plan.get("layer_types")
        if types and len(types) == len(xs):  # Gemma 3: mark the global (full attention) layers
            ax.set_xticklabels([f"{i}*" if types[i] == "full_attention" else str(i) for i in xs])
            ax.set_xlabel(
                "block (* = global attention, the rest sliding window)", color=self.fg, fontsize=9
            )
        self.draw_idle()


class FrontierCanvas(_Canvas):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, (5.0, 3.2))

    def show_runs(self, runs: list[dict[str, Any]], selected: str | None) -> None:
        ax = self.ax
        ax.clear()
        parent = None
        seen: set[str] = set()
        for run in runs:
            res = run.get("result") or {}
            if res.get("ppl_after") is None:
                continue
            method = run["request"]["method"]
            marker, color = MARKERS.get(method, ("o", "#888888"))
            ax.scatter([res["params_after"] / 1e6], [res["ppl_after"]], marker=marker, color=color,
                       s=90 if run["id"] == selected else 40, edgecolors=self.fg if run["id"] == selected else "none",
                       linewidths=1.5, label=method if method not in seen else None, zorder=3)  # fmt: skip
            seen.add(method)
            for rec in run.get("recoveries") or []:
                if rec.get("heldout_ppl"):  # measured on the same held-out text
                    ax.scatter([res["params_after"] / 1e6], [rec["heldout_ppl"]], marker="P", color=color,
                               s=60, label="recovered" if "recovered" not in seen else None, zorder=3)  # fmt: skip
                    seen.add("recovered")
            parent = parent or (res["params_before"], res["ppl_before"])
        if parent is not None:
            ax.scatter([parent[0] / 1e6], [parent[1]], marker="*", color=self.fg, s=140, label="original", zorder=4)  # fmt: skip
            ax.set_yscale("log")
            from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.legend(fontsize=8, facecolor=self.bg, labelcolor=self.fg)
        self._style("Prunings of this model (lower left is better)", "parameters (millions)", "held-out perplexity (log scale)")  # fmt: skip
        self.draw_idle()
