"""Collections attached in Chat (fake engine): the choice is the engine's conversation state
(``chat.update {collections}``), the question goes through the usual ``chat.send``, the reply's
``[n]`` marks are links from its stored ``metadata.citations``, and a click opens the source viewer
on the cited span -- also after reopening the conversation, regenerating or switching branches.
A choice kept in the settings file by an older version moves into the engine once."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QUrl

from desktop.panels.chat.documents_legacy import KEY, settings_file
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
    return make_panel(qtbot, client)


def make_panel(qtbot, client) -> ChatPanel:
    panel = ChatPanel(client)
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.waitUntil(lambda: panel.settings.model_combo.count() > 0, timeout=5000)
    qtbot.waitUntil(lambda: panel.documents.picker.collections != [], timeout=5000)
    return panel


def attach(qtbot, panel, name: str) -> None:
    """Tick a collection in the header's Documents menu (and wait for the engine to take it)."""
    picker = panel.documents.picker
    action = next(a for a in picker.menu().actions() if a.text() == name)
    if panel.conversation is None:
        action.trigger()
        return
    with qtbot.waitSignal(panel.documents.sig_attached, timeout=5000):
        action.trigger()


def new_chat(qtbot, panel) -> None:
    panel.new_conversation()
    qtbot.waitUntil(lambda: panel.conversation is not None, timeout=5000)


def ask(qtbot, panel, text: str) -> dict:
    """Send ``text`` as a user does; wait for the reply and for the engine's copy of the branch."""
    panel.composer.editor.setPlainText(text)
    with qtbot.waitSignal(panel.sig_reply_ended, timeout=10000) as ended:
        panel.composer.send_button.click()
    settled(qtbot, panel)
    return ended.args[0]


def settled(qtbot, panel) -> None:
    qtbot.waitUntil(
        lambda: (
            panel.thread_model.rowCount() > 0
            and not any(m.get("local") for m in panel.thread_model.messages())
        ),
        timeout=5000,
    )


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


def open_source(qtbot, panel, view, n: int = 1):
    with qtbot.waitSignal(panel.documents.sig_viewer_opened, timeout=3000) as opened:
        view.body.anchorClicked.emit(QUrl(f"cite:{n}"))  # what a click on the link sends
    viewer = opened.args[0]
    qtbot.addWidget(viewer)
    qtbot.waitUntil(lambda: viewer.passage is not None, timeout=5000)
    return viewer


def test_answer_with_citations_opens_the_source_passage(qtbot, chat):
    panel = chat
    new_chat(qtbot, panel)
    attach(qtbot, panel, "Nature")
    assert panel.conversation["collections"] == ["col-nature"]  # the engine has the choice
    assert panel.documents.picker.text() == "Documents: Nature"
    assert panel.documents.note.isVisible() and "Nature" in panel.documents.note.text()
    result = ask(qtbot, panel, "What does the queen bee do?")
    assert result["conversation_id"] == panel.conversation["id"]  # chat.send answered
    citations = result["message"]["metadata"]["citations"]
    assert citations and "[1]" in result["text"]
    messages = panel.thread_model.messages()
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["state"] == "complete"
    assert messages[1]["metadata"]["citations"] == citations
    view = panel.view.views[-1]
    assert "Sources" in view.body.toPlainText()
    assert citation_links(view).count("cite:1") == 2  # [1] in the text and in the Sources list
    assert "answered from documents" in panel.stats_label.text()
    assert "answered from documents" in view.footer.text()

    viewer = open_source(qtbot, panel, view)
    assert viewer.highlighted == citations[0]["text"]
    assert "queen bee" in viewer.highlighted
    assert "[1] bees.md" in viewer.title.text() and "Bees" in viewer.title.text()
    assert "#ffe27a" in viewer.text.toHtml()  # the span is highlighted in its context
    assert "Hives" in viewer.text.toPlainText() or "forty thousand" in viewer.text.toPlainText()


def test_citations_stay_with_the_conversation(qtbot, chat):
    panel = chat
    new_chat(qtbot, panel)
    attach(qtbot, panel, "Nature")
    ask(qtbot, panel, "Where does magma rise from?")
    conv_id = panel.conversation["id"]
    attach(qtbot, panel, "Nature")  # ticked again: detached, the model answers plainly
    assert panel.conversation["collections"] == []
    assert panel.documents.picker.text() == "Documents"
    ask(qtbot, panel, "Thanks")
    messages = panel.thread_model.messages()
    assert [("citations" in m["metadata"]) for m in messages] == [False, True, False, False]

    other = make_panel(qtbot, panel.client)  # as after a restart: everything from the engine
    other.conversations.select(conv_id)
    qtbot.waitUntil(lambda: other.thread_model.rowCount() == 4, timeout=5000)
    first_reply = other.thread_model.messages()[1]
    assert "magma" in first_reply["content"].lower()
    assert first_reply["metadata"]["citations"][0]["name"] == "volcanoes.txt"
    view = other.view.views[1]
    assert "cite:1" in citation_links(view)
    viewer = open_source(qtbot, other, view)
    assert "Magma rises from the mantle" in viewer.highlighted
    assert other.documents.picker.text() == "Documents"  # detached, as the engine says

    attach(qtbot, other, "Nature")
    with qtbot.waitSignal(other.sig_reply_ended, timeout=10000):
        other.regenerate(other.thread_model.messages()[3])  # the plain reply, now from documents
    qtbot.waitUntil(
        lambda: (
            other.thread_model.rowCount() == 4
            and len(other.thread_model.messages()[3].get("siblings") or []) == 2
        ),
        timeout=5000,
    )
    regenerated = other.thread_model.messages()[3]
    assert regenerated["metadata"]["retrieval"]["collections"] == ["col-nature"]
    with qtbot.waitSignal(other.thread_model.dataChanged, timeout=5000):
        other.switch_branch(regenerated["siblings"][0])  # back to the plain reply
    qtbot.waitUntil(
        lambda: "citations" not in other.thread_model.messages()[3]["metadata"], timeout=5000
    )
    assert "cite:1" in citation_links(other.view.views[1])  # the first reply keeps its links


def test_collections_attached_on_a_blank_panel_go_with_the_new_chat(qtbot, chat):
    panel = chat
    panel.open_conversation(None)
    attach(qtbot, panel, "Nature")
    assert panel.documents.picker.text() == "Documents: Nature"
    result = ask(qtbot, panel, "What do bees make?")
    assert panel.conversation is not None
    assert panel.conversation["collections"] == ["col-nature"]
    assert panel.documents.attached() == ["col-nature"]
    assert "honey" in result["text"].lower() and result["message"]["metadata"]["citations"]
    reply = panel.thread_model.messages()[-1]
    assert reply["metadata"]["citations"][0]["name"] == "bees.md"


def test_a_choice_kept_by_an_older_version_moves_into_the_engine(qtbot, chat):
    client = chat.client
    conv = wait_call(qtbot, client, "chat.create", {"model_id": "gemma-1"})
    old_answer = {
        "anchor": None,
        "question": "What does the queen bee do?",
        "text": "She lays all the eggs [1].",
        "state": "complete",
        "citations": [
            {
                "n": 1,
                "collection": "col-nature",
                "file": "bees.md",
                "name": "bees.md",
                "heading": "Bees",
                "start": 0,
                "end": 10,
                "text": "The queen bee lays all the eggs.",
                "cited": True,
            }
        ],
        "meta": {},
    }
    settings = settings_file()
    settings.setValue(KEY.format(conv=conv["id"], what="collections"), json.dumps(["col-nature"]))
    settings.setValue(KEY.format(conv=conv["id"], what="answers"), json.dumps([old_answer]))
    settings.sync()

    panel = make_panel(qtbot, client)
    with qtbot.waitSignal(panel.documents.sig_attached, timeout=5000):
        panel.conversations.select(conv["id"])
    stored = wait_call(qtbot, client, "chat.get", {"id": conv["id"]})["conversation"]
    assert stored["collections"] == ["col-nature"]
    assert panel.documents.picker.text() == "Documents: Nature"
    settings.sync()
    assert not settings.contains(KEY.format(conv=conv["id"], what="collections"))

    # the old answer is still shown (read-only) with its link to the passage
    qtbot.waitUntil(lambda: panel.thread_model.rowCount() == 2, timeout=5000)
    question, reply = panel.thread_model.messages()
    assert question["content"] == old_answer["question"] and reply["local"]
    assert "cite:1" in citation_links(panel.view.views[1])
    assert not panel.view.views[1].regenerate_button.isEnabled()
