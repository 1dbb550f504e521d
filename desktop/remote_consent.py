"""Asking once per model server before text leaves the machine.

The engine refuses any request that would send text to a server the user has not confirmed
(error -32010, with the server's address). ``install(client, parent)`` makes the client hand
such a refusal here instead of to the caller: a question names the server and what goes there;
on yes the engine records the consent (``models.confirm_remote``) and the very same call is sent
again -- the chat message, the evaluation or the generation job goes on as if nothing happened;
on no the call fails with a message saying nothing was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.engine_client import Call, EngineClient, EngineState
from desktop.errors import EngineError, EngineUnavailableError, UserFacingError

Ask = Callable[[str, str], bool]


def question(base: str, message: str) -> str:
    return (
        f"<p><b>Send text to {base}?</b></p><p>{message}</p><p>Hearth sends this server the "
        "messages, documents' passages and prompts you use with its models, and nothing to any "
        "other place. You are asked once for each server.</p>"
    )


def ask_with_box(parent: QWidget | None) -> Ask:
    def ask(base: str, message: str) -> bool:
        box = QMessageBox(parent)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Text leaves this machine")
        box.setText(question(base, message))
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Send to this server")
        box.button(QMessageBox.StandardButton.No).setText("Don't send")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    return ask


def install(client: EngineClient, ask: Ask) -> None:
    waiting: dict[str, list[Call]] = {}  # server -> the calls held while its question is open

    def needed(call: Call, error: EngineError) -> None:
        base = (error.data or {}).get("base") if isinstance(error.data, dict) else None
        if not base:
            call._fail(error)
            return
        if base in waiting:  # several requests refused together: one question for all of them
            waiting[base].append(call)
            return
        waiting[base] = [call]
        # not from inside the engine client's read of stdout: a modal question there would
        # read the engine's next lines in its own event loop
        QTimer.singleShot(0, lambda: decide(base))

    def settle(base: str, outcome: Callable[[Call], None]) -> None:
        for call in waiting.pop(base, []):
            outcome(call)

    def decide(base: str) -> None:
        if not ask(base, "The model you picked runs on that server."):
            refused = UserFacingError(f"Nothing was sent to {base}: you chose not to send text there.", code=-32010)  # fmt: skip
            settle(base, lambda call: call._fail(refused))
            return
        confirmed = client.call("models.confirm_remote", {"base": base})
        confirmed.on_success(lambda _info: settle(base, lambda call: resend(client, call)))
        confirmed.on_failure(lambda error: settle(base, lambda call: call._fail(error)))

    client.on_consent_needed = needed


def resend(client: EngineClient, call: Call) -> None:
    """Send ``call``'s request again under a new id; its callbacks stay connected."""
    if client.state != EngineState.READY:
        call._fail(EngineUnavailableError(client.failure_reason or "The engine restarted; send it again."))  # fmt: skip
        return
    request_id = client._take_id()
    call.id = request_id
    client._pending[request_id] = call
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": call.method, "params": call.params}  # fmt: skip
    client._write(message)
