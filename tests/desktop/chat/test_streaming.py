"""Chat panel on the fake engine: streaming, figures, Ctrl+Enter, Esc, batching, errors, crash."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.errors import CancelledError, EngineCrashedError, UserFacingError
from tests.desktop.chat.conftest import send_and_wait, settle, texts
from tests.desktop.chat.fake_chat import REPLY


def last_view(panel):
    return panel.view.views[-1]


def test_send_streams_markdown_and_shows_timings(qtbot, panel):
    panel.composer.editor.setPlainText("slow hello")
    live = []
    panel.composer.send_button.click()
    qtbot.waitUntil(lambda: bool(panel.stream and panel.stream.text), timeout=5000)
    panel.stream.sig_stats.connect(lambda _s: live.append(panel.stats_label.text()))
    assert texts(panel)[0] == ("user", "slow hello")
    assert last_view(panel).state_label.text() == "[writing…]"
    with qtbot.waitSignal(panel.sig_reply_ended, timeout=10000) as ended:
        pass
    settle(qtbot, panel)
    assert isinstance(ended.args[0], dict)
    assert any("tokens/s" in t and "first token after" in t for t in live), live
    assert [role for role, _text in texts(panel)] == ["user", "assistant"]
    assert texts(panel)[1][1].strip() == REPLY.strip()
    view = last_view(panel)
    assert view.body.code_blocks == ["print('hi')"]  # the fenced block became a code frame
    assert "some" in view.body.toPlainText() and "**" not in view.body.toPlainText()
    assert view.state_label.text() == ""
    assert "42.0 tokens/s" in view.footer.text() and "first token 12 ms" in view.footer.text()
    assert panel.stats_label.text().startswith("Last reply: 42.0 tokens/s")
    assert panel.composer.send_button.isEnabled() and panel.composer.stop_button.isHidden()
    panel.open_conversation(None)  # a new chat: the last reply's speed was another chat's
    assert panel.stats_label.text() == ""


def test_ctrl_enter_sends_and_enter_adds_a_line(qtbot, panel):
    editor = panel.composer.editor
    editor.setFocus()
    qtbot.keyClicks(editor, "line one")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.keyClicks(editor, "line two")
    assert panel.stream is None and editor.toPlainText() == "line one\nline two"
    with qtbot.waitSignal(panel.sig_reply_ended, timeout=10000):
        qtbot.keyClick(editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, panel)
    assert texts(panel)[0] == ("user", "line one\nline two")
    assert editor.toPlainText() == ""
    assert panel.conversations.model.rowCount() == 1  # the first send created the conversation
    assert panel.conversations.model.conversation_at(0)["title"].startswith("line one")


def test_escape_stops_and_keeps_partial_text_marked_stopped(qtbot, panel):
    panel.composer.editor.setPlainText("slow, I will stop you")
    panel.composer.send_button.click()
    qtbot.waitUntil(lambda: len((panel.stream.text if panel.stream else "").split()) >= 3)
    panel.activateWindow()
    qtbot.waitActive(panel)
    with qtbot.waitSignal(panel.sig_reply_ended, timeout=5000) as ended:
        qtbot.keyClick(panel.composer.editor, Qt.Key.Key_Escape)
    assert isinstance(ended.args[0], CancelledError)
    settle(qtbot, panel)
    reply = panel.thread_model.messages()[-1]
    assert reply["state"] == "cancelled"
    assert 0 < len(reply["content"]) < len(REPLY)
    assert last_view(panel).state_label.text() == "[stopped]"
    assert panel.stats_label.text().startswith("Stopped")


def test_deltas_are_batched_per_frame(qtbot, panel):
    result = send_and_wait(qtbot, panel, "many tokens please")
    assert result["text"].count("x") == 400
    view = last_view(panel)
    assert view.body.toPlainText().count("x") == 400
    # 400 deltas, but the document is rebuilt about once per 33 ms frame (how long the GUI
    # thread is blocked is a timing, measured by hand, not asserted here)
    assert view.body.render_count <= 40, view.body.render_count


def test_engine_errors_show_in_the_message_bar(qtbot, panel):
    combo = panel.settings.model_combo
    combo.setCurrentIndex(combo.findData("gone-2"))
    error = send_and_wait(qtbot, panel, "hello?")
    assert isinstance(error, UserFacingError)
    assert "import it again" in panel.message.text()
    assert not [m for m in panel.thread_model.messages() if m["role"] == "assistant"]
    combo.setCurrentIndex(combo.findData("gemma-1"))
    send_and_wait(qtbot, panel, "this is too long")
    assert "shorten it" in panel.message.text()
    assert panel.message.kind == "error"


def test_invalid_json_schema_shows_the_engine_message(qtbot, panel):
    send_and_wait(qtbot, panel, "make a conversation")
    panel.settings.json_check.setChecked(True)
    panel.settings.schema_edit.setPlainText('{"type": "objekt"}')
    qtbot.waitUntil(lambda: panel.settings.schema_error.isVisible(), timeout=5000)
    assert "Invalid JSON Schema" in panel.settings.schema_error.text()
    assert "objekt" in panel.message.text()
    panel.settings.schema_edit.setPlainText('{"type": "object"}')
    qtbot.waitUntil(lambda: panel.settings.schema_error.isHidden(), timeout=5000)


def test_engine_crash_mid_stream_keeps_the_reply_marked_interrupted(qtbot, panel):
    client = panel.client
    panel.composer.editor.setPlainText("die while you write")
    with qtbot.waitSignal(panel.sig_reply_ended, timeout=10000) as ended:
        panel.composer.send_button.click()
    assert isinstance(ended.args[0], EngineCrashedError)
    reply = panel.thread_model.messages()[-1]
    assert reply["state"] == "interrupted" and reply["content"].startswith("Hello!")
    assert last_view(panel).state_label.text() == "[interrupted]"
    assert "interrupted" in panel.message.text()
    with qtbot.waitSignal(client.sig_ready, timeout=15000):
        pass
    # the engine kept the partial reply: after the restart the panel shows the stored one
    qtbot.waitUntil(lambda: not panel.thread_model.messages()[-1].get("local"), timeout=5000)
    stored = panel.thread_model.messages()[-1]
    assert stored["state"] == "interrupted" and stored["content"].startswith("Hello!")
    assert texts(panel)[0] == ("user", "die while you write")
    assert last_view(panel).state_label.text() == "[interrupted]"
    assert panel.message.text().startswith("The engine is back")
