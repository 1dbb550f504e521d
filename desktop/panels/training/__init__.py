"""Training panel: fine-tune a library model on a dataset (LoRA, DoRA, QLoRA or full) with a form
built from the engine's option metadata, a memory plan before starting, live loss curves and
sample answers while it trains, and evaluate / merge / export / chat once it is done."""

from __future__ import annotations

from desktop.panels import PanelSpec, register_panel


def _build(client, parent):
    from desktop.panels.training.panel import TrainingPanel

    return TrainingPanel(client, parent)


register_panel(
    PanelSpec(
        "training",
        "Training",
        _build,
        order=40,
        tooltip="Fine-tune a model on a dataset: plan, train, watch the curves, evaluate, export",
    )
)
