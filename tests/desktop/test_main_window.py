"""The main window on the fake engine: panels, persistence, status bar, crash banner, tables."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from desktop.main_window import MainWindow


@pytest.fixture
def window(qtbot, make_client):
    client = make_client()
    win = MainWindow(client)
    qtbot.addWidget(win)
    win.show()
    return win


def test_sidebar_lists_registered_panels_and_switches(qtbot, window):
    assert window.panel_ids()[:2] == ["models", "activity"]
    assert [window.sidebar.item(i).text() for i in range(window.sidebar.count())][:2] == [
        "Models",
        "Activity",
    ]
    window.sidebar.setCurrentRow(1)
    assert window.current_panel_id() == "activity"
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.current_panel_id() == "models"


def test_geometry_and_last_panel_are_restored(qtbot, make_client):
    client = make_client()
    first = MainWindow(client)
    qtbot.addWidget(first)
    first.show()
    first.resize(700, 520)  # narrower than the layout allows: Qt keeps the minimum width
    size = (first.width(), first.height())
    first.show_panel("activity")
    first.close()
    second = MainWindow(client)
    qtbot.addWidget(second)
    assert second.current_panel_id() == "activity"
    assert second.height() == size[1] == 520  # width depends on the screen and the layout minimum


def test_status_bar_shows_engine_device_and_memory(qtbot, window):
    assert window.engine_label.text() == "Engine: ready"
    window._on_ready(window.client.init_reply)
    assert "CPU only" in window.device_label.text()
    qtbot.waitUntil(lambda: "123.0 MB" in window.memory_label.text(), timeout=5000)


def test_models_table_shows_library_and_missing_model(qtbot, window):
    panel = window.panels["models"]
    panel.refresh()
    qtbot.waitUntil(lambda: panel.table_model.rowCount() == 2, timeout=5000)
    model = panel.table_model
    assert model.index(0, 0).data() == "Fake Gemma"
    assert model.index(0, 3).data() == "268M"
    assert model.index(1, 7).data() == "missing"
    panel.table.selectRow(1)
    assert "The file is missing" in panel.details.toHtml()
    assert not panel.convert_button.isEnabled()
    panel.table.selectRow(0)
    assert panel.convert_button.isEnabled()


def test_drop_of_non_model_files_is_ignored(qtbot, window, tmp_path):
    panel = window.panels["models"]
    text = tmp_path / "notes.txt"
    text.write_text("x")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(text))])
    calls = []
    panel.import_paths = calls.append
    event = QDropEvent(
        QPointF(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    panel.dropEvent(event)
    assert calls == []
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    mime.setUrls([QUrl.fromLocalFile(str(gguf)), QUrl.fromLocalFile(str(tmp_path))])
    panel.dropEvent(
        QDropEvent(
            QPointF(5, 5),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
    )
    assert calls == [[str(gguf), str(tmp_path)]]


def test_activity_updates_live_from_job_progress(qtbot, window):
    panel = window.panels["activity"]
    panel.refresh()
    qtbot.waitUntil(lambda: panel.jobs_model.rowCount() == 1, timeout=5000)
    window.client.call("emit_job")
    qtbot.waitUntil(lambda: panel.jobs_model.job_at(0)["state"] == "succeeded", timeout=5000)
    assert panel.jobs_model.index(0, 2).data() == "100%"
    panel.table.selectRow(0)
    qtbot.waitUntil(lambda: "fake log line" in panel.log_view.toPlainText(), timeout=5000)
    assert "end succeeded" in window.job_label.text()


def test_crash_banner_shows_log_tail_then_recovers(qtbot, window):
    assert window.banner.isHidden()
    with qtbot.waitSignal(window.client.sig_ready, timeout=15000):
        window.client.call("die")
    assert window.banner.isVisible()
    assert "dying on purpose" in window.banner.details.toPlainText()
    assert "restarted" in window.banner.title.text()


def test_a_bad_record_never_crashes_the_table(qtbot, window):
    panel = window.panels["models"]
    panel.table_model.set_models([{"id": "odd", "name": "Odd", "context_length": "not a number"}])
    panel.table.viewport().repaint()  # painting calls data() for every cell: must not raise
    assert panel.table_model.index(0, 5).data() is None


def test_every_column_of_every_table_has_text(qtbot, window):
    models = window.panels["models"]
    models.refresh()
    qtbot.waitUntil(lambda: models.table_model.rowCount() == 2, timeout=5000)
    jobs = window.panels["activity"]
    jobs.refresh()
    qtbot.waitUntil(lambda: jobs.jobs_model.rowCount() == 1, timeout=5000)
    for model in (models.table_model, jobs.jobs_model):
        for col in range(model.columnCount()):
            assert model.headerData(col, Qt.Orientation.Horizontal) is not None
            assert model.index(0, col).data() is not None, (type(model).__name__, col)
