"""``MainWindow``: the menu bar, the sidebar of registered panels, the engine banner, and the
status bar.

The banner appears when the engine dies or hangs, with the log tail (and the native crash
text, if any) and what Hearth is doing about it; the status bar shows the engine state, the
device, the engine's memory, which chat models are loaded where, and the current job.
Geometry and the last panel are restored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QRect, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
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

from desktop import remote_consent, wheel_guard
from desktop.elided_label import ElidedLabel
from desktop.engine_client import EngineClient, EngineState
from desktop.format import human_bytes
from desktop.menus import MenuBar
from desktop.panels import PanelSpec, panels
from desktop.preferences import apply_theme, saved_theme
from desktop.widgets import app_icon, themed_icon
from hearth_common import location

STATUS_POLL_MS = 3000
ENGINE_STATES = {
    "starting": "Engine: starting…",
    "ready": "Engine: ready",
    "crashed": "Engine: crashed",
    "restarting": "Engine: restarting…",
    "stopped": "Engine: stopped",
    "failed": "Engine: not running",
}


def settings_path() -> Path:
    return location.settings_folder() / "desktop.ini"


def device_text(reply: dict[str, Any]) -> str:
    devices = reply.get("devices") or []
    accel = [d for d in devices if d.get("type") in ("cuda", "mps")]
    if accel:
        d = accel[0]
        mem = f" · {human_bytes(d['memory_total_bytes'])}" if d.get("memory_total_bytes") else ""
        return f"{d['type'].upper()}: {d['name']}{mem}"
    ram = (reply.get("ram") or {}).get("total_bytes")
    return f"CPU only · {human_bytes(ram)} RAM"


def loaded_text(loaded: list[dict[str, Any]]) -> str:
    """``chat.loaded`` in a few words: what is loaded, on which runtime and device."""
    if not loaded:
        return "No model loaded"
    parts = []
    for m in loaded[:2]:
        where = str(m.get("device") or "?").upper()
        if m.get("n_gpu_layers"):
            where += f", {m['n_gpu_layers']} GPU layers"
        memory = f" · {human_bytes(m['memory_bytes'])}" if m.get("memory_bytes") else ""
        parts.append(
            f"{m.get('name') or m.get('model_id')} ({m.get('runtime')} on {where}){memory}"
        )
    more = f" +{len(loaded) - 2} more" if len(loaded) > 2 else ""
    return "Loaded: " + "; ".join(parts) + more


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
        self._fit_details()
        self.title.setText(
            "<b>The engine stopped unexpectedly.</b> Work in progress was interrupted; Hearth is restarting it…"
        )
        self.restart_button.hide()
        self.show()

    def on_failed(self, reason: str) -> None:
        self.title.setText(f"<b>The engine is not running.</b> {reason}")
        if not self.details.toPlainText():
            self.details.setPlainText(self.client.log_tail() or "No engine output.")
            self._fit_details()
        self.restart_button.show()
        self.show()

    def _fit_details(self, max_lines: int = 9) -> None:
        """As tall as the text (a short log needs no empty box), at most ``max_lines``; the
        view ends at the last line, where the reason for a crash usually is."""
        lines = min(max(self.details.document().blockCount(), 2), max_lines)
        margins = 2 * (self.details.frameWidth() + self.details.document().documentMargin())
        line = self.details.fontMetrics().lineSpacing()
        self.details.setFixedHeight(int(line * (lines + 0.6) + margins))
        self.details.moveCursor(self.details.textCursor().MoveOperation.End)

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


def first_size(screen_w: int, screen_h: int) -> tuple[int, int]:
    """The window's size on first start: 80% of the screen's free area, at least 1100 x 700
    where the screen has room for it, never more than the screen."""
    width = min(screen_w, max(1100, int(screen_w * 0.8)))
    height = min(screen_h, max(700, int(screen_h * 0.8)))
    return width, height


def first_place(available: QRect, width: int, height: int) -> tuple[int, int]:
    """Where a window of that size opens: centred on the screen's free area, never with its
    top-left corner (its menus) off it."""
    x = available.center().x() - width // 2
    y = available.center().y() - height // 2
    return max(available.left(), x), max(available.top(), y)


class MainWindow(QMainWindow):
    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.wheel_guard = wheel_guard.install(self)  # the wheel scrolls forms, not their fields
        remote_consent.install(client, remote_consent.ask_with_box(self))  # once per model server
        self.setWindowTitle("Hearth")
        self.setWindowIcon(app_icon())
        self.settings = QSettings(str(settings_path()), QSettings.Format.IniFormat)

        self.sidebar = QListWidget()
        self.sidebar.setFixedWidth(150)
        self.sidebar.setIconSize(QSize(20, 20))
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
            item = QListWidgetItem(themed_icon(spec.icon, self.sidebar.palette()), spec.title)
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
        self.menus = MenuBar(self)
        apply_theme(saved_theme(self.settings))

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
        longest = max(ENGINE_STATES.values(), key=self.engine_label.fontMetrics().horizontalAdvance)
        self.engine_label.setMinimumWidth(self.engine_label.fontMetrics().horizontalAdvance(longest) + 6)  # fmt: skip
        # the status lines shorten with … on a narrow screen rather than widen the window
        self.device_label = ElidedLabel("Device: –")
        self.memory_label = ElidedLabel("Engine memory: –")
        self.loaded_label = ElidedLabel("No model loaded")
        self.job_label = ElidedLabel()
        self.job_bar = QProgressBar()
        self.job_bar.setMaximumWidth(120)
        self.job_bar.setMaximumHeight(14)
        self.job_bar.hide()
        status = self.statusBar()
        status.addWidget(self.engine_label)
        status.addWidget(self.device_label)
        status.addWidget(self.memory_label)
        status.addWidget(self.loaded_label)
        status.addPermanentWidget(self.job_label)
        status.addPermanentWidget(self.job_bar)
        self._current_job: str | None = None
        self._job_line: dict[str, Any] = {}
        self._job_titles: dict[str, str] = {}

        client.sig_state_changed.connect(self._on_state)
        client.sig_ready.connect(self._on_ready)
        client.sig_job_progress.connect(self._on_job_progress)
        client.sig_notification.connect(self._on_notification)
        self._poll = QTimer(self)
        self._poll.setInterval(STATUS_POLL_MS)
        self._poll.timeout.connect(self._poll_status)
        self._poll.start()
        self._on_state(client.state.value)
        self._restore()

    # -- panels ---------------------------------------------------------------------------

    def panel_icon(self, name: str) -> QIcon:
        return themed_icon(name, self.sidebar.palette())

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
        self.engine_label.setText(ENGINE_STATES.get(state, state))
        if state != "ready":
            self.loaded_label.setText("No model loaded")  # a new engine starts empty
            self.memory_label.setText("Engine memory: –")
        if state == "crashed" and self._current_job:  # its engine is gone: it will not end
            self._job_line.update(ended=True, state="interrupted", message="")
            self._current_job = None
            self.job_bar.hide()
            self._show_job_line()
        color = {"ready": "#2e7d32", "crashed": "#d9534f", "failed": "#d9534f"}.get(
            state, "#c77c02"
        )
        self.engine_label.setStyleSheet(f"color:{color};")

    def _on_ready(self, reply: dict[str, Any]) -> None:
        self.device_label.setText(device_text(reply))
        self._poll_status()
        self.client.call("chat.loaded").on_success(
            lambda result: self._show_loaded(result.get("loaded") or [])
        )

    def _on_notification(self, method: str, params: dict[str, Any]) -> None:
        if method == "chat.loaded_changed":
            self._show_loaded(params.get("loaded") or [])

    def _show_loaded(self, loaded: list[dict[str, Any]]) -> None:
        self.loaded_label.setText(elide(loaded_text(loaded), 90))
        self.loaded_label.setToolTip("\n".join(loaded_text([m]) for m in loaded))

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
        for job in running:
            self._job_titles[job["id"]] = job.get("title") or job.get("kind") or "Job"
        if not running and self._current_job:
            self._current_job = None
            self._job_line = {}
            self.job_label.clear()
            self.job_bar.hide()

    def _job_title(self, params: dict[str, Any]) -> str:
        """The job's title, fetched once per job (notifications carry only its kind)."""
        job_id = params.get("job_id")
        if job_id and job_id not in self._job_titles:
            self._job_titles[job_id] = str(params.get("job_kind") or "Job")
            self.client.call("jobs.get", {"id": job_id}).on_success(self._learn_title)
        return self._job_titles.get(job_id, "Job")

    def _learn_title(self, job: dict[str, Any]) -> None:
        self._job_titles[job["id"]] = job.get("title") or job.get("kind") or "Job"
        if self._job_line.get("job_id") == job["id"]:
            self._show_job_line()

    def _show_job_line(self) -> None:
        """The current (or last ended) job in the status bar: title, then what it is doing."""
        line = self._job_line
        title = self._job_titles.get(line.get("job_id"), "Job")
        message = line.get("message") or ""
        if line.get("ended"):
            text = (
                f"{title} {line.get('state')}: {message}"
                if message
                else f"{title} {line.get('state')}"
            )
        else:
            text = f"{title}: {message or 'working…'}"
        self.job_label.setText(elide(text, 90))
        self.job_label.setToolTip(f"{title}\n{message}")

    def _on_job_progress(self, params: dict[str, Any]) -> None:
        job_id = params.get("job_id")
        self._job_title(params)
        ended = params.get("kind") == "end"
        if ended and job_id != self._current_job:
            return  # another job is showing; this one's end is in Activity
        self._current_job = None if ended else job_id
        self._job_line = {
            "job_id": job_id,
            "ended": ended,
            "state": params.get("state"),
            "message": params.get("message"),
        }
        self._show_job_line()
        progress = params.get("progress")
        if ended:
            self.job_bar.hide()
            return
        if progress is None:
            self.job_bar.setRange(0, 0)  # busy indicator
        else:
            self.job_bar.setRange(0, 100)
            self.job_bar.setValue(int(progress * 100))
        self.job_bar.show()

    # -- persistence ----------------------------------------------------------------------

    def _restore(self) -> None:
        geometry = self.settings.value("window/geometry")
        screen = self.screen() or QApplication.primaryScreen()
        available = screen.availableGeometry() if screen is not None else None
        if geometry is None or not self.restoreGeometry(geometry):
            size = first_size(available.width(), available.height()) if available else (1180, 720)
            self.resize(*size)
            if available is not None:
                hint = self.minimumSizeHint()  # the layout may need more than was asked for
                size = (max(self.width(), hint.width()), max(self.height(), hint.height()))
                self.move(*first_place(available, *size))
        elif available is not None and not available.intersects(self.frameGeometry()):
            self.move(available.topLeft())  # saved on a screen that is gone
        last = self.settings.value("window/panel", "", type=str)
        self.sidebar.setCurrentRow(self.panel_ids().index(last) if last in self.panels else 0)

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/panel", self.current_panel_id())
        self.settings.sync()

    def changeEvent(self, event: QEvent) -> None:
        # the OS switched between light and dark: redraw the sidebar icons in the new colours
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            sidebar = getattr(self, "sidebar", None)  # None while __init__ is still running
            if sidebar is not None:
                sidebar.setStyleSheet(sidebar.styleSheet())  # a styled widget keeps its old palette
                for row, spec in enumerate(self.specs):
                    if sidebar.item(row) is not None:
                        sidebar.item(row).setIcon(themed_icon(spec.icon, sidebar.palette()))
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        super().closeEvent(event)
