"""``PreferencesDialog``: the data folder, the theme, the default chat model and CPU threads.

The data folder is remembered outside it (``hearth_common.location``) and used from the next
start; the theme is the app's own setting (``QSettings``), applied at once; the default model and
threads are the engine's preferences (``prefs.get`` / ``prefs.set``), so the CLI follows them too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.engine_client import EngineClient
from desktop.panels.models.table_model import picker_label
from desktop.widgets import MessageBar
from hearth_common import location
from hearth_common.location import os_config_dir

THEMES = (("system", "Same as the system"), ("light", "Light"), ("dark", "Dark"))


def apply_theme(name: str) -> None:
    """Light, dark, or the system's colours (Qt 6.8 and later; older Qt keeps the system's)."""
    hints = QGuiApplication.styleHints()
    if not hasattr(hints, "setColorScheme"):
        return
    scheme = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}.get(
        name, Qt.ColorScheme.Unknown
    )
    hints.setColorScheme(scheme)


def saved_theme(settings: QSettings) -> str:
    value = settings.value("appearance/theme", "system", type=str)
    return value if value in dict(THEMES) else "system"


class PreferencesDialog(QDialog):
    def __init__(
        self, client: EngineClient, settings: QSettings, data_root: str | None,
        parent: QWidget | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.client = client
        self.settings = settings
        self.setWindowTitle("Preferences")
        self.message = MessageBar()
        self._prefs: dict[str, Any] = {}
        self._folder: Path | None = location.chosen_folder(os_config_dir())

        here = location.data_folder(os_config_dir(), location.os_data_dir())
        self.folder_edit = QLineEdit(data_root or str(here))
        self.folder_edit.setReadOnly(True)
        self.folder_edit.setMinimumWidth(360)
        self.change_button = QPushButton("Change…")
        self.change_button.clicked.connect(self._choose_folder)
        self.default_button = QPushButton("Use the default")
        self.default_button.clicked.connect(self._default_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.change_button)
        folder_row.addWidget(self.default_button)
        self.folder_note = QLabel(
            "Models, collections, datasets and runs live here. A new folder is used from the "
            "next start; the files in the current one stay where they are."
        )
        if os.environ.get("HEARTH_HOME"):
            self.folder_note.setText("Set by the HEARTH_HOME environment variable for this run.")
            self.change_button.setEnabled(False)
            self.default_button.setEnabled(False)
        self.folder_note.setWordWrap(True)
        self.folder_note.setStyleSheet("color: palette(placeholder-text);")

        self.theme_combo = QComboBox()
        for key, label in THEMES:
            self.theme_combo.addItem(label, key)
        self.theme_combo.setCurrentIndex(self.theme_combo.findData(saved_theme(settings)))

        self.model_combo = QComboBox()
        self.model_combo.addItem("Automatic (the bundled model)", None)
        self.model_combo.setToolTip(
            "The chat model of new conversations and of commands that name none"
        )
        self.threads_spin = QSpinBox()
        self.threads_spin.setRange(0, 1024)
        self.threads_spin.setSpecialValueText("automatic (physical cores)")
        self.threads_spin.setToolTip(
            "CPU threads llama.cpp uses for models without their own setting (Chat ▸ Model loading)"
        )

        form = QFormLayout()
        form.addRow("Data folder", folder_row)
        form.addRow("", self.folder_note)
        form.addRow("Theme", self.theme_combo)
        form.addRow("Default chat model", self.model_combo)
        form.addRow("CPU threads", self.threads_spin)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setEnabled(False)  # until the engine's preferences are in
        self._load()

    def _load(self) -> None:
        waiting = {"prefs", "models"}

        def done(part: str) -> None:
            waiting.discard(part)
            if not waiting:
                self._show()

        def got_prefs(reply: dict[str, Any]) -> None:
            self._prefs = reply.get("preferences") or {}
            done("prefs")

        def got_models(reply: dict[str, Any]) -> None:
            for m in reply.get("models") or []:
                if m.get("role") in ("llm", "adapter") and not m.get("missing"):
                    self.model_combo.addItem(picker_label(m), m["id"])
            done("models")

        fail = lambda error: self.message.show_message(error.message, "error")  # noqa: E731
        self.client.call("prefs.get").on_success(got_prefs).on_failure(fail)
        self.client.call("models.list").on_success(got_models).on_failure(fail)

    def _show(self) -> None:
        row = self.model_combo.findData(self._prefs.get("default_model"))
        self.model_combo.setCurrentIndex(max(row, 0))
        self.threads_spin.setValue(int(self._prefs.get("threads") or 0))
        self.ok_button.setEnabled(True)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose Hearth's data folder", self.folder_edit.text())  # fmt: skip
        if not path:
            return
        problem = location.unwritable(Path(path))
        if problem:
            self.message.show_message(f"{problem}; pick another folder.", "error")
            return
        self._folder = Path(path)
        self.folder_edit.setText(path)
        self.message.show_message("Hearth will use this folder from its next start.")

    def _default_folder(self) -> None:
        self._folder = None
        self.folder_edit.setText(str(location.os_data_dir()))
        self.message.show_message("Hearth will use its default folder from its next start.")

    def save(self) -> None:
        theme = self.theme_combo.currentData()
        self.settings.setValue("appearance/theme", theme)
        apply_theme(theme)
        config = os_config_dir()
        if not os.environ.get("HEARTH_HOME") and self._folder != location.chosen_folder(config):
            try:
                location.choose_folder(config, self._folder)
            except OSError as exc:
                self.message.show_message(f"Could not remember the data folder: {exc.strerror or exc}.", "error")  # fmt: skip
                return
        values = {
            "default_model": self.model_combo.currentData(),
            "threads": self.threads_spin.value() or None,
        }
        self.client.call("prefs.set", {"values": values}).on_success(
            lambda _r: self.accept()
        ).on_failure(lambda error: self.message.show_message(error.message, "error"))
