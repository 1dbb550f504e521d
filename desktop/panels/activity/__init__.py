"""Activity panel: every job with its progress, log and failure reason; cancel and resume."""

from __future__ import annotations

from desktop.panels import PanelSpec, register_panel


def _build(client, parent):
    from desktop.panels.activity.panel import ActivityPanel

    return ActivityPanel(client, parent)


register_panel(
    PanelSpec(
        "activity", "Activity", _build, order=90, tooltip="Jobs: progress, logs, cancel, resume"
    )
)
