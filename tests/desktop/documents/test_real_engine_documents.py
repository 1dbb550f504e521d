"""The Documents panel on the real engine: create a collection, drop two small files into it
(embedded Qdrant, the bundled MiniLM embedder), and search: the file that answers comes first."""

from __future__ import annotations

from desktop.panels.documents.panel import DocumentsPanel
from tests.desktop.documents.conftest import create, ingest, search


def test_ingest_two_files_and_find_the_right_one(qtbot, make_client, tmp_path):
    client = make_client(real=True)
    panel = DocumentsPanel(client)
    qtbot.addWidget(panel)
    panel.resize(1200, 720)
    panel.show()
    qtbot.waitExposed(panel)
    garden = tmp_path / "garden.md"
    garden.write_text(
        "# Tomatoes\n\nWater tomato plants deeply twice a week and stake them when they are "
        "a foot tall. Pinch off the suckers that grow between the stem and the branches.\n"
    )
    trains = tmp_path / "trains.txt"
    trains.write_text(
        "The night train to Vienna leaves platform 4 at 22:15. Sleeper cabins have two or "
        "four berths, and breakfast is served before arrival.\n"
    )
    create(qtbot, panel, "Household")
    ingest(qtbot, panel, [garden, trains], timeout=120000)
    model = panel.files.model
    assert model.status_of("garden.md") == "indexed"
    assert model.status_of("trains.txt") == "indexed"
    assert "Indexed 2" in panel.message.text()

    result = search(qtbot, panel, "when does the sleeper train leave")
    assert result["results"], result
    assert panel.search.model.record_at(0)["name"] == "trains.txt"
    assert panel.search.model.index(0, 2).data() == "trains.txt"
    result = search(qtbot, panel, "how often should I water tomatoes", mode="dense")
    assert panel.search.model.record_at(0)["name"] == "garden.md"
    assert result["mode"] == "dense"


def test_chat_with_a_collection_attached_cites_the_passage(qtbot, make_client, tmp_path):
    from PySide6.QtCore import QUrl

    from desktop.panels.chat.panel import ChatPanel

    client = make_client(real=True)
    trains = tmp_path / "trains.txt"
    trains.write_text(
        "The night train to Vienna leaves platform 4 at 22:15. Sleeper cabins have two or "
        "four berths, and breakfast is served before arrival.\n"
    )
    created: dict = {}
    client.call("docs.create", {"name": "Travel"}).on_success(lambda r: created.update(r))
    qtbot.waitUntil(lambda: bool(created), timeout=30000)
    with qtbot.waitSignal(
        client.sig_job_progress, timeout=120000, check_params_cb=lambda p: p["kind"] == "end"
    ):
        client.call("docs.ingest", {"id": "Travel", "paths": [str(trains)]})
    panel = ChatPanel(client)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.documents.picker.collections != [], timeout=10000)
    panel.settings.spins["max_tokens"].setValue(8)
    panel.settings.spins["seed"].setValue(7)
    panel.documents.attach([created["id"]])  # on the blank panel: chat.create carries it
    panel.composer.editor.setPlainText("When does the night train to Vienna leave?")
    with qtbot.waitSignal(panel.sig_reply_ended, timeout=120000) as ended:
        panel.composer.send_button.click()
    result = ended.args[0]
    assert isinstance(result, dict), result
    assert panel.conversation["collections"] == [created["id"]]
    first = result["message"]["metadata"]["citations"][0]
    assert first["name"] == "trains.txt" and "22:15" in first["text"]
    qtbot.waitUntil(lambda: not panel.thread_model.messages()[-1].get("local"), timeout=10000)
    view = panel.view.views[-1]
    assert "trains.txt" in view.body.toPlainText()  # the Sources list under the reply
    with qtbot.waitSignal(panel.documents.sig_viewer_opened, timeout=5000) as opened:
        view.body.anchorClicked.emit(QUrl("cite:1"))
    viewer = opened.args[0]
    qtbot.addWidget(viewer)
    qtbot.waitUntil(lambda: viewer.passage is not None, timeout=10000)
    assert "22:15" in viewer.highlighted


def test_move_a_collection_to_a_server_and_back(qtbot, make_client, tmp_path):
    env = {"HEARTH_EXTRA_JOB_MODULES": "tests.engine.jobkinds,tests.desktop.documents.local_qdrant",
           "HEARTH_TEST_QDRANT_DIR": str(tmp_path / "qdrant")}  # fmt: skip
    client = make_client(real=True, env=env)
    panel = DocumentsPanel(client)
    qtbot.addWidget(panel)
    panel.resize(1200, 720)
    panel.show()
    trains = tmp_path / "trains.txt"
    trains.write_text("The night train to Vienna leaves platform 4 at 22:15. Sleeper cabins have two or four berths.\n")  # fmt: skip
    create(qtbot, panel, "Travel")
    ingest(qtbot, panel, [trains], timeout=120000)
    before = search(qtbot, panel, "when does the sleeper train leave")["results"]
    assert panel.move_button.isEnabled()
    panel.ask_move_target = lambda _c: ("http://qdrant.test:6333", None)
    panel.move_button.click()
    qtbot.waitUntil(
        lambda: "Moved Travel to http://qdrant.test:6333" in panel.message.text(), timeout=60000
    )
    qtbot.waitUntil(
        lambda: "Qdrant server http://qdrant.test:6333" in panel.title.text(), timeout=10000
    )
    after = search(qtbot, panel, "when does the sleeper train leave")["results"]
    assert [(h["id"], round(h["score"], 4)) for h in after] == [
        (h["id"], round(h["score"], 4)) for h in before
    ]
    panel.ask_move_target = lambda _c: (None, None)
    panel.move_button.click()
    qtbot.waitUntil(lambda: "Moved Travel to embedded" in panel.message.text(), timeout=60000)
    qtbot.waitUntil(lambda: "embedded Qdrant" in panel.title.text(), timeout=10000)
