"""The first three pages of the pruning wizard: which model, which method and how much, and which
text to calibrate on. Each page reads its choices from the engine (``models.list``,
``prune.describe``, ``data.list``) and contributes its part of the ``prune.*`` request."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.format import human_bytes, human_count


def note(text: str = "") -> QLabel:
    """A wrapped, selectable line of explanation."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class ModelPage(QWidget):
    """Step 1: a chat model from the library; a GGUF must be converted to torch first."""

    sig_convert = Signal(str)
    sig_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.models: list[dict[str, Any]] = []
        self.combo = QComboBox()
        self.combo.setToolTip(
            "The model to prune: a Hugging Face folder, or a GGUF converted to torch"
        )
        self.details = note()
        self.convert_button = QPushButton("Convert to torch…")
        self.convert_button.setToolTip(
            "Pruning works on torch weights; the GGUF is converted once and cached"
        )
        self.convert_button.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(note("Choose the model to make smaller. The original stays as it is; the pruned model is added to the library beside it."))  # fmt: skip
        form = QFormLayout()
        form.addRow("Model", self.combo)
        layout.addLayout(form)
        layout.addWidget(self.details)
        layout.addWidget(self.convert_button)
        layout.addStretch(1)
        self.combo.currentIndexChanged.connect(self._changed)
        self.convert_button.clicked.connect(lambda: self.model and self.sig_convert.emit(self.model["id"]))  # fmt: skip

    def set_models(self, models: list[dict[str, Any]]) -> None:
        current = self.model["id"] if self.model else None
        self.models = [m for m in models if m.get("role") == "llm" and m["capabilities"].get("prune")]  # fmt: skip
        self.combo.blockSignals(True)
        self.combo.clear()
        for m in self.models:
            label = (
                f"{m['name']}  ({m['format'].upper()}, {human_count(m.get('params'))} parameters)"
            )
            self.combo.addItem(label, m["id"])
        if current is not None:
            self.select(current)
        self.combo.blockSignals(False)
        self._changed()

    def select(self, model_id: str) -> None:
        index = self.combo.findData(model_id)
        if index >= 0:
            self.combo.setCurrentIndex(index)

    @property
    def model(self) -> dict[str, Any] | None:
        index = self.combo.currentIndex()
        return self.models[index] if 0 <= index < len(self.models) else None

    def needs_conversion(self) -> bool:
        m = self.model
        return bool(m and m["format"] == "gguf" and not m.get("torch_path"))

    def _changed(self) -> None:
        m = self.model
        if m is None:
            self.details.setText("No model in the library can be pruned. Import a Hugging Face model or a GGUF of a supported architecture in Models.")  # fmt: skip
            self.convert_button.hide()
        else:
            lines = [f"{m['arch'] or 'unknown architecture'} · {human_count(m.get('params'))} parameters · {human_bytes(m.get('size_bytes'))}"]  # fmt: skip
            lineage = m.get("lineage")
            if lineage:
                lines.append(f"Made from {lineage.get('parent_name')} by {lineage.get('method')} ({lineage.get('amount')}).")  # fmt: skip
            if self.needs_conversion():
                lines.append("This GGUF has not been converted to torch yet: convert it first (about a minute for the bundled model; it is cached).")  # fmt: skip
            self.details.setText("\n".join(lines))
            self.convert_button.setVisible(self.needs_conversion())
        self.sig_changed.emit()

    def ready(self) -> str | None:
        if self.model is None:
            return "Choose a model first."
        if self.needs_conversion():
            return "Convert the GGUF to torch first (button above)."
        return None


class MethodPage(QWidget):
    """Step 2: width, depth or attention, how to choose, and how much."""

    sig_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info: dict[str, Any] = {}
        self.group = QButtonGroup(self)
        self.radios: dict[str, QRadioButton] = {}
        self.abouts: dict[str, QLabel] = {}
        self.box = QVBoxLayout()
        self.selector = QComboBox()
        self.selector_help = note()
        self.amounts = QStackedWidget()
        # width
        width = QWidget()
        wform = QFormLayout(width)
        self.percent = QDoubleSpinBox()
        self.percent.setRange(1, 95)
        self.percent.setValue(20)
        self.percent.setSuffix(" % of MLP neurons")
        self.percent.setToolTip("The same share is removed from every block, so the model stays loadable everywhere")  # fmt: skip
        self.divisor = QComboBox()
        self.refit = QCheckBox("Refit what stays on the calibration text (least squares)")
        self.refit.setChecked(True)
        self.refit.setToolTip("Folds the removed neurons' average effect into the kept ones; much better quality for a few seconds")  # fmt: skip
        wform.addRow("Remove", self.percent)
        wform.addRow("Round width down to a multiple of", self.divisor)
        wform.addRow("", self.refit)
        # depth
        depth = QWidget()
        dform = QFormLayout(depth)
        self.blocks = QSpinBox()
        self.blocks.setRange(1, 512)
        self.blocks.setValue(2)
        self.blocks.setSuffix(" blocks")
        self.layers_list = QLineEdit()
        self.layers_list.setPlaceholderText("e.g. 10, 12")
        dform.addRow("Remove", self.blocks)
        dform.addRow("Blocks (for 'layers')", self.layers_list)
        # attention
        attn = QWidget()
        aform = QFormLayout(attn)
        self.modules = QSpinBox()
        self.modules.setRange(1, 512)
        self.modules.setValue(2)
        self.modules.setSuffix(" attention modules")
        aform.addRow("Bypass", self.modules)
        for page in (width, depth, attn):
            self.amounts.addWidget(page)

        layout = QVBoxLayout(self)
        layout.addLayout(self.box)
        form = QFormLayout()
        form.addRow("Choose by", self.selector)
        layout.addLayout(form)
        layout.addWidget(self.selector_help)
        amount = QGroupBox("How much")
        QVBoxLayout(amount).addWidget(self.amounts)
        layout.addWidget(amount)
        layout.addStretch(1)
        self.group.buttonToggled.connect(lambda *_: self._method_changed())
        self.selector.currentIndexChanged.connect(self._selector_changed)

    def set_info(self, info: dict[str, Any]) -> None:
        self.info = info
        for m in info.get("methods", []):
            if m["name"] in self.radios:
                continue
            radio = QRadioButton(m["name"].capitalize())
            about = note(m["about"])
            about.setIndent(22)
            self.radios[m["name"]] = radio
            self.abouts[m["name"]] = about
            self.group.addButton(radio)
            self.box.addWidget(radio)
            self.box.addWidget(about)
        self.divisor.clear()
        for d in info.get("divisors", [1]):
            self.divisor.addItem("no rounding" if d == 1 else str(d), d)
        self.divisor.setCurrentIndex(max(0, self.divisor.findData((info.get("defaults") or {}).get("divisor", 1))))  # fmt: skip
        self.divisor.setToolTip("GGUF quantizations pack rows in blocks of 32: other widths stay f16 there and the export grows")  # fmt: skip
        if self.radios and self.group.checkedButton() is None:
            self.radios["width"].setChecked(True)

    @property
    def method(self) -> str:
        for name, radio in self.radios.items():
            if radio.isChecked():
                return name
        return "width"

    def _spec(self) -> dict[str, Any]:
        return next((m for m in self.info.get("methods", []) if m["name"] == self.method), {"selectors": []})  # fmt: skip

    def _method_changed(self) -> None:
        spec = self._spec()
        self.selector.blockSignals(True)
        self.selector.clear()
        for s in spec["selectors"]:
            self.selector.addItem(s["name"], s["help"])
        index = self.selector.findText(spec.get("default_selector", ""))
        self.selector.setCurrentIndex(max(0, index))
        self.selector.blockSignals(False)
        self.amounts.setCurrentIndex(["width", "depth", "attention"].index(self.method))
        self._selector_changed()

    def _selector_changed(self) -> None:
        self.selector_help.setText(self.selector.currentData() or "")
        sel = self.selector.currentText()
        self.modules.setEnabled(sel != "adaptive")
        self.layers_list.setEnabled(sel == "layers")
        self.blocks.setEnabled(sel != "layers")
        self.sig_changed.emit()

    def request(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "selector": self.selector.currentText()}
        if self.method == "width":
            out.update(percent=self.percent.value(), refit=self.refit.isChecked())
            out["divisor"] = int(self.divisor.currentData() or 1)
        elif self.method == "depth":
            if out["selector"] == "layers":
                out["layers_list"] = [int(x) for x in self.layers_list.text().replace(" ", "").split(",") if x.isdigit()]  # fmt: skip
            else:
                out["layers"] = self.blocks.value()
        elif out["selector"] != "adaptive":
            out["layers"] = self.modules.value()
        return out

    def ready(self) -> str | None:
        if self.method == "depth" and self.selector.currentText() == "layers" and not self.request().get("layers_list"):  # fmt: skip
            return "List the blocks to remove, e.g. 10, 12."
        return None


class CalibrationPage(QWidget):
    """Step 3: the text that decides what goes and measures the result."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.builtin = QRadioButton("Python's reference documentation (built in, English prose and code)")  # fmt: skip
        self.builtin.setChecked(True)
        self.use_dataset = QRadioButton("A dataset")
        self.use_file = QRadioButton("A text, Markdown or JSONL file")
        self.dataset = QComboBox()
        self.file = QLineEdit()
        self.file.setPlaceholderText("path to a file")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.file, 1)
        row.addWidget(browse)
        self.cal_tokens = QSpinBox()
        self.cal_tokens.setRange(256, 1_000_000)
        self.cal_tokens.setSingleStep(1024)
        self.cal_tokens.setValue(8192)
        self.eval_tokens = QSpinBox()
        self.eval_tokens.setRange(0, 1_000_000)
        self.eval_tokens.setSingleStep(1024)
        self.eval_tokens.setValue(4096)
        self.seq_len = QSpinBox()
        self.seq_len.setRange(16, 8192)
        self.seq_len.setValue(256)
        layout = QVBoxLayout(self)
        layout.addWidget(note("Pruning keeps what matters on this text, so choose text like the model's future work. The first part calibrates; the text after it measures perplexity, so the result is never scored on what chose it."))  # fmt: skip
        layout.addWidget(self.builtin)
        layout.addWidget(self.use_dataset)
        layout.addWidget(self.dataset)
        layout.addWidget(self.use_file)
        layout.addLayout(row)
        form = QFormLayout()
        form.addRow("Calibration tokens", self.cal_tokens)
        form.addRow("Held-out tokens for perplexity", self.eval_tokens)
        form.addRow("Window length (tokens)", self.seq_len)
        layout.addLayout(form)
        layout.addStretch(1)

    def set_defaults(self, defaults: dict[str, Any]) -> None:
        self.cal_tokens.setValue(int(defaults.get("calibration_tokens", self.cal_tokens.value())))
        self.eval_tokens.setValue(int(defaults.get("eval_tokens", self.eval_tokens.value())))
        self.seq_len.setValue(int(defaults.get("seq_len", self.seq_len.value())))

    def set_datasets(self, datasets: list[dict[str, Any]]) -> None:
        self.dataset.clear()
        for d in datasets:
            self.dataset.addItem(d["name"], d["name"])
        self.use_dataset.setEnabled(bool(datasets))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Calibration text", "", "Text (*.txt *.md *.jsonl);;All files (*)")  # fmt: skip
        if path:
            self.file.setText(path)
            self.use_file.setChecked(True)

    def request(self) -> dict[str, Any]:
        out: dict[str, Any] = {"calibration_tokens": self.cal_tokens.value(),
                               "eval_tokens": self.eval_tokens.value(), "seq_len": self.seq_len.value()}  # fmt: skip
        if self.use_dataset.isChecked() and self.dataset.currentData():
            out["dataset"] = self.dataset.currentData()
        elif self.use_file.isChecked() and self.file.text().strip():
            out["file"] = self.file.text().strip()
        return out

    def ready(self) -> str | None:
        if self.use_file.isChecked() and not self.file.text().strip():
            return "Choose the calibration file, or another source."
        if self.use_dataset.isChecked() and not self.dataset.currentData():
            return "Choose the calibration dataset, or another source."
        return None
