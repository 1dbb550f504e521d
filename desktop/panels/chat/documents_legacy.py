"""``LegacyAnswers``: what older versions of Hearth kept about documents in the desktop settings
file, per conversation (``chat_documents/<conversation id>/collections`` and ``.../answers``).

Those versions asked ``docs.ask`` beside the conversation, so the engine never stored those
exchanges. Now the engine keeps the attached collections and every cited reply; this module only
hands the old choice of collections over once (``DocumentsChat`` sets it in the engine, then the
setting is removed) and shows the old answers, read-only, after the message each one followed.
Those answers are never written again and never deleted here: they are the user's only copy.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QSettings

from desktop.panels.chat.thread_model import ThreadModel

KEY = "chat_documents/{conv}/{what}"


def settings_file() -> QSettings:
    from desktop.main_window import settings_path  # the app's one settings file

    return QSettings(str(settings_path()), QSettings.Format.IniFormat)


class LegacyAnswers:
    def __init__(self) -> None:
        self.settings = settings_file()

    def _read(self, conv_id: str, what: str) -> Any:
        raw = self.settings.value(KEY.format(conv=conv_id, what=what), "", type=str)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def collections(self, conv_id: str) -> list[str] | None:
        """The collections an older version attached to ``conv_id``; None when it kept none."""
        ids = self._read(conv_id, "collections")
        if ids is None and not self.settings.contains(KEY.format(conv=conv_id, what="collections")):
            return None
        return [i for i in ids or [] if isinstance(i, str)]

    def forget_collections(self, conv_id: str) -> None:
        """The engine has the choice now: the setting goes."""
        self.settings.remove(KEY.format(conv=conv_id, what="collections"))
        self.settings.sync()

    def answers(self, conv_id: str) -> list[dict[str, Any]]:
        answers = self._read(conv_id, "answers")
        return [a for a in answers if isinstance(a, dict)] if isinstance(answers, list) else []

    def show(self, model: ThreadModel, conv_id: str) -> None:
        """Put the old answers of ``conv_id`` back after the messages they followed."""
        answers = self.answers(conv_id)
        if not answers:
            return
        rows = [m for m in model.messages() if not m.get("documents")]
        by_anchor: dict[Any, list[dict[str, Any]]] = {}
        for i, entry in enumerate(answers):
            by_anchor.setdefault(entry.get("anchor"), []).extend(pair(conv_id, i, entry))
        merged = list(by_anchor.get(None, []))
        for message in rows:
            merged.append(message)
            if not message.get("local"):
                merged.extend(by_anchor.get(message["id"], []))
        if merged != model.messages():
            model.set_messages(merged)


def pair(conv_id: str, i: int, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The question and the reply of an old documents answer, as read-only thread rows."""
    base = {
        "conversation_id": conv_id,
        "local": True,
        "documents": True,
        "siblings": [],
        "sibling_index": 0,
        "interrupted": False,
    }
    state = entry.get("state") or "complete"
    citations = entry.get("citations") or []
    question = {
        **base,
        "id": f"docs-{i}-q",
        "role": "user",
        "content": entry.get("question") or "",
        "state": "complete",
        "partial": False,
        "metadata": {},
    }
    reply = {
        **base,
        "id": f"docs-{i}-a",
        "role": "assistant",
        "content": entry.get("text") or "",
        "state": state,
        "partial": state != "complete",
        "metadata": {
            **(entry.get("meta") or {}),
            "citations": citations,
            "retrieval": {"legacy": True, "nothing_found": False},
        },
    }
    return [question, reply]
