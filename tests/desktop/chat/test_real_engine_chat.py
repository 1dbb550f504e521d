"""The Chat panel on the real engine: "Hello" to the bundled Gemma streams a short reply."""

from __future__ import annotations

from desktop.panels.chat.panel import ChatPanel


def test_bundled_gemma_streams_a_reply(qtbot, make_client):
    # HEARTH_SKIP_BUNDLED only skips registering the bundled models at start; a chat with no
    # model chosen uses the bundled Gemma, which the engine prepares on first use.
    client = make_client(real=True)
    panel = ChatPanel(client)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.settings.model_combo.count() > 0, timeout=10000)
    panel.settings.spins["max_tokens"].setValue(8)
    panel.settings.spins["seed"].setValue(7)
    frames = []
    show_text = panel._on_stream_text  # what the reply's frame timer feeds
    panel._on_stream_text = lambda text: (frames.append(text), show_text(text))
    panel.composer.editor.setPlainText("Hello")
    with qtbot.waitSignal(panel.sig_reply_ended, timeout=120000) as ended:
        panel.composer.send_button.click()
    result = ended.args[0]
    assert isinstance(result, dict), result
    assert result["text"].strip() and result["usage"]["completion_tokens"] <= 8
    assert frames and frames[-1] == result["text"]  # it streamed, and the pieces add up
    qtbot.waitUntil(lambda: not panel.thread_model.messages()[-1].get("local"), timeout=10000)
    reply = panel.thread_model.messages()[-1]
    assert reply["role"] == "assistant" and reply["state"] == "complete"
    assert reply["content"] == result["text"]
    assert "tokens/s" in panel.view.views[-1].footer.text()
