"""Chat panel: stored conversations, streamed Markdown replies with live speed figures, Stop,
Regenerate, edit-and-resend with branch arrows, model / system prompt / sampling / template /
JSON-mode settings, a context meter, and export to Markdown or JSON."""

from __future__ import annotations

from desktop.panels import PanelSpec, register_panel


def _build(client, parent):
    from desktop.panels.chat.panel import ChatPanel

    return ChatPanel(client, parent)


register_panel(PanelSpec("chat", "Chat", _build, order=10, tooltip="Talk to a local model"))
