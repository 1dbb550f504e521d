"""``DocumentsChat``: document collections attached to a conversation, and their citations.

- **Attaching.** The header's *Documents* menu (``CollectionsPicker``) ticks collections for the
  open conversation; the choice is the engine's: ``chat.update {collections}`` (a blank panel
  keeps it until its conversation is made, then ``chat.create`` carries it). The conversation
  object's ``collections`` is what the menu and the note above the composer show.
- **Asking.** Nothing special on this side: *Send*, *Regenerate* and *Edit* go through the usual
  ``chat.send``/``regenerate``/``edit``. The engine sees the attached collections, retrieves for the
  question, sends the grounded prompt with the conversation's earlier turns, and stores the
  numbered citations in the reply's ``metadata.citations`` -- so they are in the conversation's
  history, its exports and the CLI, and shown for any stored reply after a reload or on another
  branch.
- **Citations.** ``[n]`` in such a reply is a link (``citations.message_markdown``); a click opens
  the ``SourceViewer`` on that passage (file, page, heading, the cited span highlighted).
- **Older versions** kept the attached collections and the answers in the desktop settings file.
  On first showing such a conversation its collections are set in the engine and the setting is
  removed; its old answers stay in the settings file and are shown, read-only, where they were
  asked (``documents_legacy``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtWidgets import QWidget

from desktop.engine_client import EngineClient, EngineState
from desktop.panels.chat.citations import cited_number, find_citation
from desktop.panels.chat.documents_attach import AttachedNote, CollectionsPicker
from desktop.panels.chat.documents_legacy import LegacyAnswers
from desktop.panels.documents.source_viewer import SourceViewer

if TYPE_CHECKING:
    from desktop.panels.chat.conversation_view import ConversationView
    from desktop.panels.chat.message_view import MessageView
    from desktop.panels.chat.open_conversation import OpenConversation
    from desktop.panels.chat.thread_model import ThreadModel


class DocumentsChat(QObject):
    sig_attached = Signal(object)
    """The engine took a new choice of collections; the argument is the Conversation."""
    sig_viewer_opened = Signal(object)
    """A citation was opened; the argument is the ``SourceViewer``."""

    sig_error = Signal(object)
    """An engine call failed (an ``EngineError``)."""

    def __init__(
        self,
        client: EngineClient,
        current: OpenConversation,
        thread_model: ThreadModel,
        view: ConversationView,
        parent: QWidget,
    ) -> None:
        """``picker`` and ``note`` are for the owner to place (the header, above the composer)."""
        super().__init__(parent)
        self.client = client
        self.current = current
        self.thread_model = thread_model
        self.view = view
        self.dialog_parent = parent
        self.legacy = LegacyAnswers()
        self.pending: list[str] = []  # attached on a blank panel, before the conversation exists
        self.listed = False
        self.viewer: SourceViewer | None = None
        self.picker = CollectionsPicker()
        self.note = AttachedNote()
        self.picker.sig_changed.connect(self._attached_changed)
        self.picker.sig_menu_opening.connect(self.load_collections)
        current.sig_opened.connect(lambda _c: self._show_attached())
        model = thread_model
        for signal in (model.rowsInserted, model.modelReset, model.rowsRemoved):
            signal.connect(lambda *_a: self._hook_links())
        self.client.sig_ready.connect(lambda _r: self.load_collections())
        self.client.sig_notification.connect(self._on_notification)
        if self.client.state == EngineState.READY:
            self.load_collections()
        self._show_attached()

    # -- collections and the attached choice -------------------------------------------------
    def load_collections(self) -> None:
        self.client.call("docs.list").on_success(self._listed)

    def _listed(self, result: dict[str, Any]) -> None:
        self.listed = True
        self.picker.set_collections(result.get("collections") or [])
        self._show_attached()
        self._migrate()

    def _on_notification(self, method: str, _params: Any) -> None:
        if method == "docs.changed":
            self.load_collections()

    def attached(self) -> list[str]:
        """Ids of the collections attached to the open conversation (that still exist)."""
        conv = self.current.record
        ids = self.pending if conv is None else (conv.get("collections") or [])
        if self.listed:
            known = {c["id"] for c in self.picker.collections}
            ids = [i for i in ids if i in known]
        return list(ids)

    def create_params(self) -> dict[str, Any]:
        """What ``chat.create`` carries for a conversation started from the blank panel."""
        if self.current.record is None and self.pending:
            return {"collections": list(self.pending)}
        return {}

    def attach(self, ids: list[str]) -> None:
        """Attach exactly these collections to the open conversation."""
        self.picker.set_selected(ids)
        self._attached_changed(ids)

    def _attached_changed(self, ids: list[str]) -> None:
        conv = self.current.record
        if conv is None:
            self.pending = list(ids)
            self._show_attached()
            return
        self._set(conv["id"], list(ids))

    def _set(self, conv_id: str, ids: list[str], then: Any = None) -> None:
        """Give the engine the collections of conversation ``conv_id``."""

        def done(updated: dict[str, Any]) -> None:
            if then is not None:
                then()
            self.current.merge({**updated, "collections": updated.get("collections") or []})
            self._show_attached()
            self.sig_attached.emit(updated)

        def failed(error: Any) -> None:
            self._show_attached()  # back to what the engine has
            self.sig_error.emit(error)

        params = {"id": conv_id, "collections": ids}
        self.client.call("chat.update", params).on_success(done).on_failure(failed)

    def _show_attached(self) -> None:
        if self.current.record is not None:
            self.pending = []  # a new chat took them at chat.create
        ids = self.attached()
        self.picker.set_selected(ids)
        self.note.show_names(self.picker.names(ids))

    def restore(self) -> None:
        """After the panel showed the engine's branch: the attached choice, a choice kept by an
        older version moved into the engine, and the answers that version kept."""
        self._show_attached()
        self._migrate()
        conv = self.current.record
        if conv is not None:
            self.legacy.show(self.thread_model, conv["id"])

    def _migrate(self) -> None:
        conv = self.current.record
        if conv is None or not self.listed:
            return
        conv_id = conv["id"]
        old = self.legacy.collections(conv_id)
        if old is None:
            return
        known = {c["id"] for c in self.picker.collections}
        ids = [i for i in old if i in known]
        if ids and not conv.get("collections"):
            self._set(conv_id, ids, then=lambda: self.legacy.forget_collections(conv_id))
        else:
            self.legacy.forget_collections(conv_id)

    # -- citations ---------------------------------------------------------------------------
    def _hook_links(self) -> None:
        for view in self.view.views:
            body = view.body
            if not body.property("hearth_citations"):
                body.setProperty("hearth_citations", True)
                body.anchorClicked.connect(lambda url, v=view: self._link(url, v))

    def _link(self, url: QUrl, view: MessageView) -> None:
        n = cited_number(url.toString())
        if n is not None:
            self.open_citation(view.message, n)

    def open_citation(self, message: dict[str, Any], n: int) -> SourceViewer | None:
        """Open the passage of source ``n`` of a reply answered from documents."""
        citation = find_citation(message, n)
        if citation is None:
            return None
        self.viewer = SourceViewer(self.client, citation, parent=self.dialog_parent)
        self.viewer.show()
        self.sig_viewer_opened.emit(self.viewer)
        return self.viewer
