"""Datasets panel: import files and chats as datasets, browse millions of rows lazily, search,
edit, preview rows with a model's chat template, clean (filter, dedup, PII, contamination),
generate, split, export with a dataset card, and undo any step from the version history."""

from __future__ import annotations

from desktop.panels import PanelSpec, register_panel


def _build(client, parent):
    from desktop.panels.datasets.panel import DatasetsPanel

    return DatasetsPanel(client, parent)


register_panel(
    PanelSpec(
        "datasets",
        "Datasets",
        _build,
        order=30,
        tooltip="Training data: import, inspect, clean, generate, split, export",
    )
)
