"""``PresetSync``: connects the ``PresetPane`` to the engine's ``chat.presets.*`` methods.

- lists presets (and the models the reviewer can be) when the engine is ready;
- shows the open conversation's preset (``chat.presets.binding``);
- *Use* applies a preset (``chat.presets.apply``; from a blank panel it first creates the
  conversation), then shows the system prompt and settings the engine set;
- a chosen SQLite file is checked (``chat.presets.sql_schema``: a file that is not a database is
  the engine's clear error) and, in a conversation already using the SQL preset, applied at once;
- after each reply in a conversation whose preset has a second step (SQL, review), runs it
  (``chat.presets.process``) and reloads the conversation so the reply shows the result table
  or the verdict;
- *Save as preset*, *Delete*/*Reset*, and the injection test dialog.

It knows the pane, the settings pane and the open conversation's id (``set_conversation``), and
tells the Chat panel everything else through signals; it never reaches into the panel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox

from desktop.engine_client import EngineClient, EngineState
from desktop.panels.chat.injection_dialog import InjectionTestDialog

if TYPE_CHECKING:
    from desktop.panels.chat.preset_pane import PresetPane
    from desktop.panels.chat.settings_pane import SettingsPane

STEP_NOTES = {"sql": "Running the SQL read-only…", "moderated": "Reviewing the draft…"}


class PresetSync(QObject):
    sig_error = Signal(object)
    """An engine call failed (an ``EngineError``)."""
    sig_message = Signal(str, str)
    """A line for the panel's message bar: text and kind (info, success)."""
    sig_conversation_set_up = Signal(object)
    """A preset was applied; the argument is the conversation as the engine changed it."""
    sig_needs_conversation = Signal(object)
    """Applying from a blank panel: create a conversation, then call the argument."""
    sig_step_started = Signal(str)
    """The preset's second step runs on the last reply; the argument says what it does."""
    sig_step_done = Signal(str, object)
    """The step ended: a line saying how ("" when it failed) and the answer or the error."""

    def __init__(
        self,
        client: EngineClient,
        pane: PresetPane,
        settings: SettingsPane,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.client = client
        self.pane = pane
        self.settings = settings
        self.conversation_id: str | None = None
        self.binding: dict[str, Any] | None = None
        self.dialog: InjectionTestDialog | None = None
        self.processing: str | None = None  # the message id whose preset step runs
        self._seq = 0
        self.pane.sig_apply.connect(self.apply)
        self.pane.sig_detach.connect(self.detach)
        self.pane.sig_database_chosen.connect(self.database_chosen)
        self.pane.sig_save_as.connect(self.save_as)
        self.pane.sig_delete.connect(self.delete)
        self.pane.sig_run_injection_tests.connect(self.run_injection_tests)
        self.client.sig_ready.connect(lambda _r: self.load())
        self.client.sig_models_changed.connect(self.load_models)
        if self.client.state == EngineState.READY:
            self.load()

    # -- loading ----------------------------------------------------------------------------
    def load(self, *, select: str | None = None) -> None:
        def listed(result: dict[str, Any]) -> None:
            self.pane.set_presets(result.get("presets") or [])
            if select is not None:
                self.pane.select(select)

        self.client.call("chat.presets.list").on_success(listed)
        self.load_models()
        self.load_binding()

    def load_models(self) -> None:
        self.client.call("models.list").on_success(
            lambda r: self.pane.set_models(r.get("models") or [])
        )

    def set_conversation(self, conversation_id: str | None) -> None:
        """The open conversation changed: show its preset."""
        self.conversation_id = conversation_id
        self.load_binding()

    def load_binding(self) -> None:
        self._seq += 1
        seq, conv_id = self._seq, self.conversation_id
        if conv_id is None:
            self._show_binding(None)
            return
        self.client.call("chat.presets.binding", {"conversation_id": conv_id}).on_success(
            lambda r: seq == self._seq and self._show_binding(r.get("binding"))
        )

    def _show_binding(self, binding: dict[str, Any] | None) -> None:
        self.binding = binding
        self.pane.show_binding(binding)

    # -- applying ---------------------------------------------------------------------------
    def apply(self, preset_id: str, options: dict[str, Any]) -> None:
        if self.conversation_id is None:
            then: Callable[[], None] = lambda: self.apply(preset_id, options)  # noqa: E731
            self.sig_needs_conversation.emit(then)
            return
        params = {"conversation_id": self.conversation_id, "preset_id": preset_id,
                  "options": options}  # fmt: skip
        self.client.call("chat.presets.apply", params).on_success(self._applied).on_failure(
            self.sig_error.emit
        )

    def _applied(self, result: dict[str, Any]) -> None:
        conv = result.get("conversation") or {}
        if self.conversation_id is None or self.conversation_id != conv.get("id"):
            return
        self._show_binding(result.get("binding"))
        self.sig_conversation_set_up.emit(conv)
        name = (result.get("binding") or {}).get("name") or "The preset"
        self.sig_message.emit(
            f"“{name}” is set up for this conversation: its system prompt and settings are in "
            "the settings below.",
            "info",
        )

    def detach(self) -> None:
        if self.conversation_id is None:
            return
        self.client.call(
            "chat.presets.detach", {"conversation_id": self.conversation_id}
        ).on_success(lambda _r: self._show_binding(None)).on_failure(self.sig_error.emit)

    def database_chosen(self, path: str) -> None:
        def checked(schema: dict[str, Any]) -> None:
            self.pane.show_schema(schema)
            bound = self.binding or {}
            if bound.get("kind") == "sql" and self.conversation_id is not None:
                self.apply(bound["preset_id"], {"database": path})

        def failed(error) -> None:
            self.pane.show_schema(None, error.message)
            self.sig_error.emit(error)

        self.client.call("chat.presets.sql_schema", {"path": path}).on_success(checked).on_failure(
            failed
        )

    # -- after a reply ----------------------------------------------------------------------
    def after_reply(self, result: dict[str, Any]) -> bool:
        """Run the preset's step on the reply that just ended; False when there is none."""
        kind = (self.binding or {}).get("kind")
        message = result.get("message") or {}
        if kind not in STEP_NOTES or not message.get("id"):
            return False
        if (self.binding or {}).get("conversation_id") != message.get("conversation_id"):
            return False
        self.processing = message["id"]
        self.sig_step_started.emit(STEP_NOTES[kind])

        def done(answer: dict[str, Any]) -> None:
            self.processing = None
            self.sig_step_done.emit(_outcome_text(answer.get("outcome") or {}), answer)

        def failed(error) -> None:
            self.processing = None
            self.sig_error.emit(error)
            self.sig_step_done.emit("", error)

        self.client.call("chat.presets.process", {"message_id": message["id"]}).on_success(
            done
        ).on_failure(failed)
        return True

    # -- managing presets -------------------------------------------------------------------
    def save_as(self) -> None:
        name, ok = QInputDialog.getText(
            self.pane, "Save as preset", "Name of the new preset:", QLineEdit.EchoMode.Normal
        )
        if not ok or not name.strip():
            return
        params = {
            "name": name.strip(),
            "kind": "plain",
            "system_prompt": self.settings.system_prompt_text(),
            "params": self.settings.params(),
        }

        def created(preset: dict[str, Any]) -> None:
            self.load(select=preset["id"])
            self.sig_message.emit(f"Saved the preset “{preset['name']}”.", "success")

        self.client.call("chat.presets.create", params).on_success(created).on_failure(
            self.sig_error.emit
        )

    def delete(self, preset_id: str) -> None:
        preset = next((p for p in self.pane.presets if p["id"] == preset_id), None)
        if preset is None:
            return
        verb = "Reset" if preset.get("builtin") else "Delete"
        question = (
            f"Undo your edits to “{preset['name']}”?"
            if preset.get("builtin")
            else f"Delete the preset “{preset['name']}”? Conversations using it keep their "
            "system prompt and settings."
        )
        answer = QMessageBox.question(self.pane, f"{verb} preset", question)
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.client.call("chat.presets.delete", {"id": preset_id}).on_success(
            lambda _r: self.load()
        ).on_failure(self.sig_error.emit)

    def run_injection_tests(self) -> None:
        request: dict[str, Any] = {}
        if self.conversation_id is not None and (self.binding or {}).get("kind") == "guarded":
            request["conversation_id"] = self.conversation_id  # its (possibly edited) system prompt
        else:
            request["preset_id"] = self.pane.selected_id() or "builtin-guarded"
        model = self.settings.model_id()
        if model:
            request["model"] = model
        self.dialog = InjectionTestDialog(self.client, request, self.pane.window())
        self.dialog.show()
        self.dialog.run()


def _outcome_text(outcome: dict[str, Any]) -> str:
    if outcome.get("kind") == "sql":
        if outcome.get("error"):
            return "The SQL was refused." if outcome.get("refused") else "The SQL failed."
        return f"The SQL returned {outcome.get('row_count', 0)} row(s)."
    if outcome.get("kind") == "moderated":
        verdict = outcome.get("verdict")
        return {
            "pass": "The review passed the reply.",
            "rewrite": "The review rewrote the reply.",
            "block": "The review blocked the reply.",
        }.get(verdict, "The review stopped.")
    return ""
