"""``ConversationHeader``: the line above the conversation -- its title (elided, so a long
title never widens the window), the Export menu and the Settings toggle."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QMenu, QToolButton, QWidget

from desktop.elided_label import ElidedLabel


class ConversationHeader(QWidget):
    def __init__(self, export_menu: QMenu, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = ElidedLabel()
        self.title.setStyleSheet("font-size: 12pt; font-weight: bold;")
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setToolTip("Save this conversation as Markdown or JSON")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.export_button.setMenu(export_menu)
        self.settings_button = QToolButton()
        self.settings_button.setText("Settings")
        self.settings_button.setCheckable(True)
        self.settings_button.setChecked(True)
        self.settings_button.setToolTip(
            "Show or hide the model, system prompt and sampling settings"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title, 1)
        layout.addWidget(self.export_button)
        layout.addWidget(self.settings_button)
