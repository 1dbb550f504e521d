"""Forms speak the user's language: every training option has a label without underscores or
bare abbreviations, choices read as words ("LoRA"), the data check names its source in words
(not a dict), and search results say what their score is."""

from __future__ import annotations

import re

from desktop.labels import choice_label, field_label


def test_every_training_option_reads_as_words():
    from engine.training.config import TrainOptions

    for d in TrainOptions.describe():
        label = field_label(d["name"])
        assert "_" not in label and label[0].isupper(), label
        assert not re.search(r"\b(Lr|Kd|Seq|Len)\b", label), label
        for choice in d.get("choices") or []:
            assert choice_label(choice)
    assert field_label("lr_schedule") == "Learning-rate schedule"
    assert choice_label("lora") == "LoRA" and choice_label("something_new") == "something_new"


def test_the_training_form_shows_labels_and_keeps_values(qtbot):
    from desktop.panels.training.options_form import FieldEditor
    from engine.training.config import TrainOptions

    method = next(d for d in TrainOptions.describe() if d["name"] == "method")
    editor = FieldEditor(method)
    qtbot.addWidget(editor)
    combo = editor.editor
    assert [combo.itemText(i) for i in range(combo.count())][:2] == ["LoRA", "DoRA"]
    assert editor.value() == "lora"  # the engine still gets its own word


def test_data_check_names_its_source_in_words():
    from desktop.panels.training.plan_view import _source_words

    assert _source_words({"dataset_id": "d1", "version": 2, "split": "train"}) == "version 2, split train"  # fmt: skip
    assert _source_words({"path": "/data/rows.jsonl"}) == "file rows.jsonl"
    assert _source_words(None) == "dataset"


def test_search_scores_are_named_for_their_mode(qtbot):
    from PySide6.QtCore import Qt

    from desktop.panels.documents.item_models import HitsModel

    model = HitsModel()

    def header(role=Qt.ItemDataRole.DisplayRole):
        return model.headerData(1, Qt.Orientation.Horizontal, role)

    assert header() == "Score"
    for mode, title in (("hybrid", "Fused score"), ("dense", "Similarity"), ("bm25", "BM25")):
        model.set_mode(mode)
        assert header() == title and header(Qt.ItemDataRole.ToolTipRole)
