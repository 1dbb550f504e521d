"""Collections attached in Chat (fake engine): the question goes to ``docs.ask``, the reply's
``[n]`` marks are links, a click opens the source viewer on the cited span; the choice and the
answer stay with the conversation; detached, Chat talks to the model again."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QUrl

from desktop.panels.chat.panel import ChatPanel
from tests.desktop.documents.conftest import BEES, VOLCANOES


def wait_call(qtbot, client, method: str, params: dict) -> dict:
    got: dict = {}
    client.call(method, params).on_success(lambda r: got.update(r=r))
    qtbot.waitUntil(lambda: "r" in got, timeout=5000)
    return got["r"]


@pytest.fixture
def chat(qtbot, make_client, tmp_path):
    client = make_client()
    (tmp_path / "bees.md").write_text(BEES)
    (tmp_path / "volcanoes.txt").write_text(VOLCANOES)
    wait_call(qtbot, client, "docs.create", {"name": "Nature"})
    with qtbot.waitSignal(
        client.sig_job_progress, timeout=5000, check_params_cb=lambda p: p["kind"] == "end"
    ):
        client.call("docs.ingest", {"id": "Nature", "paths": [str(tmp_path)]})
    panel = make_panel(qtbot, client)
    qtbot.waitUntil(lambda: panel.documents.picker.collections != [], timeout=5000)
    return panel


def make_panel(qtbot, client) -> ChatPanel:
    panel = ChatPanel(client)
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.waitUntil(lambda: panel.settings.model_combo.count() > 0, timeout=5000)
    return panel


def attach(panel, name: str) -> None:
    """Tick a collection in the header's Documents menu."""
    picker = panel.documents.picker
    action = next(a for a in picker.menu().actions() if a.text() == name)
    action.trigger()


def ask(qtbot, panel, text: str):
    panel.composer.editor.setPlainText(text)
    with qtbot.waitSignal(panel.documents.sig_answered, timeout=10000) as answered:
        panel.composer.send_button.click()
    return answered.args[0]


def citation_links(view) -> list[str]:
    """The hrefs of the links in a message's rendered text."""
    hrefs = []
    block = view.body.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            href = it.fragment().charFormat().anchorHref()
            if href:
                hrefs.append(href)
            it += 1
        block = block.next()
    return hrefs


def test_answer_with_citations_opens_the_source_passage(qtbot, chat):
    panel = chat
    attach(panel, "Nature")
    assert panel.documents.picker.text() == "Documents: Nature"
    assert panel.documents.note.isVisible() and "Nature" in panel.documents.note.text()
    result = ask(qtbot, panel, "What does the queen bee do?")
    assert isinstance(result, dict) and result["citations"], result
    assert "[1]" in result["text"]
    messages = panel.thread_model.messages()
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["state"] == "complete"
    assert "**Sources**" in messages[1]["content"]
    view = panel.view.views[-1]
    links = citation_links(view)
    assert "cite:1" in links  # [1] in the text and in the Sources list are links
    assert "answered from documents" in panel.stats_label.text()

    with qtbot.waitSignal(panel.documents.sig_viewer_opened, timeout=3000) as opened:
        view.body.anchorClicked.emit(QUrl("cite:1"))  # what a click on the link sends
    viewer = opened.args[0]
    qtbot.addWidget(viewer)
    qtbot.waitUntil(lambda: viewer.passage is not None, timeout=5000)
    cited = result["citations"][0]
    assert viewer.highlighted == cited["text"]
    assert "queen bee" in viewer.highlighted
    assert "[1] bees.md" in viewer.title.text() and "Bees" in viewer.title.text()
    html = viewer.text.toHtml()
    assert "#ffe27a" in html  # the span is highlighted in its context
    assert "Hives" in viewer.text.toPlainText() or "forty thousand" in viewer.text.toPlainText()


def test_attachment_and_answers_stay_with_the_conversation(qtbot, chat):
    panel = chat
    attach(panel, "Nature")
    ask(qtbot, panel, "Where does magma rise from?")
    conv_id = panel.conversation["id"]
    panel.documents.attach([])  # detached: the model answers through chat.send again
    assert panel.documents.picker.text() == "Documents"
    panel.composer.editor.setPlainText("Thanks")
    with qtbot.waitSignal(panel.sig_reply_ended, timeout=10000):
        panel.composer.send_button.click()
    qtbot.waitUntil(lambda: len(panel.thread_model.messages()) == 4, timeout=5000)
    qtbot.waitUntil(lambda: not panel.thread_model.messages()[-1].get("local"), timeout=5000)
    roles = [(m["role"], bool(m.get("documents"))) for m in panel.thread_model.messages()]
    assert roles == [("user", True), ("assistant", True), ("user", False), ("assistant", False)]

    panel.documents.attach(["col-nature"])
    other = make_panel(qtbot, panel.client)  # as after a restart: read back from the settings
    other.conversations.select(conv_id)
    qtbot.waitUntil(lambda: len(other.thread_model.messages()) == 4, timeout=5000)
    first_reply = other.thread_model.messages()[1]
    assert "magma" in first_reply["content"].lower() and "cite:1" in first_reply["content"]
    qtbot.waitUntil(lambda: other.documents.picker.text() == "Documents: Nature", timeout=5000)
    assert other.documents.attached() == ["col-nature"]


def test_collections_attached_on_a_blank_panel_go_with_the_new_chat(qtbot, chat):
    panel = chat
    panel.open_conversation(None)
    attach(panel, "Nature")
    ask(qtbot, panel, "What do bees make?")
    assert panel.conversation is not None
    assert panel.documents.attached() == ["col-nature"]
    assert "honey" in panel.thread_model.messages()[-1]["content"].lower()
