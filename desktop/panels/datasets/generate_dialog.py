"""``GenerateDialog``: set up a ``data.generate`` job -- self-instruct tasks written by a local
model from a few seed tasks, question/answer pairs from a document collection (when the
engine has collections: ``docs.list``), from the files the user ticks (``docs.files``) and up to
the number of pairs asked for, or preference pairs: two answers to each prompt of a dataset, the
better one picked by a judge model (for DPO and ORPO). The prompt is editable; its placeholders
are listed.
The job makes a new dataset, reports progress, can be cancelled and resumed.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient
from desktop.panels.datasets.clean_dialogs import model_combo

SEED_HINT = "One task per line, e.g.\nWrite a haiku about autumn.\nExplain recursion to a child."
QA_PROMPT_HINT = "Optional; placeholders {n}, {chunk}, {file}, {page}"
SI_PROMPT_HINT = "Optional; placeholder {examples} (the seed tasks)"


class GenerateDialog(QDialog):
    def __init__(
        self,
        client: EngineClient,
        models: list[dict[str, Any]],
        parent: QWidget | None = None,
        datasets: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(parent)
        self.client = client
        self.setWindowTitle("Generate a dataset")
        self.resize(600, 560)
        note = QLabel(
            "A local chat model writes the rows. Small models write poor data: check the result, "
            "and filter or edit it before training."
        )
        note.setWordWrap(True)
        self.self_instruct = QRadioButton("Self-instruct: new tasks from a few seed tasks")
        self.qa = QRadioButton("Questions and answers from a document collection")
        self.pairs = QRadioButton("Preference pairs: two answers to each prompt, a judge picks the better")  # fmt: skip
        self.pairs.setToolTip("Makes a preference dataset (prompt, chosen, rejected) for DPO and ORPO training")  # fmt: skip
        self.self_instruct.setChecked(True)
        self.model = model_combo(models, "Default (bundled model)")
        self.name = QLineEdit()
        self.name.setPlaceholderText("name of the new dataset (optional)")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.8)

        self.seeds = QPlainTextEdit()
        self.seeds.setPlaceholderText(SEED_HINT)
        self.count = QSpinBox()
        self.count.setRange(1, 100_000)
        self.count.setValue(20)
        si_page = QWidget()
        si_form = QFormLayout(si_page)
        si_form.addRow("Seed tasks", self.seeds)
        si_form.addRow("Tasks to write", self.count)

        self.collection = QComboBox()
        self.per_chunk = QSpinBox()
        self.per_chunk.setRange(1, 20)
        self.per_chunk.setValue(3)
        self.max_chunks = QSpinBox()
        self.max_chunks.setRange(0, 10_000_000)
        self.max_chunks.setSpecialValueText("all")
        self.qa_count = QSpinBox()
        self.qa_count.setRange(0, 1_000_000)
        self.qa_count.setSpecialValueText("as many as the chunks give")
        self.qa_count.setToolTip(
            "Stop once this many pairs are kept; if the chosen files give fewer, the job says why"
        )
        self.files = QListWidget()
        self.files.setToolTip("Generate only from the ticked files")
        self.files.setMaximumHeight(110)
        self.collection.currentIndexChanged.connect(lambda _i: self._load_files())
        self.qa_note = QLabel()
        self.qa_note.setWordWrap(True)
        self.qa_note.setStyleSheet("color: gray; margin-left: 22px;")
        qa_page = QWidget()
        qa_form = QFormLayout(qa_page)
        qa_form.addRow("Collection", self.collection)
        qa_form.addRow("Pairs per chunk", self.per_chunk)
        qa_form.addRow("Chunks at most", self.max_chunks)
        qa_form.addRow("Pairs to make", self.qa_count)
        qa_form.addRow("Files", self.files)

        self.prompts = QComboBox()
        self.prompts.setToolTip("The dataset whose rows' prompts are answered (rows with one user turn; longer conversations are passed over)")  # fmt: skip
        for d in datasets or []:
            self.prompts.addItem(f"{d['name']} ({d.get('format') or '?'}, {d.get('rows', 0):,} rows)", d["name"])  # fmt: skip
        self.judge = model_combo(models, "Choose a judge…")
        self.judge.setToolTip("Another chat model, asked in both orders which answer is better; "
                              "a verdict that flips with the order makes no pair")  # fmt: skip
        self.pair_count = QSpinBox()
        self.pair_count.setRange(1, 1_000_000)
        self.pair_count.setValue(50)
        self.pairs_note = QLabel(
            "The model answers each prompt twice (sampled); the judge sees both answers twice, "
            "swapped. Identical answers, ties and verdicts that flip are counted and left out."
        )
        self.pairs_note.setWordWrap(True)
        self.pairs_note.setStyleSheet("color: palette(placeholder-text);")
        pairs_page = QWidget()
        pairs_form = QFormLayout(pairs_page)
        pairs_form.addRow("Prompts from", self.prompts)
        pairs_form.addRow("Judge", self.judge)
        pairs_form.addRow("Prompts to answer", self.pair_count)
        pairs_form.addRow(self.pairs_note)

        self.pages = QStackedWidget()
        self.pages.addWidget(si_page)
        self.pages.addWidget(qa_page)
        self.pages.addWidget(pairs_page)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText(SI_PROMPT_HINT)
        self.prompt.setMaximumHeight(90)

        form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("Temperature", self.temperature)
        form.addRow("New dataset", self.name)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.run_button = buttons.addButton("Generate", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.self_instruct)
        layout.addWidget(self.qa)
        layout.addWidget(self.qa_note)
        layout.addWidget(self.pairs)
        layout.addLayout(form)
        layout.addWidget(self.pages, 1)
        self.prompt_label = QLabel("Prompt")
        layout.addWidget(self.prompt_label)
        layout.addWidget(self.prompt)
        layout.addWidget(buttons)
        for radio in (self.self_instruct, self.qa, self.pairs):
            radio.toggled.connect(self._mode_changed)
        self.qa.setEnabled(False)
        self.qa_note.setText("Looking for document collections…")
        request(self, client, "docs.list", ok=self._show_collections,
                fail=lambda _e: self._no_collections("Document collections are not available here."))  # fmt: skip

    def _show_collections(self, result: dict[str, Any]) -> None:
        collections = result.get("collections") or []
        for c in collections:
            self.collection.addItem(c.get("name") or c["id"], c.get("id") or c.get("name"))
        if not collections:
            self._no_collections("No document collections yet: add documents in Documents first.")
            return
        self.qa.setEnabled(True)
        self.qa_note.setText("")
        self.qa_note.hide()

    def _load_files(self) -> None:
        self.files.clear()
        collection = self.collection.currentData()
        if collection:
            request(self, self.client, "docs.files", {"id": collection}, ok=self._show_files)

    def _show_files(self, result: dict[str, Any]) -> None:
        self.files.clear()
        for f in result.get("files") or []:
            if f.get("status") != "indexed":
                continue
            item = QListWidgetItem(f.get("name") or f["path"])
            item.setData(Qt.ItemDataRole.UserRole, f["path"])
            item.setToolTip(f["path"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.files.addItem(item)

    def chosen_files(self) -> list[str] | None:
        """The ticked files' paths; None when all are ticked (the whole collection)."""
        items = [self.files.item(i) for i in range(self.files.count())]
        ticked = [i.data(Qt.ItemDataRole.UserRole) for i in items if i.checkState() == Qt.CheckState.Checked]  # fmt: skip
        return None if len(ticked) == len(items) else ticked

    def _no_collections(self, text: str) -> None:
        self.qa.setEnabled(False)
        self.qa.setToolTip(text)
        self.qa_note.setText(text)

    def _mode_changed(self, *_args) -> None:
        qa, pairs = self.qa.isChecked(), self.pairs.isChecked()
        self.pages.setCurrentIndex(2 if pairs else 1 if qa else 0)
        self.prompt.setPlaceholderText(QA_PROMPT_HINT if qa else SI_PROMPT_HINT)
        self.prompt.setVisible(not pairs)  # the prompts come from the dataset
        self.prompt_label.setVisible(not pairs)
        if pairs and self.temperature.value() < 0.9:
            self.temperature.setValue(0.9)  # two samples of one prompt must differ

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"params": {"temperature": round(self.temperature.value(), 2)}}
        if self.pairs.isChecked():
            p.update(mode="preferences", prompts=self.prompts.currentData(),
                     judge_id=self.judge.currentData(), count=self.pair_count.value())  # fmt: skip
        elif self.qa.isChecked():
            p.update(mode="qa", collection=self.collection.currentData(),
                     per_chunk=self.per_chunk.value())  # fmt: skip
            if self.max_chunks.value():
                p["max_chunks"] = self.max_chunks.value()
            if self.qa_count.value():
                p["count"] = self.qa_count.value()
            files = self.chosen_files()
            if files is not None:
                p["files"] = files
        else:
            seeds = [line.strip() for line in self.seeds.toPlainText().splitlines() if line.strip()]
            p.update(mode="self_instruct", seeds=seeds, count=self.count.value())
        if self.model.currentData():
            p["model_id"] = self.model.currentData()
        if self.prompt.toPlainText().strip() and not self.pairs.isChecked():
            p["prompt"] = self.prompt.toPlainText()
        if self.name.text().strip():
            p["name"] = self.name.text().strip()
        return p
