"""``ChatPanel``: conversations on the left, the conversation and the composer in the middle, the
settings on the right; it wires them to the engine's ``chat.*`` methods.

Replies stream through a ``ReplyStream`` (deltas batched per frame). A stopped reply keeps its
text marked *stopped*; a reply cut by an engine crash keeps its text marked *interrupted*, and
when the engine is back the conversation is reloaded from ``chat.get`` (the engine stored the
partial reply). After every reply the branch is reloaded so ids, siblings and figures are the
engine's.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QLabel,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.engine_client import EngineClient, EngineState
from desktop.errors import CancelledError, EngineCrashedError, EngineError, EngineHungError
from desktop.panels.chat.api_bar import ApiBar
from desktop.panels.chat.composer import Composer
from desktop.panels.chat.conversation_list import ConversationList
from desktop.panels.chat.conversation_view import ConversationView
from desktop.panels.chat.documents_chat import DocumentsChat
from desktop.panels.chat.exporting import export_menu
from desktop.panels.chat.figures import live_text, result_text
from desktop.panels.chat.header import ConversationHeader
from desktop.panels.chat.open_conversation import OpenConversation
from desktop.panels.chat.preset_pane import PresetPane
from desktop.panels.chat.presets_sync import PresetSync
from desktop.panels.chat.settings_pane import SettingsPane
from desktop.panels.chat.settings_sync import SettingsSync
from desktop.panels.chat.stream import ReplyStream
from desktop.panels.chat.thread_model import ThreadModel, local_message
from desktop.widgets import MessageBar

CRASH_NOTE = (
    "The engine stopped while writing the reply. The text so far is kept and marked "
    "interrupted; the conversation reloads when the engine is back."
)


class ChatPanel(QWidget):
    sig_reply_ended = Signal(object)
    """A reply ended: its ChatResult, or the ``EngineError`` it failed with."""
    sig_preset_done = Signal(object)
    """A preset's step after a reply ended: ``{message, outcome}``, or the ``EngineError``."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.current = OpenConversation(self)  # the open conversation, shared with the helpers
        self.stream: ReplyStream | None = None
        self._reload_after_restart: str | None = None
        # bumped by local changes to the branch: chat.get answers asked for before are stale
        self._edit_seq = 0
        self._figures = ""  # the last reply's figures while a preset step runs
        self._settings_stale = False  # the settings shown may be older than the engine's

        self.message = MessageBar()
        self.conversations = ConversationList(client)
        self.thread_model = ThreadModel(self)
        self.view = ConversationView(self.thread_model)
        self.composer = Composer()
        self.settings = SettingsPane()
        self.presets = PresetPane()
        self.settings.layout().insertWidget(0, self.presets)  # the preset picker comes first
        self.api_bar = ApiBar(client)
        self.header = ConversationHeader(export_menu(self))
        self.title_label = self.header.title
        self.export_button = self.header.export_button
        self.settings_button = self.header.settings_button
        self.stats_label = QLabel()
        self.stats_label.setStyleSheet("color: palette(placeholder-text);")
        self.stats_label.setWordWrap(True)

        center = QWidget()
        middle = QVBoxLayout(center)
        middle.setContentsMargins(4, 0, 4, 0)
        middle.addWidget(self.header)
        middle.addWidget(self.api_bar)
        middle.addWidget(self.view, 1)
        middle.addWidget(self.stats_label)
        middle.addWidget(self.composer)
        self.settings_scroll = QScrollArea()
        self.settings_scroll.setWidgetResizable(True)
        self.settings_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.settings_scroll.setWidget(self.settings)
        self.settings_scroll.setMinimumWidth(270)
        self.settings_button.toggled.connect(self.settings_scroll.setVisible)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.conversations)
        splitter.addWidget(center)
        splitter.addWidget(self.settings_scroll)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([210, 640, 290])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)

        self.header.layout().insertWidget(1, self.api_bar.header_button)
        self.sync = SettingsSync(client, self.current, self.settings, self.composer, self)
        self.sync.sig_error.connect(self.show_error)
        self.preset_sync = PresetSync(client, self.presets, self.settings, self)
        self.preset_sync.sig_error.connect(self.show_error)
        self.preset_sync.sig_message.connect(
            lambda text, kind: self.message.show_message(text, kind, timeout_ms=6000)
        )
        self.preset_sync.sig_needs_conversation.connect(
            lambda then: self.new_conversation(then=then)
        )
        self.preset_sync.sig_conversation_set_up.connect(self._preset_applied)
        self.preset_sync.sig_step_started.connect(self._preset_step_started)
        self.preset_sync.sig_step_done.connect(self._preset_step_done)
        # attached collections: answers with citations
        self.documents = DocumentsChat(client, self.current, self.thread_model, self.view, self)
        self.documents.sig_error.connect(self.show_error)
        self.header.layout().insertWidget(1, self.documents.picker)
        middle = self.composer.parentWidget().layout()
        middle.insertWidget(middle.indexOf(self.composer), self.documents.note)
        self.current.sig_saved.connect(self._conversation_saved)
        self.api_bar.sig_error.connect(self.show_error)
        for key, slot in (("Escape", self.stop), ("Ctrl+N", self.new_conversation)):
            shortcut = QShortcut(QKeySequence(key), self, activated=slot)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)

        self.conversations.sig_selected.connect(self.open_conversation)
        self.conversations.sig_new_requested.connect(self.new_conversation)
        self.conversations.sig_error.connect(self.show_error)
        self.view.sig_edit_requested.connect(self.composer.start_edit)
        self.view.sig_regenerate_requested.connect(self.regenerate)
        self.view.sig_branch_requested.connect(self.switch_branch)
        self.composer.sig_send.connect(self.send)
        self.composer.sig_stop.connect(self.stop)
        client.sig_ready.connect(self._on_ready)
        self._show_title()
        if client.state == EngineState.READY:
            self._on_ready(client.init_reply or {})

    # -- loading ----------------------------------------------------------------------------

    def _on_ready(self, _reply: dict[str, Any]) -> None:
        self.client.call("chat.params").on_success(
            lambda r: self.settings.set_descriptors(r.get("params") or [])
        )
        self.sync.load_models()
        self.conversations.refresh()
        conv_id, self._reload_after_restart = self._reload_after_restart, None
        if conv_id and self.conversation and self.conversation["id"] == conv_id:
            self.reload()
            self.message.show_message(
                "The engine is back. The interrupted reply was kept as far as it got; "
                "Regenerate writes a new one.",
                "info",
                timeout_ms=15000,
            )

    def on_shown(self) -> None:
        self.conversations.refresh()

    def open_conversation(self, conv: dict[str, Any] | None) -> None:
        if (conv or {}).get("id") != (self.conversation or {}).get("id"):
            self._edit_seq += 1  # answers about the conversation shown before are stale now
            self.thread_model.clear()
            self.stats_label.clear()  # the last reply's speed belongs to that conversation
        self.current.open(conv)
        self.composer.cancel_edit()
        self.settings.set_conversation(conv)
        self.settings.select_model((conv or {}).get("model_id"))
        self._show_title()
        self.sync.load_templates()
        self.preset_sync.set_conversation((conv or {}).get("id"))
        if conv is None:
            self.sync.schedule_meter()
            return
        self._settings_stale = True  # the list's copy may be older than the engine's
        self.reload()
        self.composer.editor.setFocus()

    def reload(self) -> None:
        """Show the current conversation's branch as the engine has it."""
        if self.conversation is None:
            return
        conv_id, seq = self.conversation["id"], self._edit_seq
        self.client.call("chat.get", {"id": conv_id}).on_success(
            lambda thread: seq == self._edit_seq and self._show_thread(thread)
        ).on_failure(self.show_error)

    def _show_thread(self, thread: dict[str, Any]) -> None:
        conv = thread.get("conversation") or {}
        if self.conversation is None or conv.get("id") != self.conversation["id"]:
            return  # the user moved on
        self.conversation = conv
        if self._settings_stale and not self.sync.saving():
            self.settings.set_conversation(conv)
            self.settings.select_model(conv.get("model_id"))
        self._settings_stale = False
        self.thread_model.set_messages(thread.get("messages") or [])
        self.documents.restore()  # attached collections; answers kept by older versions
        stream = self.stream
        if stream is not None and stream.conversation_id == conv["id"] and stream.text:
            row = self._stream_row()
            if row >= 0:
                self.thread_model.set_content(row, stream.text)
        self.view.set_busy(self.stream is not None)
        self.view.scroll_to_bottom()
        self._show_title()
        self.sync.schedule_meter()

    def _show_title(self) -> None:
        self.title_label.setText((self.conversation or {}).get("title") or "New chat")
        self.export_button.setEnabled(self.conversation is not None)

    # -- conversations ----------------------------------------------------------------------

    def new_conversation(self, *, then: Any = None) -> None:
        params = {"model_id": self.settings.model_id(), **self.documents.create_params()}
        if then is not None:  # sending from a blank panel: keep what the user set up
            params.update(
                system_prompt=self.settings.system_prompt_text(), params=self.settings.params()
            )

        def created(conv: dict[str, Any]) -> None:
            self.conversations.upsert(conv)
            self.conversations.select(conv["id"])
            if then is not None:
                then()

        self.client.call("chat.create", params).on_success(created).on_failure(self.show_error)

    def open_model(self, model_id: str) -> None:
        """Start a new conversation with ``model_id`` (a model fine-tuned in Training, say),
        listing the models again first: the model may have been added a moment ago."""

        def listed(result: dict[str, Any]) -> None:
            self.settings.set_models(result.get("models") or [], model_id)
            self.new_conversation()

        self.client.call("models.list").on_success(listed).on_failure(self.show_error)

    def switch_branch(self, message_id: str) -> None:
        if self.stream is not None:
            return
        self.client.call("chat.switch_branch", {"message_id": message_id}).on_success(
            self._show_thread
        ).on_failure(self.show_error)

    # -- replies ----------------------------------------------------------------------------

    def send(self, text: str) -> None:
        if self.stream is not None or not text.strip():
            return
        if self.conversation is None:
            self.new_conversation(then=lambda: self.send(text))
            return
        editing = self.composer.editing
        self.composer.editor.clear()
        self.composer.finish_edit()
        model = self.settings.model_id()
        params: dict[str, Any] = {"content": text, "params": self.settings.params()}
        if model:
            params["model"] = model
        if editing is not None and not editing.get("local"):
            self.thread_model.truncate(self.thread_model.row_of(editing["id"]))
            self.thread_model.append(local_message("user", text))
            self._start("chat.edit", {**params, "message_id": editing["id"]}, "edit")
            return
        self.thread_model.append(local_message("user", text))
        self._start("chat.send", {**params, "conversation_id": self.conversation["id"]}, "send")

    def regenerate(self, message: dict[str, Any]) -> None:
        if self.stream is not None or message.get("local"):
            return
        row = self.thread_model.row_of(message["id"])
        if row >= 0:
            self.thread_model.truncate(row)
        params: dict[str, Any] = {"message_id": message["id"], "params": self.settings.params()}
        if self.settings.model_id():
            params["model"] = self.settings.model_id()
        self._start("chat.regenerate", params, "regenerate")

    def stop(self) -> None:
        """Stop the reply being written (Esc); without one, Esc gives up an edit."""
        if self.stream is not None:
            self.stream.stop()
            self.stats_label.setText("Stopping…")
        else:
            self.composer.cancel_edit()

    def _start(self, method: str, params: dict[str, Any], kind: str) -> None:
        assert self.conversation is not None
        self._edit_seq += 1
        self.thread_model.append(local_message("assistant", state="streaming"))
        self.view.scroll_to_bottom()
        call = self.client.call(method, params)
        stream = ReplyStream(call, conversation_id=self.conversation["id"], kind=kind, parent=self)
        stream.sig_text.connect(self._on_stream_text)
        stream.sig_stats.connect(lambda stats: self.stats_label.setText(live_text(stats)))
        stream.sig_finished.connect(self._on_stream_finished)
        stream.sig_failed.connect(self._on_stream_failed)
        self.stream = stream
        self.stats_label.setText(live_text({}))
        self.message.hide()
        self._set_streaming(True)

    def _set_streaming(self, streaming: bool) -> None:
        self.current.streaming = streaming
        self.composer.set_streaming(streaming)
        self.view.set_busy(streaming)

    def _stream_row(self) -> int:
        """The row of the reply being written, when the current conversation shows it."""
        stream = self.stream
        if stream is None or (self.conversation or {}).get("id") != stream.conversation_id:
            return -1
        row = self.thread_model.row_of(stream.message_id) if stream.message_id else -1
        if row < 0:
            last = self.thread_model.message_at(self.thread_model.rowCount() - 1) or {}
            if last.get("role") == "assistant" and last.get("state") == "streaming":
                row = self.thread_model.rowCount() - 1
        return row

    def _on_stream_text(self, text: str) -> None:
        row = self._stream_row()
        if row >= 0:
            self.thread_model.set_content(row, text)

    def _end_stream(self, state: str) -> tuple[ReplyStream | None, int]:
        """Mark the reply's row with its final text and state; returns the stream and row."""
        stream, row = self.stream, self._stream_row()
        if stream is not None and row >= 0:
            self.thread_model.update(row, content=stream.text, state=state)
        self.stream = None
        self._set_streaming(False)
        return stream, row

    def _on_stream_finished(self, result: dict[str, Any]) -> None:
        self._end_stream("complete")
        self.stats_label.setText(f"Last reply: {result_text(result)}")
        self.settings.show_schema_error("")
        self._after_reply()
        self.preset_sync.after_reply(result)  # the SQL run or the review, when the preset has one
        self.sig_reply_ended.emit(result)

    def _on_stream_failed(self, error: EngineError) -> None:
        if isinstance(error, CancelledError):
            self._end_stream("cancelled")
            partial = error.data if isinstance(error.data, dict) else {}
            figures = result_text(partial)
            self.stats_label.setText("Stopped" + (f": {figures}" if figures else "."))
            self._after_reply()
        elif isinstance(error, (EngineCrashedError, EngineHungError)):
            stream, _row = self._end_stream("interrupted")
            self.stats_label.setText("Interrupted: the engine stopped.")
            self.message.show_message(CRASH_NOTE, "error")
            self._reload_after_restart = stream.conversation_id if stream else None
        else:
            _stream, row = self._end_stream("error")
            last = self.thread_model.message_at(row) or {}
            if row >= 0 and last.get("local") and not last.get("content"):
                self.thread_model.truncate(row)  # nothing was written: no empty reply box
            self.stats_label.clear()
            self.show_error(error)
            self._after_reply()
        self.sig_reply_ended.emit(error)

    @property
    def conversation(self) -> dict[str, Any] | None:
        return self.current.record

    @conversation.setter
    def conversation(self, record: dict[str, Any] | None) -> None:
        self.current.record = record  # the same conversation, as the engine now has it

    def _conversation_saved(self, updated: dict[str, Any]) -> None:
        self.conversations.upsert(updated)
        if updated.get("id") == self.current.id:
            self.sync.schedule_meter()

    # -- presets ----------------------------------------------------------------------------

    def _preset_applied(self, conv: dict[str, Any]) -> None:
        if self.conversation is None or self.conversation["id"] != conv.get("id"):
            return
        self.conversation = {**self.conversation, **conv}
        self.conversations.upsert(conv)
        self.settings.set_conversation(self.conversation)
        self.sync.schedule_meter()

    def _preset_step_started(self, note: str) -> None:
        self._figures = self.stats_label.text()  # the reply's figures stay in front
        self.stats_label.setText(f"{self._figures} · {note}" if self._figures else note)

    def _preset_step_done(self, note: str, answer: Any) -> None:
        figures = self._figures
        if note:
            self.stats_label.setText(f"{figures} · {note}" if figures else note)
            self.reload()
        else:
            self.stats_label.clear()
        self.sig_preset_done.emit(answer)

    def _after_reply(self) -> None:
        self.reload()
        self.conversations.refresh()

    # -- errors -----------------------------------------------------------------------------

    def show_error(self, error: EngineError) -> None:
        self.message.show_message(error.message, "error")
        if "JSON Schema" in error.message:
            self.settings.show_schema_error(error.message)
