"""The menu bar on the fake engine: Quit, Edit enabled only where it would act, View, Help's
offline pages, and Preferences (the theme, the data folder, the engine's preferences)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QTableView

from desktop import about, menus
from desktop.main_window import MainWindow
from desktop.preferences import PreferencesDialog, saved_theme
from hearth_common import location


@pytest.fixture
def window(qtbot, make_client):
    win = MainWindow(make_client())
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.client.init_reply is not None, timeout=10000)
    return win


def titles(window) -> list[str]:
    return [a.text() for a in window.menuBar().actions()]


def test_menus_and_quit(qtbot, window):
    assert titles(window) == ["&File", "&Edit", "&View", "&Help"]
    bar = window.menus
    assert bar.quit_action.shortcut().toString() == "Ctrl+Q"
    assert bar.prefs_action.shortcut().toString() == "Ctrl+,"
    views = [a.text().split("\t")[0] for a in bar.view_menu.actions()]
    assert views == [s.title for s in window.specs]
    bar.view_menu.actions()[-1].trigger()
    assert window.current_panel_id() == window.specs[-1].id
    bar.quit_action.trigger()
    assert not window.isVisible()


def test_edit_acts_only_where_there_is_something_to_do(qtbot, window):
    field = QLineEdit(window)
    field.show()
    field.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is field, timeout=5000)
    window.menus.update_edit()
    actions = window.menus.edit_actions
    assert not actions["undo"].isEnabled() and not actions["copy"].isEnabled()
    qtbot.keyClicks(field, "hello")
    window.menus.update_edit()
    assert actions["undo"].isEnabled() and actions["selectAll"].isEnabled()
    actions["selectAll"].trigger()
    assert field.selectedText() == "hello"
    actions["undo"].trigger()
    assert field.text() == ""
    assert "Ctrl+Z" in actions["undo"].text()  # shown, but the field keeps its own key
    assert actions["undo"].shortcut().isEmpty()
    assert not any(menus.edit_state(QTableView()).values())  # not a text field: all greyed out


def test_help_and_about_are_offline_pages(qtbot, window):
    window.menus.help_action.trigger()
    page = window.menus.dialog.browser.toPlainText()
    assert all(spec.title in page for spec in window.specs) and "/fake" in page
    assert "hearth-engine --help" in page
    window.menus.dialog.close()
    window.menus.about_action.trigger()
    page = window.menus.dialog.browser.toPlainText()
    assert "Versions\nHearth\n" + about.version_of("hearth") + "\n" in page
    assert "Gemma Terms of Use" in page and "Apache License 2.0" in page and "/fake" in page
    window.menus.dialog.close()


def test_preferences_save_theme_folder_and_engine_preferences(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.delenv("HEARTH_HOME", raising=False)  # the folder choice is open to the user
    monkeypatch.setattr("desktop.preferences.os_config_dir", lambda: tmp_path / "config")
    chosen = tmp_path / "my data"
    monkeypatch.setattr(
        "desktop.preferences.QFileDialog.getExistingDirectory", lambda *_a: str(chosen)
    )
    settings = QSettings(str(tmp_path / "desktop.ini"), QSettings.Format.IniFormat)
    dialog = PreferencesDialog(window.client, settings, "/fake")
    qtbot.addWidget(dialog)
    qtbot.waitUntil(dialog.ok_button.isEnabled, timeout=5000)
    assert dialog.model_combo.itemText(0).startswith("Automatic")
    assert dialog.model_combo.findData("gemma-1") > 0  # the library's chat models
    dialog.change_button.click()
    assert dialog.folder_edit.text() == str(chosen) and "next start" in dialog.message.text()
    dialog.theme_combo.setCurrentIndex(dialog.theme_combo.findData("dark"))
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("gemma-1"))
    dialog.threads_spin.setValue(3)
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.ok_button.click()
    assert saved_theme(settings) == "dark"
    assert location.chosen_folder(tmp_path / "config") == chosen
    assert location.data_folder(tmp_path / "config", tmp_path / "default") == chosen
    from engine.core import paths  # the engine reads the same choice

    monkeypatch.setattr(paths, "os_config_dir", lambda: tmp_path / "config")
    assert paths.data_root_path() == chosen
    got = {}
    window.client.call("prefs.get").on_success(got.update)
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert got["preferences"] == {"default_model": "gemma-1", "threads": 3}
    QApplication.styleHints().setColorScheme(Qt.ColorScheme.Unknown)


def test_an_unwritable_folder_is_refused_with_the_reason(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.delenv("HEARTH_HOME", raising=False)
    monkeypatch.setattr("desktop.preferences.os_config_dir", lambda: tmp_path)
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(
        "desktop.preferences.QFileDialog.getExistingDirectory", lambda *_a: str(blocker / "sub")
    )
    dialog = PreferencesDialog(window.client, QSettings(str(tmp_path / "d.ini"), QSettings.Format.IniFormat), "/fake")  # fmt: skip
    qtbot.addWidget(dialog)
    dialog.change_button.click()
    assert "cannot write" in dialog.message.text() and dialog.message.kind == "error"
    assert dialog.folder_edit.text() == "/fake"
