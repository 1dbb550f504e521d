"""``MainWindow``: the sidebar of registered panels, the engine banner, and the status bar.

The banner appears when the engine dies or hangs, with the log tail (and the native crash
text, if any) and what Hearth is doing about it; the status bar shows the engine state, the
device, the engine's memory and the current job. Geometry and the last panel are restored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.engine_client import EngineClient, EngineState
from desktop.format import human_bytes
from desktop.panels import PanelSpec, panels

STATUS_POLL_MS = 3000


def settings_path() -> Path:
    home = os.environ.get("HEARTH_HOME")
    if home:
        folder = Path(home) / "config"
    else:
        import platformdirs

        folder = Path(platformdirs.user_config_dir("Hearth", appauthor=False))
    return folder / "desktop.ini"


def device_text(reply: dict[str, Any]) -> str:
    devices = reply.get("devices") or []
    accel = [d for d in devices if d.get("type") in ("cuda", "mps")]
    if accel:
        d = accel[0]
        mem = f" · {human_bytes(d['memory_total_bytes'])}" if d.get("memory_total_bytes") else ""
        return f"{d['type'].upper()}: {d['name']}{mem}"
    ram = (reply.get("ram") or {}).get("total_bytes")
    return f"CPU only · {human_bytes(ram)} RAM"


def elide(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class EngineBanner(QFrame):
    """Shown when the engine crashed, hung or could not be restarted."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.setObjectName("EngineBanner")
        self.setStyleSheet(
            "#EngineBanner {background:#fff4e5; border:1px solid #f0b060; border-radius:4px;} QLabel {color:#5a3300;}"
        )
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.restart_button = QPushButton("Restart engine")
        self.restart_button.clicked.connect(client.restart)
        dismiss = QPushButton("Dismiss")
        dismiss.clicked.connect(self.hide)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(140)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.restart_button)
        top.addWidget(dismiss)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.details)
        client.sig_crashed.connect(self.on_crashed)
        client.sig_failed.connect(self.on_failed)
        client.sig_state_changed.connect(self.on_state)
        self.hide()

    def on_crashed(self, log_tail: str, crash_text: str) -> None:
        text = "\n".join(
            part
            for part in (
                crash_text and f"Native crash report:\n{crash_text}",
                log_tail and f"Last engine log lines:\n{log_tail}",
            )
            if part
        )
        self.details.setPlainText(text or "The engine printed nothing before it stopped.")
        self.details.moveCursor(self.details.textCursor().MoveOperation.End)
        self.title.setText(
            "<b>The engine stopped unexpectedly.</b> Work in progress was interrupted; Hearth is restarting it…"
        )
        self.restart_button.hide()
        self.show()

    def on_failed(self, reason: str) -> None:
        self.title.setText(f"<b>The engine is not running.</b> {reason}")
        if not self.details.toPlainText():
            self.details.setPlainText(self.client.log_tail() or "No engine output.")
        self.restart_button.show()
        self.show()

    def on_state(self, state: str) -> None:
        if not self.isVisible():
            return
        if state == EngineState.RESTARTING.value:
            self.title.setText(
                f"<b>The engine stopped unexpectedly.</b> Restarting it (attempt {self.client.restart_attempt})…"
            )
        elif state == EngineState.READY.value and self.restart_button.isHidden():
            self.title.setText(
                "<b>The engine was restarted after a crash.</b> Jobs that were running show as interrupted in Activity."
            )


class MainWindow(QMainWindow):
    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.setWindowTitle("Hearth")
        self.settings = QSettings(str(settings_path()), QSettings.Format.IniFormat)

        self.sidebar = QListWidget()
        self.sidebar.setFixedWidth(150)
        self.sidebar.setObjectName("Sidebar")
        self.sidebar.setStyleSheet(
            "#Sidebar {font-size: 11pt;} #Sidebar::item {padding: 8px 10px;}"
        )
        self.stack = QStackedWidget()
        self.specs: list[PanelSpec] = panels()
        self.panels: dict[str, QWidget] = {}
        for index, spec in enumerate(self.specs):
            widget = spec.factory(client, self.stack)
            self.panels[spec.id] = widget
            self.stack.addWidget(widget)
            item = QListWidgetItem(spec.title)
            item.setToolTip(f"{spec.tooltip} (Ctrl+{index + 1})" if index < 9 else spec.tooltip)
            item.setData(Qt.ItemDataRole.UserRole, spec.id)
            self.sidebar.addItem(item)
            if index < 9:
                QShortcut(
                    QKeySequence(f"Ctrl+{index + 1}"),
                    self,
                    activated=lambda i=index: self.sidebar.setCurrentRow(i),
                )
        self.sidebar.currentRowChanged.connect(self._show_panel)

        self.banner = EngineBanner(client)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.sidebar)
        body.addWidget(self.stack, 1)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addWidget(self.banner)
        layout.addLayout(body, 1)
        self.setCentralWidget(central)

        self.engine_label = QLabel()
        self.device_label = QLabel("Device: –")
        self.memory_label = QLabel("Engine memory: –")
        self.job_label = QLabel()
        self.job_bar = QProgressBar()
        self.job_bar.setMaximumWidth(120)
        self.job_bar.setMaximumHeight(14)
        self.job_bar.hide()
        status = self.statusBar()
        status.addWidget(self.engine_label)
        status.addWidget(self.device_label)
        status.addWidget(self.memory_label)
        status.addPermanentWidget(self.job_label)
        status.addPermanentWidget(self.job_bar)
        self._current_job: str | None = None

        client.sig_state_changed.connect(self._on_state)
        client.sig_ready.connect(self._on_ready)
        client.sig_job_progress.connect(self._on_job_progress)
        self._poll = QTimer(self)
        self._poll.setInterval(STATUS_POLL_MS)
        self._poll.timeout.connect(self._poll_status)
        self._poll.start()
        self._on_state(client.state.value)
        self._restore()

    # -- panels ---------------------------------------------------------------------------

    def panel_ids(self) -> list[str]:
        return [s.id for s in self.specs]

    def current_panel_id(self) -> str:
        return self.specs[self.stack.currentIndex()].id if self.specs else ""

    def show_panel(self, panel_id: str) -> None:
        if panel_id in self.panels:
            self.sidebar.setCurrentRow(self.panel_ids().index(panel_id))

    def _show_panel(self, row: int) -> None:
        if row < 0:
            return
        self.stack.setCurrentIndex(row)
        hook = getattr(self.stack.currentWidget(), "on_shown", None)
        if hook is not None and self.client.state == EngineState.READY:
            hook()

    # -- engine state ---------------------------------------------------------------------

    def _on_state(self, state: str) -> None:
        labels = {
            "starting": "Engine: starting…",
            "ready": "Engine: ready",
            "crashed": "Engine: crashed",
            "restarting": "Engine: restarting…",
            "stopped": "Engine: stopped",
            "failed": "Engine: not running",
        }
        self.engine_label.setText(labels.get(state, state))
        color = {"ready": "#2e7d32", "crashed": "#d9534f", "failed": "#d9534f"}.get(
            state, "#c77c02"
        )
        self.engine_label.setStyleSheet(f"color:{color};")

    def _on_ready(self, reply: dict[str, Any]) -> None:
        self.device_label.setText(device_text(reply))
        self._poll_status()

    def _poll_status(self) -> None:
        if self.client.state != EngineState.READY:
            return
        self.client.call("engine.status").on_success(self._show_status)

    def _show_status(self, status: dict[str, Any]) -> None:
        ram = status.get("ram") or {}
        self.memory_label.setText(
            f"Engine memory: {human_bytes(status.get('rss_bytes'))} · free RAM {human_bytes(ram.get('available_bytes'))}"
        )
        running = status.get("running_jobs") or []
        if not running and self._current_job:
            self._current_job = None
            self.job_label.clear()
            self.job_bar.hide()

    def _on_job_progress(self, params: dict[str, Any]) -> None:
        if params.get("kind") == "end":
            if params.get("job_id") == self._current_job:
                self._current_job = None
                self.job_bar.hide()
                self.job_label.setText(
                    f"Last job {params.get('state')}: {params.get('message') or ''}"[:90]
                )
            return
        self._current_job = params.get("job_id")
        self.job_label.setText(elide(params.get("message") or "Working…", 64))
        progress = params.get("progress")
        if progress is None:
            self.job_bar.setRange(0, 0)  # busy indicator
        else:
            self.job_bar.setRange(0, 100)
            self.job_bar.setValue(int(progress * 100))
        self.job_bar.show()

    # -- persistence ----------------------------------------------------------------------

    def _restore(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1180, 720)
        last = self.settings.value("window/panel", "", type=str)
        self.sidebar.setCurrentRow(self.panel_ids().index(last) if last in self.panels else 0)

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/panel", self.current_panel_id())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        super().closeEvent(event)
