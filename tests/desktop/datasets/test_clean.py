"""Cleaning steps run as jobs with progress and cancel: filter, dedup with a review of the
clusters, PII scrub with a preview, the contamination check listing leaking rows; the engine's
refusals (every row filtered out, a dataset it will not change) reach the message bar."""

from __future__ import annotations

import json

from tests.desktop.datasets.conftest import select, shown_rows


def accept(qtbot, panel, setup=None):
    """Set up the open dialog with ``setup(dialog)`` and press its Run button."""
    qtbot.waitUntil(lambda: panel.actions.dialog is not None, timeout=5000)
    dialog = panel.actions.dialog
    if setup is not None:
        setup(dialog)
    dialog.accept()
    return dialog


def test_filter_keeps_matching_rows_and_refuses_to_empty_the_dataset(qtbot, panel):
    select(qtbot, panel, "small")
    panel.actions.open_filter()
    accept(qtbot, panel, lambda d: d.include.setText("Say"))
    qtbot.waitUntil(lambda: shown_rows(panel) == ["Say hi", "Say hi"], timeout=5000)
    assert "Removed 4 rows" in panel.message.text() and "6 → 2" in panel.message.text()

    panel.actions.open_filter()
    dialog = accept(qtbot, panel, lambda d: d.include.setText("nothing matches this"))
    assert dialog.params() == {"include": "nothing matches this"}
    qtbot.waitUntil(lambda: "would be removed" in panel.message.text(), timeout=5000)
    assert panel.message.kind == "error" and "All 2 rows" in panel.message.text()
    assert panel.dataset["versions"] == 2  # no empty version was made


def test_dedup_review_then_remove(qtbot, panel):
    select(qtbot, panel, "small")
    panel.actions.open_dedup()  # asks the engine for the options' defaults first
    qtbot.waitUntil(lambda: type(panel.actions.dialog).__name__ == "DedupDialog", timeout=5000)
    assert panel.actions.dialog.threshold.value() == 0.8  # the engine's default
    accept(qtbot, panel)  # review first is the default
    qtbot.waitUntil(lambda: type(panel.actions.dialog).__name__ == "ClusterReviewDialog",
                    timeout=5000)  # fmt: skip
    review = panel.actions.dialog
    top = review.tree.topLevelItem(0)
    assert review.tree.topLevelItemCount() == 1 and top.childCount() == 2
    qtbot.waitUntil(lambda: top.child(1).text(1).startswith("Say hi"), timeout=5000)
    assert review.checked_positions() == [2]  # the first row of the cluster is kept
    assert review.action_button.text() == "Remove 1 row"
    assert len(shown_rows(panel)) == 6  # nothing removed before the review
    review.accept()
    qtbot.waitUntil(lambda: len(shown_rows(panel)) == 5, timeout=5000)
    assert shown_rows(panel).count("Say hi") == 1
    assert "6 → 5" in panel.message.text()


def test_exact_dedup_without_review_and_cancel_a_slow_step(qtbot, panel):
    select(qtbot, panel, "small")
    panel.actions.run_dedup({"near": False, "dry_run": False})
    qtbot.waitUntil(lambda: len(shown_rows(panel)) == 5, timeout=5000)

    panel.actions.run_filter({"include": "slow"})  # the fake runs this one for three seconds
    qtbot.waitUntil(lambda: panel.job_strip.isVisible() and panel.job_strip.bar.value() > 0,
                    timeout=5000)  # fmt: skip
    assert "Filtering rows" in panel.job_strip.label.text()
    panel.job_strip.cancel_button.click()
    qtbot.waitUntil(lambda: "cancelled" in panel.message.text(), timeout=5000)
    assert panel.job_strip.isHidden() and len(shown_rows(panel)) == 5


def test_scrub_shows_what_it_would_replace_first(qtbot, panel):
    select(qtbot, panel, "small")
    panel.actions.open_scrub()
    accept(qtbot, panel)
    qtbot.waitUntil(lambda: type(panel.actions.dialog).__name__ == "ScrubPreviewDialog",
                    timeout=5000)  # fmt: skip
    assert panel.rows_model.index(3, 1).data() == "Mail bob@example.com"
    panel.actions.dialog.accept()
    qtbot.waitUntil(lambda: shown_rows(panel)[3:4] == ["Mail [EMAIL]"], timeout=5000)
    assert "Replaced 1 email in 1 row" in panel.message.text()


def test_contamination_lists_leaking_rows(qtbot, panel, tmp_path):
    path = tmp_path / "evalset.jsonl"
    path.write_text(json.dumps({"instruction": "Say hi", "input": "", "output": "Hi"}) + "\n")
    panel.import_flow.start(str(path))
    qtbot.waitUntil(lambda: bool(panel.dataset and panel.dataset["name"] == "evalset"),
                    timeout=5000)  # fmt: skip
    select(qtbot, panel, "small")
    panel.actions.open_contamination()
    accept(qtbot, panel, lambda d: d.eval.setCurrentText("evalset"))
    qtbot.waitUntil(lambda: type(panel.actions.dialog).__name__ == "LeaksDialog", timeout=5000)
    leaks = panel.actions.dialog
    assert leaks.tree.topLevelItemCount() == 2 and leaks.checked_positions() == [0, 2]
    assert leaks.tree.topLevelItem(0).text(4) == "Say hi Hi"
    leaks.accept()
    qtbot.waitUntil(lambda: len(shown_rows(panel)) == 4, timeout=5000)


def test_engine_refusal_reaches_the_message_bar(qtbot, panel):
    select(qtbot, panel, "big")
    panel.actions.run_dedup({"near": True, "threshold": 0.8, "dry_run": True})
    qtbot.waitUntil(lambda: "does not change the big dataset" in panel.message.text(), timeout=5000)
    assert panel.message.kind == "error"
