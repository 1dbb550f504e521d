"""The first start's welcome page: every panel with what it is for, the data folder with a way to
choose another (checked, remembered for the next start), shown once, and again from Help."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel

from desktop import welcome
from desktop.main_window import MainWindow
from hearth_common import location


@pytest.fixture
def window(qtbot, make_client):
    win = MainWindow(make_client())
    qtbot.addWidget(win)
    win.show()
    return win


def texts(dialog) -> str:
    return " ".join(label.text() for label in dialog.findChildren(QLabel))


def test_shown_once_listing_every_panel_and_the_data_folder(qtbot, window, hearth_home):
    window.settings.remove(welcome.SHOWN_KEY)
    dialog = welcome.show_once(window.settings, window.specs, window.panel_icon, window)
    qtbot.addWidget(dialog)
    assert dialog.isVisible()
    shown = texts(dialog)
    for spec in window.specs:
        assert f"<b>{spec.title}</b>" in shown and spec.tooltip in shown
    assert str(hearth_home) in dialog.folder_label.text() and "HEARTH_HOME" in shown
    assert not dialog.choose_button.isEnabled()  # HEARTH_HOME decides here
    assert "being prepared" in dialog.note.text()  # the first start unpacks the bundled model
    assert welcome.show_once(window.settings, window.specs, window.panel_icon, window) is None
    window.menus.welcome_action.trigger()
    again = window.menus.dialog
    assert isinstance(again, welcome.WelcomeDialog) and again.isVisible()
    assert "being prepared" not in again.note.text()


def test_another_data_folder_is_checked_and_remembered(qtbot, window, monkeypatch, tmp_path):
    monkeypatch.delenv("HEARTH_HOME")
    monkeypatch.setattr(location, "os_config_dir", lambda: tmp_path / "config")
    dialog = welcome.WelcomeDialog(window.specs, window.panel_icon, window)
    qtbot.addWidget(dialog)
    assert dialog.choose_button.isEnabled()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert dialog.use_folder(blocker / "data") is False
    assert "cannot write" in dialog.note.text() and location.chosen_folder(tmp_path / "config") is None  # fmt: skip
    assert dialog.use_folder(tmp_path / "data") is True
    assert location.chosen_folder(tmp_path / "config") == tmp_path / "data"
    assert "from the next start" in dialog.folder_label.text()
