"""Evaluate panel: compare any library models on your own data, offline: answers scored by the
reference metrics with confidence intervals, multiple choice by log-likelihood, perplexity, the
rows where models differ, and a leaderboard of every run on the same data."""

from __future__ import annotations

from desktop.panels import PanelSpec, register_panel


def _build(client, parent):
    from desktop.panels.evaluate.panel import EvaluatePanel

    return EvaluatePanel(client, parent)


register_panel(
    PanelSpec(
        "evaluate",
        "Evaluate",
        _build,
        order=58,
        tooltip="Compare models on your data: answer metrics, multiple choice, perplexity, leaderboard",
    )
)
