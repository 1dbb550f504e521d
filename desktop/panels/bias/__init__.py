"""Bias panel: contrastive activation maps of prompt pairs, model comparison and bias-targeted
pruning with a random control, all drawn from one stored capture per model and set."""

from __future__ import annotations

from desktop.panels import PanelSpec, register_panel


def _build(client, parent):
    from desktop.panels.bias.panel import BiasPanel

    return BiasPanel(client, parent)


register_panel(
    PanelSpec(
        "bias",
        "Bias",
        _build,
        order=55,
        tooltip="Compare a model's activations on prompt pairs that differ only in a group word",
    )
)
