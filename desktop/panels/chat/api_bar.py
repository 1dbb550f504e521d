"""``ApiBar``: the Local API switch -- serve Hearth's OpenAI-compatible API on 127.0.0.1, with the
base URL and bearer token to paste into a client (copy buttons), the port, and a button that makes
a new token (clients with the old one are refused from then on).

It drives the engine's ``api.start`` / ``api.stop`` / ``api.status`` / ``api.regenerate_token``
and follows ``api.changed`` notifications. ``header_button`` (for the conversation header) shows
whether the API is on and shows or hides the bar.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QToolButton,
    QWidget,
)

from desktop.engine_client import EngineClient, EngineState

DEFAULT_PORT = 8470


def _tool(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    return button


class ApiBar(QFrame):
    sig_error = Signal(object)
    """An API call failed; the argument is the ``EngineError``."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.status: dict[str, Any] = {}
        self._busy = False
        self.setObjectName("ApiBar")
        self.setStyleSheet("#ApiBar {border: 1px solid palette(mid); border-radius: 6px;}")
        self.header_button = QToolButton()
        self.header_button.setCheckable(True)
        self.header_button.setToolTip(
            "Local API: serve the models to OpenAI-compatible clients on this computer"
        )
        self.header_button.toggled.connect(self.setVisible)

        self.toggle = QCheckBox("Serve the OpenAI-compatible API on 127.0.0.1")
        self.toggle.setToolTip(
            "Only programs on this computer can connect, and each request needs the token."
        )
        self.toggle.clicked.connect(self._toggled)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(DEFAULT_PORT)
        self.port.setToolTip("TCP port (used the next time the API starts)")
        self.state_label = QLabel()
        self.url = QLineEdit()
        self.url.setReadOnly(True)
        self.url.setPlaceholderText("off")
        self.url.setToolTip("Base URL for OpenAI clients (base_url)")
        self.copy_url = _tool("Copy", "Copy the base URL")
        self.copy_url.clicked.connect(lambda: self._copy(self.url.text(), self.copy_url))
        self.token = QLineEdit()
        self.token.setReadOnly(True)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setToolTip("Bearer token (api_key): every request must send it")
        self.show_token = _tool("Show", "Show or hide the token")
        self.show_token.setCheckable(True)
        self.show_token.toggled.connect(self._reveal)
        self.copy_token = _tool("Copy", "Copy the token")
        self.copy_token.clicked.connect(lambda: self._copy(self.token.text(), self.copy_token))
        self.new_token = _tool(
            "New token", "Make a new token; clients using the old one stop working"
        )
        self.new_token.clicked.connect(self.regenerate)

        top = QHBoxLayout()
        top.addWidget(self.toggle)
        top.addStretch(1)
        top.addWidget(QLabel("Port"))
        top.addWidget(self.port)
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 6)
        grid.setVerticalSpacing(4)
        grid.addLayout(top, 0, 0, 1, 5)
        grid.addWidget(QLabel("URL"), 1, 0)
        grid.addWidget(self.url, 1, 1, 1, 3)
        grid.addWidget(self.copy_url, 1, 4)
        grid.addWidget(QLabel("Token"), 2, 0)
        grid.addWidget(self.token, 2, 1)
        grid.addWidget(self.show_token, 2, 2)
        grid.addWidget(self.new_token, 2, 3)
        grid.addWidget(self.copy_token, 2, 4)
        grid.addWidget(self.state_label, 3, 0, 1, 5)
        grid.setColumnStretch(1, 1)
        self.state_label.setStyleSheet("color: palette(placeholder-text);")
        self.state_label.setWordWrap(True)

        client.sig_ready.connect(lambda _r: self.refresh())
        client.sig_notification.connect(self._on_notification)
        self.show_status({})
        self.hide()
        if client.state == EngineState.READY:
            self.refresh()

    # -- engine ---------------------------------------------------------------------------
    def refresh(self) -> None:
        self.client.call("api.status").on_success(self.show_status)

    def start(self) -> None:
        self._call("api.start", {"port": self.port.value()})

    def stop(self) -> None:
        self._call("api.stop", {})

    def regenerate(self) -> None:
        if self.status.get("running"):
            answer = QMessageBox.question(
                self,
                "New API token",
                "Make a new token? Programs using the current one will get 401 until you give "
                "them the new one.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._call("api.regenerate_token", {})

    def _call(self, method: str, params: dict[str, Any]) -> None:
        self._busy = True
        self.toggle.setEnabled(False)

        def failed(error) -> None:
            self._busy = False
            self.show_status(self.status)
            self.sig_error.emit(error)

        def done(status: dict[str, Any]) -> None:
            self._busy = False
            self.show_status(status)

        self.client.call(method, params).on_success(done).on_failure(failed)

    def _on_notification(self, method: str, params: Any) -> None:
        if method == "api.changed" and isinstance(params, dict) and not self._busy:
            self.show_status(params)

    def _toggled(self, on: bool) -> None:
        if on:
            self.start()
        else:
            self.stop()

    # -- showing --------------------------------------------------------------------------
    def show_status(self, status: dict[str, Any]) -> None:
        self.status = dict(status)
        running = bool(status.get("running"))
        self.toggle.setEnabled(not self._busy)
        self.toggle.setChecked(running)
        if status.get("port"):
            self.port.setValue(int(status["port"]))
        self.port.setEnabled(not running)
        self.url.setText(status.get("url") or "")
        self.token.setText(status.get("token") or "")
        self.copy_url.setEnabled(running)
        self.copy_token.setEnabled(bool(status.get("token")))
        self.header_button.setText("API: on" if running else "API")
        if running:
            n = int(status.get("requests") or 0)
            self.state_label.setText(
                f"Serving on {status.get('url')} · {n} request{'s' if n != 1 else ''} so far · "
                "openai.OpenAI(base_url=URL, api_key=TOKEN)"
            )
        else:
            self.state_label.setText("Off. Turn it on to use Hearth's models from other programs.")

    def _reveal(self, on: bool) -> None:
        self.token.setEchoMode(QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password)
        self.show_token.setText("Hide" if on else "Show")

    def _copy(self, text: str, button: QToolButton) -> None:
        if not text:
            return
        QGuiApplication.clipboard().setText(text)
        button.setText("Copied")
        QTimer.singleShot(1200, button, lambda: button.setText("Copy"))
