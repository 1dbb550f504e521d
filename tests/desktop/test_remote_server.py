"""Models > Add server… on the real engine, against a server running in the test: the dialog lists
the server's models and adds one; the table and the chat show that it sends text off the machine;
the first message asks once (a "no" sends nothing), then the reply streams in."""

from __future__ import annotations

import pytest

from desktop import remote_consent
from desktop.panels.models.server_dialog import ServerDialog
from tests.desktop.test_real_engine import models_window
from tests.engine.runtimes.servers import Scripted, models_route, stream_route


@pytest.fixture
def server():
    s = Scripted()
    s.routes[("GET", "/v1/models")] = models_route(["box-model", "other"])
    s.routes[("POST", "/v1/chat/completions")] = stream_route(["Hello", " from", " the box"])
    yield s
    s.stop()


def test_add_a_server_model_and_chat_with_it_after_one_question(qtbot, make_client, server):
    client = make_client(real=True)
    window, panel = models_window(qtbot, client)
    shown: list[ServerDialog] = []

    def answer(dialog: ServerDialog) -> bool:
        shown.append(dialog)
        dialog.url.setText("127.0.0.1:" + server.url.rsplit(":", 1)[1])
        dialog.list_button.click()
        qtbot.waitUntil(lambda: dialog.models.count() == 2, timeout=15000)
        assert "serves 2 models" in dialog.status.text() and dialog.add_button.isEnabled()
        dialog.models.setCurrentIndex(dialog.models.findData("box-model"))
        dialog.name.setText("Box")
        dialog.add_button.click()
        qtbot.waitUntil(lambda: dialog.added is not None, timeout=15000)
        return True

    panel.run_dialog = answer
    panel.server_button.click()
    assert shown and shown[0].added["format"] == "remote"
    qtbot.waitUntil(lambda: panel.table_model.row_of_name("Box") >= 0, timeout=10000)
    row = panel.table_model.row_of_name("Box")
    panel.table.selectRow(row)
    model = panel.table_model.model_at(row)
    assert panel.table_model.index(row, 7).data() == f"server {server.url.split('//')[1]}"
    assert "leaves this machine" in panel.details.toPlainText()
    assert panel.key_button.isVisible() and not panel.quantize_button.isEnabled()
    assert "Hearth asks before the first message" in panel.message.text()

    chat = window.panels["chat"]
    window.show_panel("chat")
    qtbot.waitUntil(lambda: chat.settings.model_combo.findData(model["id"]) >= 0, timeout=10000)
    chat.settings.select_model(model["id"])
    chat.settings.sig_model_changed.emit(model["id"])
    assert chat.settings.remote_badge.isVisible()
    qtbot.waitUntil(lambda: chat.settings.template_combo.currentText() == "The server's own", timeout=10000)  # fmt: skip
    assert not chat.settings.template_combo.isEnabled()
    assert server.url.split("//")[1] in chat.settings.remote_badge.text()

    asked: list[str] = []
    remote_consent.install(client, lambda base, _msg: (asked.append(base), False)[1])
    chat.composer.editor.setPlainText("a private question")
    chat.composer.send_button.click()
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=15000)
    qtbot.waitUntil(lambda: "Nothing was sent" in chat.message.text(), timeout=10000)
    assert server.chat_hits() == 0 and not any(b"private" in hit[3] for hit in server.hits)

    remote_consent.install(client, lambda base, _msg: (asked.append(base), True)[1])
    chat.composer.editor.setPlainText("a private question")
    with qtbot.waitSignal(chat.sig_reply_ended, timeout=30000) as ended:
        chat.composer.send_button.click()
    assert ended.args[0]["text"] == "Hello from the box" and len(asked) == 2
    chat.composer.editor.setPlainText("and another")
    with qtbot.waitSignal(chat.sig_reply_ended, timeout=30000):
        chat.composer.send_button.click()
    assert len(asked) == 2 and server.chat_hits() == 2  # asked once per server

    # two requests refused together (another server): one question for both, then both sent
    second = Scripted()
    second.routes[("GET", "/v1/models")] = models_route(["m2"])
    second.routes[("POST", "/v1/chat/completions")] = stream_route(["Second", " box"])
    added = client.call("models.add_remote", {"url": second.url, "name": "Box 2"})
    qtbot.waitUntil(lambda: added.done, timeout=15000)
    together: list[str] = []
    remote_consent.install(client, lambda base, _msg: (together.append(base), True)[1])
    ask = {"model": added.result["id"], "messages": [{"role": "user", "content": "q"}]}
    calls = [client.call("chat.generate", ask) for _ in range(2)]
    qtbot.waitUntil(lambda: all(c.done for c in calls), timeout=20000)
    second.stop()
    assert together == [second.url + "/v1"]
    assert [c.result["text"] for c in calls] == ["Second box"] * 2 and second.chat_hits() == 2
