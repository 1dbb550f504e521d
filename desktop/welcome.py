"""``WelcomeDialog``: the one page a first start shows -- what each panel is for, where Hearth
keeps its data (with a way to choose another folder), and that nothing leaves this computer.

Shown once (``welcome/shown`` in the window's settings); Help > Welcome shows it again. The
bundled models are prepared by the engine meanwhile; the status bar shows that job's progress.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.panels import PanelSpec
from hearth_common import location

SHOWN_KEY = "welcome/shown"


class WelcomeDialog(QDialog):
    def __init__(self, specs: list[PanelSpec], icon_for: object, parent: QWidget | None = None, *, first: bool = False) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Welcome to Hearth")
        self.setMinimumWidth(620)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "<h2>Welcome to Hearth</h2>"
            "<p>Chat with local models, ask your documents, build datasets, fine-tune, prune, check "
            "bias and evaluate – with the network unplugged. Nothing you do here leaves this "
            "computer unless you connect a server yourself.</p>"
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        for row, spec in enumerate(specs):
            icon = QLabel()
            drawn = icon_for(spec.icon) if callable(icon_for) else QIcon()
            icon.setPixmap(drawn.pixmap(QSize(20, 20)))
            name = QLabel(f"<b>{spec.title}</b>")
            what = QLabel(spec.tooltip or "")
            what.setWordWrap(True)
            grid.addWidget(icon, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(name, row, 1, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(what, row, 2)
        grid.setColumnStretch(2, 1)
        layout.addLayout(grid)

        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choose_button = QPushButton("Choose another folder…")
        self.choose_button.setToolTip("Where models, documents, datasets and runs are kept")
        self.choose_button.clicked.connect(self.choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_label, 1)
        folder_row.addWidget(self.choose_button)
        layout.addSpacing(8)
        layout.addLayout(folder_row)
        self.note = QLabel(
            ("The bundled Gemma 3 270M and the document embedder are being prepared (once, a "
             "few seconds); the status bar shows the progress. " if first else "")
            + "Gemma 3 270M is a small base model: import a larger chat model in Models for real "
            "conversations."
        )  # fmt: skip
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(self.note)

        buttons = QDialogButtonBox()
        start = buttons.addButton("Get started", QDialogButtonBox.ButtonRole.AcceptRole)
        start.setDefault(True)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)
        self.chosen: Path | None = None
        self._show_folder(location.current_folder(), later=False)
        self.choose_button.setEnabled(not location.env_folder())

    def _show_folder(self, folder: Path, *, later: bool) -> None:
        text = f"Your data is kept in <b>{folder}</b>"
        if later:
            text += " from the next start of Hearth"
        elif location.env_folder():
            text += " (set by HEARTH_HOME)"
        self.folder_label.setText(text + ".")

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose Hearth's data folder", str(Path.home()))  # fmt: skip
        if path:
            self.use_folder(Path(path))

    def use_folder(self, folder: Path) -> bool:
        """Remember ``folder`` as the data folder from the next start (False: it cannot be)."""
        problem = location.unwritable(folder)
        if problem is None:
            try:
                location.choose_folder(location.os_config_dir(), folder)
            except OSError as exc:
                problem = f"Could not remember the data folder ({exc.strerror or exc})"
        if problem is not None:
            self.note.setText(f"{problem}; pick another folder.")
            self.note.setStyleSheet("color: #d9534f;")
            return False
        self.chosen = folder
        self._show_folder(folder, later=True)
        return True


def show_once(settings: QSettings, specs: list[PanelSpec], icon_for: object, parent: QWidget) -> WelcomeDialog | None:  # fmt: skip
    """Open the welcome page unless it was shown before; returns it (None when not shown)."""
    if settings.value(SHOWN_KEY, False, type=bool):
        return None
    dialog = WelcomeDialog(specs, icon_for, parent, first=True)
    settings.setValue(SHOWN_KEY, True)
    dialog.open()
    return dialog
