"""``QuantizeDialog``: pick the quantization a model is written in (``models.quantize``).

The choices come from the engine (``models.quantize_options``): each type with what it is, the
size it will take, and, when the model cannot take it (already quantized to that or fewer bits,
an adapter), the reason, shown on the disabled choice.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop.format import human_bytes

PREFERRED = ("q4_k_m", "q5_k_m", "q6_k", "q8_0", "f16")  # the first allowed one is picked


class QuantizeDialog(QDialog):
    def __init__(self, options: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Quantize {options['name']}")
        source = options.get("source_quant") or "not quantized (16 or 32-bit weights)"
        size = human_bytes(options.get("source_bytes")) if options.get("source_bytes") else "–"
        intro = QLabel(
            f"Now: {source}, {size}.<br>A new GGUF is written with llama.cpp's quantizer and "
            "added to the library next to this one; this model stays as it is."
        )
        intro.setWordWrap(True)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        for t in options["types"]:
            text = f"{t['quant']}  —  {t['help']}  (about {human_bytes(t['estimated_bytes'])})"
            button = QRadioButton(text)
            button.setEnabled(bool(t["allowed"]))
            if not t["allowed"]:
                button.setToolTip(t["reason"])
            self.group.addButton(button)
            self.buttons[t["quant"]] = button
            layout.addWidget(button)
        allowed = [q for q in PREFERRED if self.buttons.get(q) and self.buttons[q].isEnabled()]
        if allowed:
            self.buttons[allowed[0]].setChecked(True)
        # nothing allowed: the reason for the smallest type says it all (and what to do)
        self.why = QLabel("" if allowed else options["types"][-1]["reason"])
        self.why.setWordWrap(True)
        self.why.setVisible(not allowed)
        layout.addWidget(self.why)
        if options.get("requantize") and allowed:
            note = QLabel(
                "This model is already quantized: it is quantized again, which loses a little "
                "more than quantizing its f16 or f32 original would."
            )
            note.setWordWrap(True)
            layout.addWidget(note)
        self.compare = QCheckBox("Then compare its perplexity with this model's in Evaluate")
        self.compare.setChecked(True)
        self.compare.setEnabled(bool(allowed))
        layout.addWidget(self.compare)
        box = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = box.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Quantize")
        self.ok.setEnabled(bool(allowed))
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout.addWidget(box)

    def quant(self) -> str | None:
        return next((q for q, b in self.buttons.items() if b.isChecked()), None)
