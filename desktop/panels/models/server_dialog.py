"""``ServerDialog``: add a model served by an OpenAI-compatible server (vLLM, llama.cpp's server,
Ollama, LM Studio, TGI, another Hearth).

The user gives the address and, if the server needs one, an API key (kept in the system keyring)
or the name of an environment variable holding it; "List models" asks the server for its list
(``models.probe_remote``: nothing else is sent), and the picked model is added
(``models.add_remote``). What the model is later sent leaves the machine: the dialog says so,
and the app asks once more before the first message goes (``desktop.remote_consent``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.engine_client import EngineClient
from desktop.errors import EngineError
from desktop.panels.models.table_model import REMOTE_COLOUR


class ServerDialog(QDialog):
    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.added: dict[str, Any] | None = None
        self.setWindowTitle("Add a model server")
        self.setMinimumWidth(520)
        self.url = QLineEdit()
        self.url.setPlaceholderText("http://gpu-box:8000  or  http://127.0.0.1:8080/v1")
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("only if the server asks for one")
        self.key.setToolTip("Kept in the system keyring; Hearth never writes it to its files or logs.")  # fmt: skip
        self.key_env = QLineEdit()
        self.key_env.setPlaceholderText("or: an environment variable holding it, e.g. VLLM_API_KEY")
        self.list_button = QPushButton("List models")
        self.list_button.clicked.connect(self.list_models)
        self.models = QComboBox()
        self.models.setEnabled(False)
        self.name = QLineEdit()
        self.name.setPlaceholderText("display name (default: the server's model id)")
        self.status = QLabel("Give the server's address, then List models.")
        self.status.setWordWrap(True)
        notice = QLabel(
            "What you send a model on a server leaves this machine for that server. Hearth asks "
            "once per server before the first message goes, and sends nothing anywhere else."
        )
        notice.setWordWrap(True)
        notice.setStyleSheet(f"color: {REMOTE_COLOUR};")
        form = QFormLayout()
        form.addRow("Address", self.url)
        form.addRow("API key", self.key)
        form.addRow("", self.key_env)
        form.addRow("", self.list_button)
        form.addRow("Model", self.models)
        form.addRow("Name", self.name)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.add_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.add_button.setText("Add model")
        self.add_button.setEnabled(False)
        self.buttons.accepted.connect(self.add)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(notice)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.url.textEdited.connect(self._forget_list)

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"url": self.url.text().strip()}
        if self.key.text().strip():
            params["api_key"] = self.key.text().strip()
        if self.key_env.text().strip():
            params["api_key_env"] = self.key_env.text().strip()
        return params

    def _forget_list(self, *_args: Any) -> None:
        self.models.clear()
        self.models.setEnabled(False)
        self.add_button.setEnabled(False)

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #d9534f;" if error else "")

    def list_models(self) -> None:
        self._forget_list()
        self.list_button.setEnabled(False)
        self._say("Asking the server for its models…")
        call = self.client.call("models.probe_remote", self._params())
        call.on_success(self._listed).on_failure(self._failed)

    def _listed(self, offered: dict[str, Any]) -> None:
        self.list_button.setEnabled(True)
        for m in offered.get("models") or []:
            window = f"  (context {m['context_length']:,})" if m.get("context_length") else ""
            self.models.addItem(m["id"] + window, m["id"])
        self.models.setEnabled(self.models.count() > 0)
        self.add_button.setEnabled(self.models.count() > 0)
        n = self.models.count()
        self._say(
            f"{offered['base']} serves {n} model{'s' if n != 1 else ''}; pick one and add it."
        )

    def _failed(self, error: EngineError) -> None:
        self.list_button.setEnabled(True)
        self.add_button.setEnabled(self.models.count() > 0)
        self._say(error.message, error=True)

    def add(self) -> None:
        params = {**self._params(), "model": self.models.currentData()}
        if self.name.text().strip():
            params["name"] = self.name.text().strip()
        self.add_button.setEnabled(False)
        self.client.call("models.add_remote", params).on_success(self._added).on_failure(self._failed)  # fmt: skip

    def _added(self, model: dict[str, Any]) -> None:
        self.added = model
        self.accept()
