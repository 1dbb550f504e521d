"""Regenerate and edit-and-resend make alternatives; the ‹ n/m › arrows move between them."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.desktop.chat.conftest import send_and_wait, settle, texts


def click_and_wait(qtbot, panel, button):
    with qtbot.waitSignal(panel.sig_reply_ended, timeout=10000):
        button.click()
    settle(qtbot, panel)


def test_regenerate_makes_an_alternative_reply(qtbot, panel):
    send_and_wait(qtbot, panel, "first question")
    first = texts(panel)[1][1]
    assert panel.view.views[1].prev_button.isHidden()  # one reply: no arrows
    click_and_wait(qtbot, panel, panel.view.views[1].regenerate_button)
    reply = panel.view.views[1]
    assert texts(panel)[1][1].strip() == "Alternative reply number 2."
    assert reply.branch_label.text() == "2/2" and reply.branch_label.isVisible()
    assert reply.prev_button.isEnabled() and not reply.next_button.isEnabled()
    reply.prev_button.click()
    qtbot.waitUntil(lambda: panel.view.views[1].branch_label.text() == "1/2", timeout=5000)
    assert texts(panel)[1][1] == first
    panel.view.views[1].next_button.click()
    qtbot.waitUntil(lambda: panel.view.views[1].branch_label.text() == "2/2", timeout=5000)
    assert "Alternative" in texts(panel)[1][1]


def test_edit_resends_as_a_new_branch_and_the_old_one_stays(qtbot, panel):
    send_and_wait(qtbot, panel, "first version")
    panel.view.views[0].edit_button.click()
    composer = panel.composer
    assert composer.edit_strip.isVisible() and composer.text() == "first version"
    composer.editor.setPlainText("second version")
    with qtbot.waitSignal(panel.sig_reply_ended, timeout=10000):
        qtbot.keyClick(composer.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, panel)
    assert not composer.edit_strip.isVisible()
    assert texts(panel)[0][1] == "second version"
    assert len(texts(panel)) == 2
    question = panel.view.views[0]
    assert question.branch_label.text() == "2/2"
    question.prev_button.click()
    qtbot.waitUntil(lambda: texts(panel)[0][1] == "first version", timeout=5000)
    assert panel.view.views[0].branch_label.text() == "1/2"
    assert texts(panel)[1][1].startswith("Hello!")  # the old branch kept its reply


def test_cancelling_an_edit_restores_the_composer(qtbot, panel):
    send_and_wait(qtbot, panel, "a question")
    panel.view.views[0].edit_button.click()
    assert panel.composer.editing is not None
    panel.activateWindow()
    qtbot.waitActive(panel)
    qtbot.keyClick(panel.composer.editor, Qt.Key.Key_Escape)
    assert panel.composer.editing is None and panel.composer.text() == ""
    assert panel.composer.edit_strip.isHidden()
