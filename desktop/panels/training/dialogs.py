"""Dialogs of the Training panel: export a run to GGUF (merged with a quantization, or the
adapter), and evaluate it (optional prompts, answer length)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

QUANTS = (
    ("q8_0", "q8_0 — 8-bit, about half the size of f16, near-lossless"),
    ("f16", "f16 — 16-bit, lossless for bf16/fp16 training"),
    ("f32", "f32 — full precision, largest"),
)


class ExportDialog(QDialog):
    """``train.export`` params: ``{what: "merged", quant}`` or ``{what: "adapter"}``."""

    def __init__(self, run: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export to GGUF")
        self.merged = QRadioButton("Merged model: the adapter folded into the base weights")
        self.adapter = QRadioButton("Adapter only: a llama.cpp LoRA GGUF used on top of the base")
        group = QButtonGroup(self)
        group.addButton(self.merged)
        group.addButton(self.adapter)
        self.merged.setChecked(True)
        self.quant = QComboBox()
        for value, label in QUANTS:
            self.quant.addItem(label, value)
        self.merged.toggled.connect(self.quant.setEnabled)
        method = run.get("method")
        if method in ("dora", "full"):
            self.adapter.setEnabled(False)
            self.adapter.setToolTip(
                "A full fine-tune has no adapter"
                if method == "full"
                else "DoRA adapters export merged only"
            )
        note = QLabel(
            "The GGUF is added to the model library, so it can be chatted with in llama.cpp."
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Quantization", self.quant)
        layout = QVBoxLayout(self)
        layout.addWidget(self.merged)
        layout.addLayout(form)
        layout.addWidget(self.adapter)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def params(self) -> dict[str, Any]:
        if self.adapter.isChecked():
            return {"what": "adapter"}
        return {"what": "merged", "quant": self.quant.currentData()}


class EvalDialog(QDialog):
    """``train.eval`` params: prompts (one per line; none = the run's sample prompts or the first
    validation prompts) and the answer length."""

    def __init__(self, run: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Evaluate run")
        self.prompts = QPlainTextEdit()
        self.prompts.setPlaceholderText(
            "One prompt per line. Empty: the run's sample prompts, else the first validation prompts."
        )
        sample = ((run.get("options") or {}).get("sample_prompts")) or []
        self.prompts.setPlainText("\n".join(sample))
        self.tokens = QSpinBox()
        self.tokens.setRange(1, 4096)
        self.tokens.setValue(64)
        self.tokens.setToolTip("The longest answer, in tokens, for the base and the tuned model")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Evaluate")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Max new tokens", self.tokens)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Perplexity on the validation rows before and after, and the "
                                "base and tuned model's answers to these prompts:"))  # fmt: skip
        layout.addWidget(self.prompts)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def params(self) -> dict[str, Any]:
        prompts = [p.strip() for p in self.prompts.toPlainText().splitlines() if p.strip()]
        out: dict[str, Any] = {"max_new_tokens": self.tokens.value()}
        if prompts:
            out["prompts"] = prompts
        return out
