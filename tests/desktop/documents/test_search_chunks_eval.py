"""The Documents panel's Search, Chunks and Evaluation tabs on the fake engine: ranked results with
scores and sources, modes and filters, the cache shown and bypassed; a result opened in its file;
stored and previewed chunks; the hit@k / MRR table."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from tests.desktop.documents.conftest import create, ingest, search


@pytest.fixture
def indexed(qtbot, panel, corpus):
    create(qtbot, panel, "Notes")
    ingest(qtbot, panel, [corpus["bees"], corpus["volcanoes"]])
    qtbot.waitUntil(lambda: panel.search.file_combo.count() == 3, timeout=5000)
    return panel


def test_search_shows_ranked_chunks_with_scores_and_sources(qtbot, indexed):
    panel = indexed
    result = search(qtbot, panel, "the queen bee lays eggs")
    model = panel.search.model
    assert model.rowCount() >= 2
    first = model.record_at(0)
    assert first["name"] == "bees.md" and "queen bee" in first["text"]
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == [
        str(i + 1) for i in range(model.rowCount())
    ]
    scores = [model.record_at(r)["score"] for r in range(model.rowCount())]
    assert scores == sorted(scores, reverse=True)
    assert model.index(0, 1).data() == f"{scores[0]:.4f}"
    assert model.index(0, 2).data() == "bees.md"
    assert model.index(0, 4).data() == "Bees"  # the heading the chunk sits under
    assert result["mode"] == "hybrid" and "hybrid" in panel.search.status.text()
    assert "queen bee" in panel.search.detail.toPlainText()  # the best result, whole


def test_modes_filters_and_the_cache(qtbot, indexed):
    panel = indexed
    first = search(qtbot, panel, "magma mantle")
    assert first["cached"] is None and "cached" not in panel.search.status.text()
    again = search(qtbot, panel, "magma mantle")
    assert again["cached"] is not None
    assert "cached" in panel.search.status.text()
    panel.search.cache_check.setChecked(False)  # bypass it
    fresh = search(qtbot, panel, "magma mantle")
    assert fresh["cached"] is None and "cached" not in panel.search.status.text()
    panel.search.cache_check.setChecked(True)

    bm25 = search(qtbot, panel, "bees honey", mode="bm25")
    assert bm25["mode"] == "bm25"
    assert panel.search.model.record_at(0)["score"] == panel.search.model.record_at(0)["bm25_score"]

    volcano_file = next(
        panel.search.file_combo.itemData(i)
        for i in range(panel.search.file_combo.count())
        if str(panel.search.file_combo.itemData(i)).endswith("volcanoes.txt")
    )
    panel.search.file_combo.setCurrentIndex(panel.search.file_combo.findData(volcano_file))
    filtered = search(qtbot, panel, "bees lava", mode="hybrid")
    assert {h["name"] for h in filtered["results"]} == {"volcanoes.txt"}
    panel.search.file_combo.setCurrentIndex(0)
    panel.search.type_combo.setCurrentIndex(panel.search.type_combo.findData("md"))
    typed = search(qtbot, panel, "bees lava")
    assert {h["type"] for h in typed["results"]} == {"md"}

    with qtbot.waitSignal(panel.search.sig_message, timeout=5000):
        panel.search.clear_cache_button.click()
    assert "Cleared" in panel.message.text()


def test_nothing_found_says_so(qtbot, indexed):
    result = search(qtbot, indexed, "quantum chromodynamics")
    assert result["results"] == []
    assert "Nothing in Notes is relevant" in indexed.search.status.text()


def test_a_result_opens_in_its_file_with_the_span_highlighted(qtbot, indexed):
    panel = indexed
    search(qtbot, panel, "magma mantle")
    panel.search.open_hit(0)
    viewer = panel.search.viewer
    qtbot.addWidget(viewer)
    qtbot.waitUntil(lambda: viewer.passage is not None, timeout=5000)
    assert viewer.highlighted.strip().startswith("Magma rises from the mantle")
    assert "page 2" in viewer.title.text()  # the form feed before it starts page 2
    assert "Volcanoes erupt lava" in viewer.text.toPlainText()  # the context before it
    assert "#ffe27a" in viewer.text.toHtml()


def test_chunk_preview_shows_stored_and_resplit_chunks(qtbot, indexed, corpus):
    panel = indexed
    chunks = panel.chunks
    panel.tabs.setCurrentWidget(chunks)
    qtbot.waitUntil(lambda: chunks.file_combo.count() == 2, timeout=5000)
    chunks.file_combo.setCurrentIndex(chunks.file_combo.findData(str(corpus["bees"])))
    with qtbot.waitSignal(chunks.sig_loaded, timeout=5000) as loaded:
        chunks.stored_button.click()
    assert loaded.args[0]["kind"] == "stored"
    assert chunks.model.rowCount() == 2
    assert [chunks.model.index(r, 3).data() for r in range(2)] == ["Bees", "Hives"]
    assert "2 stored chunks" in chunks.status.text()
    assert "Honeybees make honey" in chunks.detail.toPlainText()

    chunks.tokens_spin.setValue(32)
    chunks.overlap_spin.setValue(8)
    with qtbot.waitSignal(chunks.sig_loaded, timeout=5000) as loaded:
        chunks.preview_button.click()
    answer = loaded.args[0]
    assert answer["kind"] == "preview"
    assert answer["settings"] == {"chunk_tokens": 32, "overlap_tokens": 8}
    assert chunks.model.rowCount() > 2  # smaller chunks: more of them
    assert "nothing stored" in chunks.status.text()


def test_eval_table_shows_hit_rates_and_mrr_per_mode(qtbot, indexed, tmp_path):
    panel = indexed
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        "\n".join(
            json.dumps(item)
            for item in (
                {"question": "What do bees make?", "answer": "honey"},
                {"question": "What erupts from volcanoes?", "answer": "lava"},
                {"question": "Where does magma rise from?", "source": "volcanoes.txt"},
            )
        )
    )
    pane = panel.eval
    panel.tabs.setCurrentWidget(pane)
    pane.path_edit.setText(str(qa))
    with qtbot.waitSignal(pane.sig_finished, timeout=5000) as finished:
        pane.run_button.click()
    report = finished.args[0]
    model = pane.model
    assert [model.index(r, 0).data() for r in range(3)] == [
        "Hybrid (dense + BM25)",
        "Dense only",
        "BM25 only",
    ]
    assert model.headerData(4, Qt.Orientation.Horizontal) == "MRR"
    for r, mode in enumerate(("hybrid", "dense", "bm25")):
        for c, metric in enumerate(("hit@1", "hit@3", "hit@5", "mrr"), start=1):
            assert model.index(r, c).data() == f"{report[mode][metric]:.3f}"
    best = max(report[m]["mrr"] for m in ("hybrid", "dense", "bm25"))
    bold = [model.index(r, 4).data(Qt.ItemDataRole.FontRole) for r in range(3)]
    assert any(f is not None and f.bold() for f in bold)
    assert all(
        (f is not None and f.bold()) == (report[m]["mrr"] == best)
        for f, m in zip(bold, ("hybrid", "dense", "bm25"), strict=True)
    )
    assert "3 questions" in pane.status.text()


def test_eval_with_a_missing_file_shows_the_engine_message(qtbot, indexed, tmp_path):
    pane = indexed.eval
    pane.path_edit.setText(str(tmp_path / "nope.jsonl"))
    with qtbot.waitSignal(pane.sig_error, timeout=5000):
        pane.run_button.click()
    assert "not found" in indexed.message.text()
