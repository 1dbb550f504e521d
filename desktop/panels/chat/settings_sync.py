"""``SettingsSync``: keeps the Chat panel's side settings and context meter in step with the engine.

- the model list (``models.list``, chat models only), the template picker (``chat.templates``
  for the chosen model; a pick is saved with ``chat.set_template``) and the model's loading
  settings (``chat.model_settings``, saved with ``chat.set_model_settings``);
- the system prompt, sampling and JSON mode of the open conversation, saved with ``chat.update``
  a moment after the user stops changing them (the engine checks them: an invalid JSON Schema
  comes back as the engine's message, shown under the schema editor);
- the context meter: ``chat.count_tokens`` for the conversation plus the draft, debounced while
  the user types; answers that a newer request overtook are dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.engine_client import EngineClient, EngineState

if TYPE_CHECKING:
    from desktop.panels.chat.composer import Composer
    from desktop.panels.chat.open_conversation import OpenConversation
    from desktop.panels.chat.settings_pane import SettingsPane

METER_DEBOUNCE_MS = 400
SAVE_DEBOUNCE_MS = 500


class SettingsSync(QObject):
    sig_error = Signal(object)
    """An engine call failed (an ``EngineError``)."""

    def __init__(
        self,
        client: EngineClient,
        current: OpenConversation,
        settings: SettingsPane,
        composer: Composer,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.client = client
        self.current = current
        self.settings = settings
        self.composer = composer
        self.meter = composer.meter
        self._meter_seq = 0
        self._meter_timer = self._single_shot(METER_DEBOUNCE_MS, self.refresh_meter)
        self._save_timer = self._single_shot(SAVE_DEBOUNCE_MS, self.save)
        composer.editor.textChanged.connect(self._meter_timer.start)
        self.settings.sig_changed.connect(self._changed)
        self.settings.sig_model_changed.connect(self._model_changed)
        self.settings.sig_template_changed.connect(self._template_changed)
        self.settings.model_box.sig_changed.connect(self._model_settings_changed)
        self.client.sig_models_changed.connect(self.load_models)
        self.client.sig_notification.connect(
            lambda method, _params: method == "prefs.changed" and self.load_models()
        )

    def _single_shot(self, ms: int, slot) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(ms)
        timer.timeout.connect(slot)
        return timer

    # -- models and templates -------------------------------------------------------------

    def load_models(self) -> None:
        """The chat models and the user's default model, asked together, shown when both are in
        (an engine without preferences: no default model of the user's)."""
        answers: dict[str, Any] = {}

        def arrived(key: str, value: dict[str, Any]) -> None:
            answers[key] = value
            if len(answers) < 2:
                return
            conv = self.current.record or {}
            preferred = (answers["prefs"].get("preferences") or {}).get("default_model")
            self.settings.set_models(answers["models"].get("models") or [], conv.get("model_id"), preferred)  # fmt: skip
            self.load_templates()
            self.schedule_meter()

        self.client.call("prefs.get").on_success(lambda r: arrived("prefs", r)).on_failure(
            lambda _e: arrived("prefs", {})
        )
        self.client.call("models.list").on_success(lambda r: arrived("models", r)).on_failure(
            self.sig_error.emit
        )

    def load_templates(self) -> None:
        """The chosen model's template choices and its loading settings."""
        model_id = self.settings.model_id()
        call = self.client.call("chat.templates", {"model_id": model_id} if model_id else {})
        call.on_success(self.settings.set_templates)
        box = self.settings.model_box
        if not model_id:
            box.show_settings(None)
            return
        self.client.call("chat.model_settings", {"model_id": model_id}).on_success(
            lambda reply: (
                reply.get("model_id") == self.settings.model_id() and box.show_settings(reply)
            )
        )

    def _model_settings_changed(self, changes: dict[str, Any]) -> None:
        model_id = self.settings.model_id()
        if not model_id:
            return
        self.client.call(
            "chat.set_model_settings", {"model_id": model_id, "settings": changes}
        ).on_success(self.settings.model_box.show_settings).on_failure(self.sig_error.emit)

    def _model_changed(self, model_id: str | None) -> None:
        self.load_templates()
        self.schedule_meter()
        conv = self.current.record
        if conv is not None and model_id:
            self.client.call("chat.update", {"id": conv["id"], "model_id": model_id}).on_failure(
                self.sig_error.emit
            )

    def _template_changed(self, template: str) -> None:
        model_id = self.settings.model_id()
        if not model_id:
            return
        self.client.call(
            "chat.set_template", {"model_id": model_id, "template": template}
        ).on_success(
            lambda info: (self.settings.set_templates(info), self.schedule_meter())
        ).on_failure(self.sig_error.emit)

    # -- the conversation's settings ------------------------------------------------------

    def _changed(self) -> None:
        self._save_timer.start()
        self.schedule_meter()

    def saving(self) -> bool:
        """Whether the user changed settings that are not saved yet."""
        return self._save_timer.isActive()

    def save(self) -> None:
        conv = self.current.record
        if conv is None:
            return
        conv_id = conv["id"]
        params = {
            "id": conv_id,
            "system_prompt": self.settings.system_prompt_text(),
            "params": self.settings.params(),
        }

        def saved(updated: dict[str, Any]) -> None:
            self.current.merge(updated)
            self.settings.show_schema_error("")

        self.client.call("chat.update", params).on_success(saved).on_failure(self.sig_error.emit)

    # -- context meter --------------------------------------------------------------------

    def schedule_meter(self) -> None:
        self._meter_timer.start()

    def refresh_meter(self) -> None:
        if self.client.state != EngineState.READY or self.current.streaming:
            return
        model_id = self.settings.model_id()
        if model_id is None:  # no chat model in the library (yet)
            self.meter.clear()
            return
        params = {k: v for k, v in self.settings.params().items() if k != "json_schema"}
        request: dict[str, Any] = {"params": params, "model": model_id}
        draft = self.composer.text()
        conv = self.current.record
        if conv is not None:
            request.update(conversation_id=conv["id"], content=draft)
        else:
            system = self.settings.system_prompt_text()
            messages = [{"role": "system", "content": system}] if system.strip() else []
            request["messages"] = [*messages, {"role": "user", "content": draft}]
        self._meter_seq += 1
        seq = self._meter_seq
        self.client.call("chat.count_tokens", request).on_success(
            lambda count: seq == self._meter_seq and self.meter.show_count(count)
        ).on_failure(
            lambda error: seq == self._meter_seq and self.meter.note.setText(error.message)
        )
