"""``DocumentsChat``: document collections attached to a conversation, and the answers they give.

- **Attaching.** The header's *Documents* menu (``CollectionsPicker``) ticks collections for the
  open conversation. ``chat.update`` cannot carry them (its ``params`` are checked ChatParams), so
  the choice is kept on this computer, per conversation, in the desktop settings file
  (``QSettings``: ``chat_documents/<conversation id>/collections``).
- **Asking.** While collections are attached, *Send* goes to ``docs.ask`` instead of ``chat.send``:
  the engine retrieves, builds the grounded prompt, streams the reply (``chat.delta``) and answers
  with numbered citations. ``docs.ask`` is stateless -- the engine neither sees the conversation's
  earlier turns nor stores the exchange -- so the question and the answer (with its citations) are
  kept in the same settings file, tied to the message they followed, and shown in place whenever
  the conversation is shown.
- **Citations.** ``[n]`` in a reply is a link; a click opens the ``SourceViewer`` on that passage
  (file, page, heading, the cited span highlighted).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSettings, QUrl, Signal

from desktop.engine_client import EngineState
from desktop.errors import CancelledError, EngineCrashedError, EngineError, EngineHungError
from desktop.panels.chat.citations import answer_markdown, cited_number, find_citation
from desktop.panels.chat.documents_attach import AttachedNote, CollectionsPicker
from desktop.panels.chat.figures import live_text, result_text
from desktop.panels.chat.stream import ReplyStream
from desktop.panels.chat.thread_model import local_message
from desktop.panels.documents.source_viewer import SourceViewer

if TYPE_CHECKING:
    from desktop.panels.chat.message_view import MessageView
    from desktop.panels.chat.panel import ChatPanel

KEY = "chat_documents/{conv}/{what}"
NEW_TITLE = "New chat"  # the engine's title for a chat with no messages yet
META_KEYS = ("model_id", "runtime", "device", "usage", "timings", "finish_reason")


def settings_file() -> QSettings:
    from desktop.main_window import settings_path  # the app's one settings file

    return QSettings(str(settings_path()), QSettings.Format.IniFormat)


class DocumentsChat(QObject):
    sig_answered = Signal(object)
    """A documents answer ended: its result (with citations), or the ``EngineError``."""
    sig_viewer_opened = Signal(object)
    """A citation was opened; the argument is the ``SourceViewer``."""

    def __init__(self, panel: ChatPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.client = panel.client
        self.settings = settings_file()
        self.pending: list[str] = []  # attached on a blank panel, before the conversation exists
        self.listed = False
        self.stream: ReplyStream | None = None
        self.viewer: SourceViewer | None = None
        self._live: list[dict[str, Any]] = []  # the exchange being answered: question, reply
        self.picker = CollectionsPicker()
        self.note = AttachedNote()
        panel.header.layout().insertWidget(1, self.picker)
        middle = panel.composer.parentWidget().layout()
        middle.insertWidget(middle.indexOf(panel.composer), self.note)
        self.picker.sig_changed.connect(self._attached_changed)
        self.picker.sig_menu_opening.connect(self.load_collections)
        panel.conversations.sig_selected.connect(lambda _c: self._conversation_changed())
        model = panel.thread_model
        for signal in (model.rowsInserted, model.modelReset, model.rowsRemoved):
            signal.connect(lambda *_a: self._hook_links())
        self.client.sig_ready.connect(lambda _r: self.load_collections())
        self.client.sig_notification.connect(self._on_notification)
        if self.client.state == EngineState.READY:
            self.load_collections()
        self._conversation_changed()

    # -- collections and the attached choice -------------------------------------------------
    def load_collections(self) -> None:
        self.client.call("docs.list").on_success(self._listed)

    def _listed(self, result: dict[str, Any]) -> None:
        self.listed = True
        self.picker.set_collections(result.get("collections") or [])
        self._show_attached()

    def _on_notification(self, method: str, _params: Any) -> None:
        if method == "docs.changed":
            self.load_collections()

    def _conv_id(self) -> str | None:
        return (self.panel.conversation or {}).get("id")

    def _read(self, conv_id: str, what: str) -> Any:
        raw = self.settings.value(KEY.format(conv=conv_id, what=what), "", type=str)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _write(self, conv_id: str, what: str, value: Any) -> None:
        self.settings.setValue(KEY.format(conv=conv_id, what=what), json.dumps(value))
        self.settings.sync()

    def attached(self) -> list[str]:
        """Ids of the collections attached to the open conversation (that still exist)."""
        conv_id = self._conv_id()
        ids = self.pending if conv_id is None else (self._read(conv_id, "collections") or [])
        if self.listed:
            known = {c["id"] for c in self.picker.collections}
            ids = [i for i in ids if i in known]
        return list(ids)

    def attach(self, ids: list[str]) -> None:
        """Attach exactly these collections to the open conversation."""
        self.picker.set_selected(ids)
        self._attached_changed(ids)

    def _attached_changed(self, ids: list[str]) -> None:
        conv_id = self._conv_id()
        if conv_id is None:
            self.pending = list(ids)
        else:
            self._write(conv_id, "collections", list(ids))
        self._show_attached()

    def _conversation_changed(self) -> None:
        conv = self.panel.conversation
        if conv is not None and self.pending and conv.get("current_leaf_id") is None:
            if not self._read(conv["id"], "collections"):  # a chat started with them attached
                self._write(conv["id"], "collections", self.pending)
            self.pending = []
        self._show_attached()

    def _show_attached(self) -> None:
        ids = self.attached()
        self.picker.set_selected(ids)
        self.note.show_names(self.picker.names(ids))

    # -- asking ------------------------------------------------------------------------------
    def intercept(self, text: str) -> bool:
        """Answer ``text`` from the attached collections; False when none are attached."""
        panel = self.panel
        ids = self.attached()
        if not ids or panel.conversation is None or panel.stream is not None:
            return False
        panel.composer.editor.clear()
        panel.composer.finish_edit()  # an edited earlier question is asked anew
        stored = [m for m in panel.thread_model.messages() if not m.get("local")]
        anchor = stored[-1]["id"] if stored else None
        question = {**local_message("user", text), "documents": True, "anchor": anchor}
        reply = {**local_message("assistant", state="streaming"), "documents": True}
        self._live = [question, reply]
        panel.thread_model.append(question)
        panel.thread_model.append(reply)
        panel.view.scroll_to_bottom()
        params: dict[str, Any] = {
            "collections": ids,
            "question": text,
            "params": {k: v for k, v in panel.settings.params().items() if k != "json_schema"},
        }
        if panel.settings.model_id():
            params["model"] = panel.settings.model_id()
        call = self.client.call("docs.ask", params)
        stream = ReplyStream(
            call, conversation_id=panel.conversation["id"], kind="documents", parent=self
        )
        stream.sig_text.connect(lambda t: self._set_live(content=t))
        stream.sig_stats.connect(lambda stats: panel.stats_label.setText(live_text(stats)))
        stream.sig_finished.connect(self._finished)
        stream.sig_failed.connect(self._failed)
        self.stream = panel.stream = stream  # so Esc and Stop stop it, and Send waits
        panel.stats_label.setText(live_text({}))
        panel.message.hide()
        panel._set_streaming(True)
        return True

    def _set_live(self, **changes: Any) -> None:
        if len(self._live) != 2:
            return
        self._live[1].update(changes)
        row = self.panel.thread_model.row_of(self._live[1]["id"])
        if row >= 0:
            self.panel.thread_model.update(row, **changes)

    def _end(self) -> tuple[list[dict[str, Any]], bool]:
        """Stop following the stream; the live question and reply, and whether they are shown."""
        stream, self.stream = self.stream, None
        if self.panel.stream is stream:
            self.panel.stream = None
        self.panel._set_streaming(False)
        live, self._live = self._live, []
        visible = stream is not None and stream.conversation_id == self._conv_id()
        return live, visible

    def _finished(self, result: dict[str, Any]) -> None:
        self._keep(result, "complete")
        self.panel.stats_label.setText(
            f"Last reply: {result_text(result)} · answered from documents"
            + (" (nothing relevant found)" if result.get("nothing_found") else "")
        )
        self.sig_answered.emit(result)
        self.panel.sig_reply_ended.emit(result)

    def _failed(self, error: EngineError) -> None:
        partial = error.data if isinstance(error.data, dict) else {}
        written = self.stream.text if self.stream else ""
        if isinstance(error, CancelledError):
            self._keep({**partial, "text": partial.get("text") or written}, "cancelled")
            self.panel.stats_label.setText("Stopped.")
        elif isinstance(error, (EngineCrashedError, EngineHungError)) and written:
            self._keep({"text": written}, "interrupted")
            self.panel.stats_label.setText("Interrupted: the engine stopped.")
            self.panel.show_error(error)
        else:
            live, visible = self._end()
            if visible and live:  # nothing kept: the question goes back to the composer
                row = self.panel.thread_model.row_of(live[0]["id"])
                if row >= 0:
                    self.panel.thread_model.truncate(row)
                if not self.panel.composer.editor.toPlainText():
                    self.panel.composer.editor.setPlainText(live[0]["content"])
            self.panel.stats_label.clear()
            self.panel.show_error(error)
        self.sig_answered.emit(error)
        self.panel.sig_reply_ended.emit(error)

    def _keep(self, result: dict[str, Any], state: str) -> None:
        """Store the exchange with its conversation; show the reply with linked citations."""
        conv_id = self.stream.conversation_id if self.stream else None
        live, visible = self._end()
        if conv_id is None or not live:
            return
        entry = {
            "anchor": live[0].get("anchor"),
            "question": live[0]["content"],
            "text": result.get("text") or "",
            "state": state,
            "citations": result.get("citations") or [],
            "meta": {k: result[k] for k in META_KEYS if k in result},
        }
        answers = self._read(conv_id, "answers") or []
        answers.append(entry)
        self._write(conv_id, "answers", answers)
        if visible:
            self.restore()
        self._retitle(conv_id, entry["question"])

    def _retitle(self, conv_id: str, question: str) -> None:
        """Name a new chat after its first question, as ``chat.send`` does for its messages."""
        conv = self.panel.conversation or {}
        if conv.get("id") != conv_id or conv.get("title") not in (None, "", NEW_TITLE):
            return
        if conv.get("current_leaf_id") is not None:
            return
        line = " ".join(question.split())
        title = line if len(line) <= 60 else line[:59].rstrip() + "…"

        def renamed(updated: dict[str, Any]) -> None:
            if (self.panel.conversation or {}).get("id") == updated.get("id"):
                self.panel.conversation = {**self.panel.conversation, "title": updated["title"]}
                self.panel._show_title()
            self.panel.conversations.upsert(updated)

        if title:
            self.client.call("chat.rename", {"id": conv_id, "title": title}).on_success(renamed)

    # -- showing stored answers ------------------------------------------------------------
    def restore(self) -> None:
        """Put the conversation's document answers back beside the messages they followed
        (called after the panel showed the engine's branch)."""
        conv_id = self._conv_id()
        if conv_id is None:
            return
        answers = self._read(conv_id, "answers") or []
        model = self.panel.thread_model
        rows = [m for m in model.messages() if not m.get("documents")]
        by_anchor: dict[Any, list[dict[str, Any]]] = {}
        for i, entry in enumerate(answers):
            by_anchor.setdefault(entry.get("anchor"), []).extend(pair(conv_id, i, entry))
        merged = list(by_anchor.get(None, []))
        for message in rows:
            merged.append(message)
            if not message.get("local"):
                merged.extend(by_anchor.get(message["id"], []))
        if self.stream is not None and self.stream.conversation_id == conv_id:
            merged.extend(self._live)
        if merged != model.messages():
            model.set_messages(merged)

    def _hook_links(self) -> None:
        for view in self.panel.view.views:
            body = view.body
            if not body.property("hearth_citations"):
                body.setProperty("hearth_citations", True)
                body.anchorClicked.connect(lambda url, v=view: self._link(url, v))

    def _link(self, url: QUrl, view: MessageView) -> None:
        n = cited_number(url.toString())
        if n is not None:
            self.open_citation(view.message, n)

    def open_citation(self, message: dict[str, Any], n: int) -> SourceViewer | None:
        """Open the passage of source ``n`` of a documents reply."""
        citation = find_citation(message, n)
        if citation is None:
            return None
        self.viewer = SourceViewer(self.client, citation, parent=self.panel)
        self.viewer.show()
        self.sig_viewer_opened.emit(self.viewer)
        return self.viewer


def pair(conv_id: str, i: int, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The question and the reply of a stored documents answer, as thread rows."""
    base = {
        "conversation_id": conv_id,
        "local": True,
        "documents": True,
        "siblings": [],
        "sibling_index": 0,
    }
    state = entry.get("state") or "complete"
    question = {
        **base,
        "id": f"docs-{i}-q",
        "role": "user",
        "content": entry.get("question") or "",
        "state": "complete",
        "partial": False,
        "interrupted": False,
        "metadata": {},
    }
    reply = {
        **base,
        "id": f"docs-{i}-a",
        "role": "assistant",
        "content": answer_markdown(entry.get("text") or "", entry.get("citations") or []),
        "state": state,
        "partial": state != "complete",
        "interrupted": False,
        "metadata": {**(entry.get("meta") or {}), "citations": entry.get("citations") or []},
    }
    return [question, reply]
