"""The main window's menu bar: File, Edit, View, Help.

Edit acts on the focused text field -- undo, redo, cut, copy, paste, select all -- and each
action is enabled only when it would do something there (nothing to undo: Undo is greyed out).
Its keys are the text fields' own, shown in the menu but not taken from the widgets.
View lists the panels (their Ctrl+digit shortcuts belong to the window). Help opens the offline
help and About.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QLineEdit, QMenu, QPlainTextEdit, QTextEdit

from desktop import about
from desktop.preferences import PreferencesDialog

if TYPE_CHECKING:
    from desktop.main_window import MainWindow

EDIT_ACTIONS = (
    ("undo", "&Undo", QKeySequence.StandardKey.Undo),
    ("redo", "&Redo", QKeySequence.StandardKey.Redo),
    ("cut", "Cu&t", QKeySequence.StandardKey.Cut),
    ("copy", "&Copy", QKeySequence.StandardKey.Copy),
    ("paste", "&Paste", QKeySequence.StandardKey.Paste),
    ("selectAll", "Select &All", QKeySequence.StandardKey.SelectAll),
)


def edit_state(widget: Any) -> dict[str, bool]:
    """Which Edit actions would do something in ``widget`` (all False for a non-text widget)."""
    clipboard = bool(QApplication.clipboard().text())
    if isinstance(widget, QLineEdit):
        writable = not widget.isReadOnly()
        selected = widget.hasSelectedText()
        return {"undo": writable and widget.isUndoAvailable(),
                "redo": writable and widget.isRedoAvailable(),
                "cut": writable and selected, "copy": selected,
                "paste": writable and clipboard, "selectAll": bool(widget.text())}  # fmt: skip
    if isinstance(widget, (QPlainTextEdit, QTextEdit)):
        writable = not widget.isReadOnly()
        document = widget.document()
        selected = widget.textCursor().hasSelection()
        return {"undo": writable and document.isUndoAvailable(),
                "redo": writable and document.isRedoAvailable(),
                "cut": writable and selected, "copy": selected,
                "paste": writable and clipboard, "selectAll": not document.isEmpty()}  # fmt: skip
    return dict.fromkeys((name for name, _, _ in EDIT_ACTIONS), False)


class MenuBar:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        bar = window.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.import_action = self._add(self.file_menu, "&Import model…", self._import_model)
        self.file_menu.addSeparator()
        self.prefs_action = self._add(self.file_menu, "&Preferences…", self.open_preferences,
                                      QKeySequence("Ctrl+,"))  # fmt: skip
        self.file_menu.addSeparator()
        self.quit_action = self._add(self.file_menu, "&Quit", window.close, QKeySequence("Ctrl+Q"))

        self.edit_menu = bar.addMenu("&Edit")
        self.edit_actions: dict[str, QAction] = {}
        for name, label, key in EDIT_ACTIONS:
            # the key is shown, not bound: the focused widget keeps handling it itself (a
            # table's Ctrl+A selects its rows; a window-wide shortcut would take the key)
            keys = QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)
            self.edit_actions[name] = self._add(self.edit_menu, f"{label}\t{keys}", lambda n=name: self._edit(n))  # fmt: skip
        self.edit_menu.aboutToShow.connect(self.update_edit)

        self.view_menu = bar.addMenu("&View")
        for index, spec in enumerate(window.specs):
            text = spec.title + (f"\tCtrl+{index + 1}" if index < 9 else "")
            self._add(self.view_menu, text, lambda i=spec.id: window.show_panel(i))

        self.help_menu = bar.addMenu("&Help")
        self.help_action = self._add(self.help_menu, "Hearth &help", self.open_help, QKeySequence("F1"))  # fmt: skip
        self.welcome_action = self._add(self.help_menu, "&Welcome page", self.open_welcome)
        self.about_action = self._add(self.help_menu, "&About Hearth", self.open_about)
        self.dialog: Any = None  # the last dialog opened (tests look at it)

    def _add(self, menu: QMenu, text: str, slot: Any, key: QKeySequence | None = None) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(lambda _checked=False: slot())
        if key is not None:
            action.setShortcut(key)
        return action

    # -- File -----------------------------------------------------------------------------

    def _import_model(self) -> None:
        self.window.show_panel("models")
        models = self.window.panels.get("models")
        if models is not None and hasattr(models, "choose_file"):
            models.choose_file()

    def open_preferences(self) -> None:
        reply = self.window.client.init_reply or {}
        self.dialog = PreferencesDialog(self.window.client, self.window.settings, reply.get("data_root"), self.window)  # fmt: skip
        self.dialog.open()

    # -- Edit -----------------------------------------------------------------------------

    def update_edit(self) -> None:
        state = edit_state(QApplication.focusWidget())
        for name, action in self.edit_actions.items():
            action.setEnabled(state[name])

    def _edit(self, name: str) -> None:
        widget = QApplication.focusWidget()
        if edit_state(widget).get(name):
            getattr(widget, name)()

    # -- Help -----------------------------------------------------------------------------

    def open_welcome(self) -> None:
        from desktop.welcome import WelcomeDialog

        self.dialog = WelcomeDialog(self.window.specs, self.window.panel_icon, self.window)
        self.dialog.open()

    def open_help(self) -> None:
        reply = self.window.client.init_reply or {}
        self.dialog = about.help_dialog(self.window.specs, reply.get("data_root"), self.window)
        self.dialog.open()

    def open_about(self) -> None:
        self.dialog = about.about_dialog(self.window.client.init_reply, self.window)
        self.dialog.open()
