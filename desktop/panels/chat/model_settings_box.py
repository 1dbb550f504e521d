"""``ModelSettingsBox``: how the chosen model is loaded -- context length, CPU threads, GPU layers.

These are the model's own settings (``chat.model_settings``), kept per model and used by every
conversation with it; a change reloads the model at the next reply. Zero means "let the engine
choose" (the model's context up to 4096 tokens, the machine's physical cores, every layer on the
GPU when llama.cpp was built with GPU support).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QSpinBox, QWidget

# (setting, label, lowest, highest, what 0 -- the special value -- means)
FIELDS = (
    ("n_ctx", "Context length", 128, 1 << 20, "model's (up to 4096)"),
    ("n_threads", "CPU threads", 1, 1024, "automatic"),
    ("n_gpu_layers", "GPU layers", -1, 10_000, "automatic"),
)


class ModelSettingsBox(QGroupBox):
    sig_changed = Signal(dict)
    """The user changed settings: {name: value or None for the engine's choice}."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model loading", parent)
        self._loading = False
        self.spins: dict[str, QSpinBox] = {}
        form = QFormLayout(self)
        for name, label, low, high, automatic in FIELDS:
            spin = QSpinBox()
            # one step below the lowest real value stands for "unset" (shown as its meaning)
            spin.setRange(low - 1 if name != "n_gpu_layers" else -2, high)
            spin.setSpecialValueText(automatic)
            spin.setValue(spin.minimum())  # before a model is known: the engine's choice
            spin.setKeyboardTracking(False)  # one change when the user is done typing
            spin.valueChanged.connect(lambda _v, n=name: self._changed(n))
            self.spins[name] = spin
            form.addRow(label, spin)
        self.note = QLabel("Used by every chat with this model; it reloads at the next reply.")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(placeholder-text);")
        form.addRow(self.note)
        self.setEnabled(False)

    def show_settings(self, reply: dict[str, Any] | None) -> None:
        """Fill from ``chat.model_settings``'s answer (None: no model chosen)."""
        self._loading = True
        try:
            settings = (reply or {}).get("settings") or {}
            helps = (reply or {}).get("help") or {}
            for name, spin in self.spins.items():
                value = settings.get(name)
                spin.setValue(spin.minimum() if value is None else int(value))
                if helps.get(name):
                    spin.setToolTip(helps[name])
            self.setEnabled(reply is not None)
        finally:
            self._loading = False

    def values(self) -> dict[str, Any]:
        return {n: None if s.value() == s.minimum() else s.value() for n, s in self.spins.items()}

    def _changed(self, name: str) -> None:
        if not self._loading:
            self.sig_changed.emit({name: self.values()[name]})
