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
