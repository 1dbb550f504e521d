"""Pruning panel: a wizard that makes a library model smaller (MLP width, whole blocks, attention
bypass), shows what each choice costs before anything runs, measures the result against the
original, and recovers, exports or chats with it."""

from __future__ import annotations

from desktop.panels import PanelSpec, register_panel


def _build(client, parent):
    from desktop.panels.pruning.panel import PruningPanel

    return PruningPanel(client, parent)


register_panel(
    PanelSpec(
        "pruning",
        "Pruning",
        _build,
        order=50,
        tooltip="Make a model smaller: remove MLP neurons, blocks or attention; compare, recover, export",
    )
)
