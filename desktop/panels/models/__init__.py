"""Models panel: the model library — import (dialog or drag and drop), details, rename, remove, convert."""

from __future__ import annotations

from desktop.panels import PanelSpec, register_panel


def _build(client, parent):
    from desktop.panels.models.panel import ModelsPanel

    return ModelsPanel(client, parent)


register_panel(
    PanelSpec("models", "Models", _build, order=80, tooltip="GGUF files and Hugging Face folders")
)
