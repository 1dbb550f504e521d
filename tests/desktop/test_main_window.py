"""The main window on the fake engine: panels, persistence, status bar, crash banner, tables."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QLabel

from desktop.main_window import MainWindow
from desktop.panels.activity.jobs_model import PROGRESS_COLUMN


@pytest.fixture
def window(qtbot, make_client):
    client = make_client()
    win = MainWindow(client)
    qtbot.addWidget(win)
    win.show()
    return win


def test_sidebar_lists_registered_panels_and_switches(qtbot, window):
    ids = window.panel_ids()  # later features register more panels; these two are always there
    assert {"models", "activity"} <= set(ids) and ids.index("models") < ids.index("activity")
    titles = [window.sidebar.item(i).text() for i in range(window.sidebar.count())]
    assert titles[ids.index("models")] == "Models" and titles[ids.index("activity")] == "Activity"
    assert all(not window.sidebar.item(i).icon().isNull() for i in range(window.sidebar.count()))
    window.show_panel("activity")
    assert window.current_panel_id() == "activity"
    assert window.stack.currentWidget() is window.panels["activity"]
    key = getattr(Qt.Key, f"Key_{ids.index('models') + 1}")
    qtbot.keyClick(window, key, Qt.KeyboardModifier.ControlModifier)
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
    assert panel.jobs_model.index(0, PROGRESS_COLUMN).data() == "100%"
    panel.table.selectRow(0)
    qtbot.waitUntil(lambda: "fake log line" in panel.log_view.toPlainText(), timeout=5000)
    # the status bar names the job (its title is fetched once) and says how it ended
    qtbot.waitUntil(
        lambda: window.job_label.text().startswith("Convert Fake Gemma to torch succeeded"),
        timeout=5000,
    )
    assert window.job_bar.isHidden()


def test_status_bar_shows_the_running_job_with_its_progress(qtbot, window):
    window.client.sig_job_progress.emit(
        {
            "job_id": "job-1",
            "job_kind": "models.convert",
            "kind": "report",
            "state": "running",
            "progress": 0.4,
            "message": "Dequantizing",
        }
    )
    assert window.job_bar.isVisible() and window.job_bar.value() == 40
    qtbot.waitUntil(
        lambda: window.job_label.text() == "Convert Fake Gemma to torch: Dequantizing",
        timeout=5000,
    )


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


def test_empty_tables_say_what_to_do_or_why_they_are_empty(qtbot, make_client):
    client = make_client(env={"FAKE_ENGINE_EMPTY": "1"})
    win = MainWindow(client)
    qtbot.addWidget(win)
    models, jobs = win.panels["models"], win.panels["activity"]
    models.refresh()
    probe = client.call("models.list")  # answered after the panel's refresh: one pipe, in order
    with qtbot.waitSignal(probe.sig_finished, timeout=5000):
        pass
    assert models.table_model.rowCount() == 0 and models.message.text() == ""
    assert "Drop a .gguf file" in models.table.hint and "Import file" in models.table.hint
    assert jobs.table.hint.startswith("No jobs yet")
    client.stop(2000)
    assert "not running" in models.table.hint and "not running" in jobs.table.hint


def test_opening_the_window_does_not_load_matplotlib(tmp_path):
    """Plots load when a panel first draws one; the window's start does not wait for them."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from desktop.engine_client import EngineClient\n"
        "from desktop.main_window import MainWindow\n"
        "window = MainWindow(EngineClient(app))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib')[:3])\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HEARTH_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120, check=True)  # fmt: skip
    assert out.stdout.strip() == "[]", out.stdout


def test_other_panels_open_their_models_in_evaluate(qtbot, window):
    from desktop.widgets import open_in_evaluate

    panel = window.panels["evaluate"]
    assert open_in_evaluate(window.panels["pruning"], "gemma-1", "not-in-the-library")
    assert window.current_panel_id() == "evaluate"
    qtbot.waitUntil(lambda: panel.models.count() > 0, timeout=5000)
    qtbot.waitUntil(lambda: panel.ticked_models() == ["gemma-1"], timeout=5000)


def test_first_start_sizes_the_window_for_the_screen():
    from desktop.main_window import first_size

    assert first_size(1600, 1000) == (1280, 800)  # it once opened at 1024 x 625 here
    assert first_size(2560, 1440) == (2048, 1152)
    assert first_size(1366, 768) == (1100, 700)
    assert first_size(1024, 600) == (1024, 600)  # never more than the screen


def test_an_empty_chat_says_the_bundled_model_is_tiny_and_links_to_import(
    qtbot, window, monkeypatch
):
    from desktop.panels.models import panel as models_panel

    asked: list[str] = []

    def pick(_parent, title, *_args):
        asked.append(title)
        return "", ""

    monkeypatch.setattr(models_panel.QFileDialog, "getOpenFileName", pick)
    window.show_panel("chat")
    hint = window.panels["chat"].view.hint
    assert hint.isVisible() and "tiny" in hint.text() and "href='import'" in hint.text()
    hint.linkActivated.emit("import")
    assert window.current_panel_id() == "models" and asked == ["Import a GGUF model"]


def test_a_long_status_line_is_shortened_and_never_widens_the_window(qtbot, window):
    window.show()
    widest = window.minimumSizeHint().width()
    long = "Loaded: " + ", ".join(f"A model with a rather long name number {i} (llama_cpp on CPU)" for i in range(8))  # fmt: skip
    window.loaded_label.setText(long)
    window.job_label.setText("Prepare the bundled models succeeded: " + "x" * 300)
    qtbot.wait(50)
    assert window.minimumSizeHint().width() == widest
    label = window.loaded_label
    assert label.text() == long and label.width() < label.sizeHint().width()
    assert QLabel.text(label).endswith("…") and label.toolTip() == long  # what shows, and the rest


def test_a_first_start_centres_the_window_as_wide_as_its_layout_needs():
    from PySide6.QtCore import QRect

    from desktop.main_window import first_place

    # 1280 x 800: the layout needs 1220 px where 1100 were asked for; centring 1100 put its
    # right edge 29 px past the screen
    assert first_place(QRect(0, 0, 1280, 800), 1220, 700) == (29, 49)
    assert first_place(QRect(1920, 24, 1280, 776), 1100, 700) == (2009, 61)  # a second screen
    assert first_place(QRect(0, 0, 1024, 600), 1220, 700) == (0, 0)  # the menus stay on it
