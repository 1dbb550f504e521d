"""Markdown rendering and the figures shown around a reply, without an engine."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from desktop.panels.chat.figures import live_text, meter_text, result_text
from desktop.panels.chat.markdown import split_fences, stable_prefix
from desktop.panels.chat.message_view import MessageView

TEXT = "Intro **bold**.\n\n```python\nprint(1)\n```\n\n- a\n- b\n\n~~~\nraw\n~~~\n"


def test_fences_split_prose_from_code():
    kinds = [(s.kind, s.lang) for s in split_fences(TEXT)]
    assert kinds == [("text", ""), ("code", "python"), ("text", ""), ("code", "")]
    assert split_fences("x\n```js\nstill streaming")[-1].text == "still streaming"


def test_stable_prefix_stops_before_the_growing_part():
    assert stable_prefix("one paragraph, still growing") == 0
    assert stable_prefix("done.\n\nnext") == len("done.\n\n")
    growing = "a\n\n```\ncode\n\nmore code"
    assert stable_prefix(growing) == len("a\n\n")  # a blank line inside code is not a boundary


def test_code_blocks_are_framed_with_a_copy_link(qtbot):
    view = MessageView({"id": "m", "role": "assistant", "content": TEXT, "state": "complete"})
    qtbot.addWidget(view)
    body = view.body
    assert body.code_blocks == ["print(1)", "raw"]
    assert body.document().rootFrame().childFrames()  # code sits in shaded frames
    text = body.toPlainText()
    assert "**" not in text and "```" not in text and "Copy" in text
    body.anchorClicked.emit(QUrl("copy-code:1"))
    assert QGuiApplication.clipboard().text() == "raw"
    view.copy_button.click()
    assert QGuiApplication.clipboard().text() == TEXT


def test_code_blocks_follow_a_light_dark_switch(qtbot):
    view = MessageView({"id": "m", "role": "assistant", "content": TEXT})
    qtbot.addWidget(view)

    def code_background():
        frame = view.body.document().rootFrame().childFrames()[0]
        return frame.frameFormat().background().color().lightness()

    light = code_background()
    original = QGuiApplication.palette()
    dark = QPalette(original)
    for role, color in ((QPalette.ColorRole.Base, "#1e1e1e"), (QPalette.ColorRole.Text, "#eeeeee")):
        dark.setColor(role, QColor(color))
    try:
        QApplication.setPalette(dark)
        qtbot.waitUntil(lambda: code_background() < 100, timeout=2000)
    finally:
        QApplication.setPalette(original)
    assert light > 200


def test_streamed_rendering_ends_like_a_full_one(qtbot):
    full = MessageView({"id": "a", "role": "assistant", "content": TEXT})
    streamed = MessageView({"id": "b", "role": "assistant", "content": "", "state": "streaming"})
    qtbot.addWidget(full)
    qtbot.addWidget(streamed)
    for end in range(1, len(TEXT) + 1, 3):
        streamed.set_message({**streamed.message, "content": TEXT[:end]})
    streamed.set_message({**streamed.message, "content": TEXT, "state": "complete"})
    assert streamed.body.toPlainText() == full.body.toPlainText()
    assert streamed.body.code_blocks == full.body.code_blocks


def test_states_are_marked(qtbot):
    view = MessageView({"id": "m", "role": "assistant", "content": "par", "state": "interrupted"})
    qtbot.addWidget(view)
    assert view.state_label.text() == "[interrupted]"
    view.set_message({**view.message, "state": "cancelled"})
    assert view.state_label.text() == "[stopped]"
    view.set_message({**view.message, "state": "error", "metadata": {"error": "No memory."}})
    assert view.footer.text().startswith("Error: No memory.")


def test_figures():
    assert live_text({}) == "Writing · waiting for the first token"
    assert live_text({"tokens": 5, "ttft_ms": 240.4, "tokens_per_s": 12.25}) == (
        "Writing · 12.2 tokens/s · first token after 240 ms · 5 tokens"
    )
    result = {
        "timings": {"ttft_ms": 81, "tokens_per_s": 30.0, "load_ms": 1500},
        "usage": {"completion_tokens": 8},
        "runtime": "llama_cpp",
        "device": "cpu",
        "finish_reason": "length",
        "truncated": {"dropped_messages": 2},
    }
    assert result_text(result) == (
        "30.0 tokens/s · first token 81 ms · load 1.5 s · 8 tokens · llama_cpp on cpu"
        " · stopped at the max tokens limit · 2 older messages left out to fit"
    )
    figure, note = meter_text(
        {
            "used": 3000,
            "available": 4096,
            "reserved": 512,
            "fits": True,
            "truncated": {"dropped_messages": 3, "dropped_tokens": 900},
        }
    )
    assert figure == "3,000 / 4,096 tokens" and note.startswith("Over the window: the 3 oldest")
    figure, note = meter_text(
        {
            "used": 900,
            "available": 4096,
            "reserved": 512,
            "fits": True,
            "documents": {"tokens": 430, "k": 5, "names": ["Manuals"]},
        }
    )
    assert figure == "900 / 4,096 tokens" and note.startswith("Everything fits")
    assert "up to about 430 tokens of sources from Manuals (5 passages)" in note
