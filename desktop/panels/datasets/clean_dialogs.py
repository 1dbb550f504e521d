"""Dialogs that set up the cleaning steps: filter (token length, regex, empty fields), duplicates
(exact or near, with a threshold and a review of clusters first), personal-data scrub and the
train/eval contamination check. Each ``params()`` is what its ``data.*`` method takes besides
the dataset id; the engine checks the values and its message says what to change.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.panels.models.table_model import picker_label

ALL_FIELDS = "All text"


class StepDialog(QDialog):
    """A form with an explanation on top and Run / Cancel below."""

    def __init__(self, title: str, explanation: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = QFormLayout()
        note = QLabel(explanation)
        note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.run_button = self.buttons.addButton("Run", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(self.form)
        layout.addWidget(self.buttons)

    def params(self) -> dict[str, Any]:
        raise NotImplementedError


def field_combo(fields: list[str]) -> QComboBox:
    combo = QComboBox()
    combo.addItem(ALL_FIELDS, None)
    for f in fields:
        combo.addItem(f, f)
    return combo


def model_combo(models: list[dict[str, Any]], none_label: str, *, remote: bool = True) -> QComboBox:
    """The library's language models; ``remote=False`` leaves out those on servers (their
    tokenizer is not here)."""
    combo = QComboBox()
    combo.addItem(none_label, None)
    for m in models:
        if (
            m.get("role", "llm") == "llm"
            and not m.get("missing")
            and (remote or not m.get("remote"))
        ):
            combo.addItem(picker_label(m), m["id"])
    return combo


class FilterDialog(StepDialog):
    def __init__(
        self, fields: list[str], models: list[dict[str, Any]], parent: QWidget | None = None
    ) -> None:
        super().__init__(
            "Filter rows",
            "Keep the rows that pass every check below. The result is a new version; Undo brings "
            "the removed rows back.",
            parent,
        )
        self.min_tokens = QSpinBox()
        self.min_tokens.setRange(0, 10_000_000)
        self.min_tokens.setSpecialValueText("no minimum")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(0, 10_000_000)
        self.max_tokens.setSpecialValueText("no maximum")
        self.fit_context = QCheckBox("Drop rows longer than the model's context window")
        self.model = model_combo(models, "Estimate (no model)", remote=False)
        self.model.setToolTip("Count tokens with this model's tokenizer and chat template")
        self.include = QLineEdit()
        self.include.setPlaceholderText("regular expression the row must match")
        self.exclude = QLineEdit()
        self.exclude.setPlaceholderText("regular expression that drops a row")
        self.field = field_combo(fields)
        self.drop_empty = QCheckBox("Drop rows with an empty or missing required field")
        self.form.addRow("At least (tokens)", self.min_tokens)
        self.form.addRow("At most (tokens)", self.max_tokens)
        self.form.addRow("Count tokens with", self.model)
        self.form.addRow("", self.fit_context)
        self.form.addRow("Keep only matching", self.include)
        self.form.addRow("Drop matching", self.exclude)
        self.form.addRow("Match in", self.field)
        self.form.addRow("", self.drop_empty)

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {}
        if self.min_tokens.value():
            p["min_tokens"] = self.min_tokens.value()
        if self.fit_context.isChecked() and self.model.currentData():
            p["max_tokens"] = "context"
        elif self.max_tokens.value():
            p["max_tokens"] = self.max_tokens.value()
        if self.model.currentData():
            p["model_id"] = self.model.currentData()
        for key, edit in (("include", self.include), ("exclude", self.exclude)):
            if edit.text().strip():
                p[key] = edit.text().strip()
        if self.field.currentData() and ("include" in p or "exclude" in p):
            p["field"] = self.field.currentData()
        if self.drop_empty.isChecked():
            p["drop_empty"] = True
        return p


class DedupDialog(StepDialog):
    def __init__(
        self, fields: list[str], options: list[dict[str, Any]], parent: QWidget | None = None
    ) -> None:
        """``options``: ``data.step_options``'s ``dedup`` list (defaults and limits)."""
        super().__init__(
            "Remove duplicates",
            "Exact duplicates compare the normalised text (case, spacing and Unicode forms "
            "ignored). Near duplicates use MinHash: rows whose word 3-grams overlap at least the "
            "threshold. Reviewing first lists the clusters and lets you keep rows.",
            parent,
        )
        self.near = QCheckBox("Near duplicates (not only exact)")
        threshold = next(o for o in options if o["name"] == "threshold")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(*threshold["range"])
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(threshold["default"])
        self.threshold.setToolTip(threshold["help"])
        self.field = field_combo(fields)
        self.review = QCheckBox("Review the clusters before removing anything")
        self.review.setChecked(True)
        self.form.addRow("", self.near)
        self.form.addRow("Similarity threshold", self.threshold)
        self.form.addRow("Compare", self.field)
        self.form.addRow("", self.review)
        self.near.toggled.connect(self.threshold.setEnabled)
        self.threshold.setEnabled(False)

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"near": self.near.isChecked(), "dry_run": self.review.isChecked()}
        if self.near.isChecked():
            p["threshold"] = round(self.threshold.value(), 3)
        if self.field.currentData():
            p["field"] = self.field.currentData()
        return p


class ScrubDialog(StepDialog):
    KINDS = (("email", "E-mail addresses → [EMAIL]"), ("phone", "Phone numbers → [PHONE]"),
             ("ip", "IP addresses → [IP]"))  # fmt: skip

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Scrub personal data",
            "Replace personal data in every text field with a placeholder.",
            parent,
        )
        self.checks: dict[str, QCheckBox] = {}
        for kind, label in self.KINDS:
            box = QCheckBox(label)
            box.setChecked(True)
            self.checks[kind] = box
            self.form.addRow("", box)
        self.preview = QCheckBox("Show what would change before changing it")
        self.preview.setChecked(True)
        self.form.addRow("", self.preview)

    def params(self) -> dict[str, Any]:
        kinds = [k for k, box in self.checks.items() if box.isChecked()]
        return {"kinds": kinds, "dry_run": self.preview.isChecked()}


class ContaminationDialog(StepDialog):
    def __init__(
        self,
        datasets: list[dict[str, Any]],
        current: dict[str, Any],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            "Check for test-set leaks",
            "Lists training rows that share long word n-grams with an evaluation set: another "
            "dataset, or this dataset's validation and test splits.",
            parent,
        )
        self.eval = QComboBox()
        if current.get("splits"):
            self.eval.addItem("This dataset's other splits", None)
        for ds in datasets:
            if ds["id"] != current.get("id"):
                self.eval.addItem(ds["name"], ds["id"])
        self.ngram = QSpinBox()
        self.ngram.setRange(3, 50)
        self.ngram.setValue(8)
        self.ngram.setToolTip("How many words in a row must match")
        self.min_overlap = QDoubleSpinBox()
        self.min_overlap.setRange(0.0, 1.0)
        self.min_overlap.setSingleStep(0.05)
        self.min_overlap.setToolTip("Share of a row's n-grams that must appear in the eval set")
        self.form.addRow("Evaluation set", self.eval)
        self.form.addRow("n-gram length (words)", self.ngram)
        self.form.addRow("Minimum overlap", self.min_overlap)
        if self.eval.count() == 0:
            self.run_button.setEnabled(False)
            self.form.addRow("", QLabel("Split this dataset or import an evaluation set first."))

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"ngram": self.ngram.value(), "min_overlap": self.min_overlap.value()}
        if self.eval.currentData():
            p["eval_id"] = self.eval.currentData()
        return p
