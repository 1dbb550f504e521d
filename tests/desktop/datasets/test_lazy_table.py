"""The rows table pages lazily: a million-row dataset shows its first rows from one request,
scrolling fetches only the pages it shows, memory stays bounded, and search grows on scroll."""

from __future__ import annotations

from desktop.panels.datasets.rows_model import LazyRowsModel
from tests.desktop.datasets.conftest import requests, select, shown_rows


def test_a_million_rows_show_at_once_from_a_few_pages(qtbot, panel):
    before = len(requests(qtbot, panel.client))  # the dataset shown first
    select(qtbot, panel, "big")  # shown from one page request, however many rows (checked below)
    model = panel.rows_model
    assert model.rowCount() == 1_000_000
    assert shown_rows(panel)[:3] == ["Task 0", "Task 1", "Task 2"]
    assert "1,000,000 rows" in panel.rows_view.status_label.text()

    panel.table.scrollTo(model.index(450, 1))  # scroll a bit: rows ~450 come into view
    qtbot.waitUntil(lambda: model.record_at(450) is not None, timeout=5000)
    assert model.index(450, 1).data() == "Task 450"
    seen = requests(qtbot, panel.client)[before:]
    assert 2 <= len(seen) <= 3, seen  # the first page, and the one or two around row 450
    assert all(r["limit"] <= LazyRowsModel.PAGE and not r["query"] for r in seen)

    jumps = list(range(1000, 1_000_000, 25_000))  # jump around 40 times: the cache stays bounded
    for row in jumps:
        panel.table.scrollTo(model.index(row, 1))
        qtbot.wait(5)
    panel.table.scrollTo(model.index(999_990, 1))
    qtbot.waitUntil(lambda: model.record_at(999_999) is not None, timeout=5000)
    assert model.index(999_999, 1).data() == "Task 999999"
    assert len(model.pages) <= LazyRowsModel.MAX_PAGES
    fetched = requests(qtbot, panel.client)[before:]
    assert len(fetched) <= 2 * (len(jumps) + 2)  # only the pages on screen, never all rows
    assert sum(r["limit"] for r in fetched) < 10_000


def test_search_finds_matches_and_grows_as_the_table_scrolls(qtbot, panel):
    select(qtbot, panel, "big")
    panel.search_box.setText("Task 5")
    qtbot.waitUntil(lambda: panel.rows_model.searching and panel.rows_model.rowCount() > 0,
                    timeout=5000)  # fmt: skip
    model = panel.rows_model
    first = model.rowCount()
    assert first == LazyRowsModel.SEARCH_LIMIT
    texts = [model.index(r, 1).data() for r in range(first)]
    assert texts[:3] == ["Task 5", "Task 50", "Task 51"]
    assert all("Task 5" in t for t in texts)
    assert model.index(1, 0).data() == "50"  # the row's index in the dataset, not in the results
    assert "matches" in panel.rows_view.status_label.text()

    panel.table.scrollToBottom()
    qtbot.waitUntil(lambda: model.rowCount() > first, timeout=5000)
    assert [r["query"] for r in requests(qtbot, panel.client)][-2:] == ["Task 5", "Task 5"]

    panel.search_box.clear()
    qtbot.waitUntil(lambda: not model.searching and model.rowCount() == 1_000_000, timeout=5000)


def test_regex_field_and_bad_pattern(qtbot, panel):
    select(qtbot, panel, "small")
    view = panel.rows_view
    view.regex_check.setChecked(True)
    view.field_combo.setCurrentIndex(view.field_combo.findData("output"))
    panel.search_box.setText("^(Hi|4)$")
    view.apply_search()
    qtbot.waitUntil(lambda: shown_rows(panel) == ["Say hi", "Add 2 and 2", "Say hi"], timeout=5000)
    assert "3 matches in 6 rows" in view.status_label.text()

    panel.search_box.setText("(unclosed")
    view.apply_search()
    qtbot.waitUntil(lambda: "not valid" in panel.message.text(), timeout=5000)
    assert panel.message.kind == "error"
