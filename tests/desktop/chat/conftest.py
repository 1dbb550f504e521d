"""Fixtures for the Chat panel tests: a shown ``ChatPanel`` on the fake engine, and helpers that
wait for what a user would wait for (a reply to end, the conversation list to load)."""

from __future__ import annotations

import pytest

from desktop.panels.chat.panel import ChatPanel


@pytest.fixture
def panel(qtbot, make_client):
    client = make_client()
    widget = ChatPanel(client)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.settings.model_combo.count() > 0, timeout=5000)
    return widget


def send_and_wait(qtbot, panel, text: str, timeout: int = 10000):
    """Type ``text``, send it, and wait for the reply to end; returns what it ended with."""
    panel.composer.editor.setPlainText(text)
    with qtbot.waitSignal(panel.sig_reply_ended, timeout=timeout) as blocker:
        panel.composer.send_button.click()
    settle(qtbot, panel)
    return blocker.args[0]


def settle(qtbot, panel) -> None:
    """Wait until the reloaded branch has replaced the rows made before the engine answered."""
    qtbot.waitUntil(
        lambda: all(not m.get("local") for m in panel.thread_model.messages()), timeout=5000
    )


def texts(panel) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in panel.thread_model.messages()]
