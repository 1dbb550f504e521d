"""``SplitDialog`` (train/validation/test ratios, seed, stratify column) and ``ExportDialog``
(row format, JSONL or Parquet, which split, where). An export writes a dataset card (README.md)
beside the data: a ``.jsonl``/``.parquet`` path is one file, a folder gets one file per split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from desktop.panels.datasets.clean_dialogs import StepDialog
from desktop.panels.datasets.rowtext import FORMATS


class SplitDialog(StepDialog):
    def __init__(
        self, fields: list[str], options: list[dict[str, Any]], parent: QWidget | None = None
    ) -> None:
        """``options``: ``data.step_options``'s ``split`` list (the default shares)."""
        super().__init__(
            "Split the dataset",
            "Shuffle the rows with a seed and cut them into train, validation and test. The same "
            "seed gives the same split. Stratifying keeps a column's values in the same "
            "proportions in every split.",
            parent,
        )
        self.spins: dict[str, QSpinBox] = {}
        defaults = {o["name"]: o["default"] for o in options}
        for name in ("train", "validation", "test"):
            value = round(100 * defaults[name])
            spin = QSpinBox()
            spin.setRange(0, 100)
            spin.setSuffix(" %")
            spin.setValue(value)
            spin.valueChanged.connect(self._check)
            self.spins[name] = spin
            self.form.addRow(name.capitalize(), spin)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.stratify = QComboBox()
        self.stratify.addItem("No stratification", None)
        for f in fields:
            self.stratify.addItem(f, f)
        self.total_label = QLabel()
        self.form.addRow("Seed", self.seed)
        self.form.addRow("Stratify by", self.stratify)
        self.form.addRow("", self.total_label)
        self._check()

    def _check(self) -> None:
        total = sum(s.value() for s in self.spins.values())
        ok = total == 100 and self.spins["train"].value() > 0
        self.total_label.setText(
            ""
            if ok
            else f"<span style='color:#b52a2a'>The parts add up to {total} %, not 100 %.</span>"
        )
        self.run_button.setEnabled(ok)

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {k: round(s.value() / 100, 4) for k, s in self.spins.items()}
        p["seed"] = self.seed.value()
        if self.stratify.currentData():
            p["stratify_by"] = self.stratify.currentData()
        return p


class ExportDialog(StepDialog):
    def __init__(self, dataset: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(
            "Export the dataset",
            "Writes the rows and a dataset card (README.md: source, format, counts and every "
            "step applied). A path ending in .jsonl or .parquet is one file; any other path is a "
            "folder with one file per split.",
            parent,
        )
        self.resize(620, 300)
        self.run_button.setText("Export")
        self.dataset = dataset
        self.format = QComboBox()
        self.format.addItem(f"As it is ({dataset.get('format')})", None)
        for f in FORMATS:
            if f != dataset.get("format"):
                self.format.addItem(f"Convert to {f}", f)
        self.file_format = QComboBox()
        self.file_format.addItems(["jsonl", "parquet"])
        self.split = QComboBox()
        self.split.addItem("Every row", None)
        for s in dataset.get("splits") or []:
            self.split.addItem(f"{s['name']} ({s['rows']:,} rows)", s["name"])
        self.path = QLineEdit(str(Path.home() / f"{dataset.get('name')}.jsonl"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        holder = QWidget()
        holder.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        self.form.addRow("Rows as", self.format)
        self.form.addRow("File type", self.file_format)
        self.form.addRow("Split", self.split)
        self.form.addRow("Save to", holder)
        self.file_format.currentTextChanged.connect(self._suffix)
        self.path.textChanged.connect(lambda t: self.run_button.setEnabled(bool(t.strip())))

    def _suffix(self, kind: str) -> None:
        path = Path(self.path.text().strip())
        if path.suffix.lower() in (".jsonl", ".parquet"):
            self.path.setText(str(path.with_suffix(f".{kind}")))

    def _browse(self) -> None:
        kind = self.file_format.currentText()
        path, _ = QFileDialog.getSaveFileName(
            self, "Export to", self.path.text(), f"{kind.upper()} (*.{kind});;Folder (*)"
        )
        if path:
            self.path.setText(path)

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {
            "path": self.path.text().strip(),
            "file_format": self.file_format.currentText(),
        }
        if self.format.currentData():
            p["format"] = self.format.currentData()
        if self.split.currentData():
            p["split"] = self.split.currentData()
        return p
