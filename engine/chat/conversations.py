"""Chatting inside a stored conversation: send, regenerate, edit-and-resend.

Each call appends to the conversation's message tree (``engine.chat.store``) and generates the
reply with ``engine.chat.generate``. The reply row is written when generation starts and its text
is saved again at most every ``FLUSH_EVERY_S`` while it streams -- never per token -- so a killed
engine leaves the partial reply on disk, marked ``interrupted`` on the next start. A cancelled
reply is kept as ``cancelled`` with its text; a failure is kept as ``error`` with the reason.

A conversation with document ``collections`` attached answers from them: each reply retrieves for
the user message it answers and sends the grounded prompt of ``engine.documents.answer.prepare``
(the rules, the conversation's system prompt and earlier turns, then that question with numbered
sources). The reply's metadata keeps ``citations`` (``cited`` set from the ``[n]`` marks in the
text) and ``retrieval``; when nothing relevant is found the reply is the fixed sentence
``docs.ask`` gives, and the model is not asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.chat.generate import default_model_id, generate
from engine.chat.params import ChatParams
from engine.chat.store import NEW_TITLE, ChatStore, auto_title
from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services

FLUSH_EVERY_S = 0.25
OnDelta = Callable[[str, str], None]  # (text, assistant message id)


class _ReplyWriter:
    """Collects the streamed text of one reply and saves it, throttled."""

    def __init__(self, store: ChatStore, msg_id: str) -> None:
        self.store, self.msg_id = store, msg_id
        self.parts: list[str] = []
        self._last = time.monotonic()
        self._dirty = False

    def add(self, text: str) -> None:
        self.parts.append(text)
        self._dirty = True
        now = time.monotonic()
        if now - self._last >= FLUSH_EVERY_S:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self._dirty:
            self.store.update_message(self.msg_id, content="".join(self.parts))
            self._dirty = False
        self._last = now if now is not None else time.monotonic()

    def reset(self) -> None:
        self.parts.clear()
        self._dirty = True
        self.flush()

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _effective_params(conv: dict[str, Any], params: dict[str, Any] | None) -> dict[str, Any]:
    merged = dict(conv.get("params") or {})
    merged.update(params or {})
    ChatParams.from_dict(merged)  # check before anything is stored
    return merged


def history(store: ChatStore, conv: dict[str, Any], leaf_id: str | None) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    if (conv.get("system_prompt") or "").strip():
        messages.append({"role": "system", "content": conv["system_prompt"]})
    for msg in store.path(leaf_id):
        if msg["role"] == "assistant" and not msg["content"].strip():
            continue  # a reply that failed before any text
        messages.append({"role": msg["role"], "content": msg["content"]})
    return messages


def reply(
    services: Services,
    conv_id: str,
    parent_id: str,
    *,
    params: dict[str, Any] | None = None,
    model_id: str | None = None,
    on_delta: OnDelta | None = None,
    on_reset: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Generate and store an assistant reply under ``parent_id`` (a user message)."""
    store = services.chats
    conv = store.conversation(conv_id)
    merged = _effective_params(conv, params)
    model_id = model_id or conv.get("model_id") or default_model_id(services)
    if model_id != conv.get("model_id"):
        store.update(conv_id, model_id=model_id)
    messages = history(store, conv, parent_id)
    grounded = _ground(services, conv, messages)
    if grounded is not None:
        if grounded.nothing_found:
            return _nothing_found(store, conv_id, parent_id, grounded, merged, on_delta)
        messages = grounded.messages
    state: dict[str, Any] = {}

    def started(info: dict[str, Any]) -> None:
        meta = {**info, "params": merged}
        if grounded is not None:
            meta.update(citations=grounded.citations, retrieval=_retrieval(grounded))
        msg = store.add_message(
            conv_id,
            parent_id=parent_id,
            role="assistant",
            content="",
            state="streaming",
            metadata=meta,
        )
        state["msg"] = msg
        state["writer"] = _ReplyWriter(store, msg["id"])

    def delta(text: str) -> None:
        state["writer"].add(text)
        if on_delta is not None:
            on_delta(text, state["msg"]["id"])

    def reset() -> None:
        state["writer"].reset()
        if on_reset is not None:
            on_reset(state["msg"]["id"])

    try:
        result = generate(
            services,
            model_id=model_id,
            messages=messages,
            params=merged,
            on_delta=delta,
            cancelled=cancelled,
            on_start=started,
            on_reset=reset,
        )
    except BaseException as exc:
        if "msg" in state:
            reason = exc.message if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            meta = {**state["msg"]["metadata"], "error": reason}
            store.update_message(
                state["msg"]["id"], content=state["writer"].text, state="error", metadata=meta
            )
        raise
    meta = {
        **state["msg"]["metadata"],
        "finish_reason": result["finish_reason"],
        "usage": result["usage"],
        "timings": result["timings"],
        "truncated": result["truncated"],
    }
    if "json" in result:
        meta["json"] = result["json"]
    if grounded is not None:
        from engine.documents.answer import mark_cited

        citations = [dict(c) for c in meta["citations"]]
        meta["retrieval"] = {**meta["retrieval"], "cited": mark_cited(citations, result["text"])}
        meta["citations"] = citations
    final_state = "cancelled" if result["finish_reason"] == "cancelled" else "complete"
    store.update_message(
        state["msg"]["id"], content=result["text"], state=final_state, metadata=meta
    )
    store.touch(conv_id)
    return {**result, "conversation_id": conv_id, "message": store.message(state["msg"]["id"])}


def _ground(services: Services, conv: dict[str, Any], messages: list[dict[str, str]]) -> Any:
    """The grounded prompt for the last user message, when the conversation has collections."""
    if not conv.get("collections"):
        return None
    from engine.documents.answer import prepare

    question = messages[-1]["content"]
    return prepare(services, question, conv["collections"], history=messages[:-1])


def _retrieval(grounded: Any) -> dict[str, Any]:
    return {**grounded.retrieval, "nothing_found": grounded.nothing_found}


def _nothing_found(
    store: ChatStore,
    conv_id: str,
    parent_id: str,
    grounded: Any,
    params: dict[str, Any],
    on_delta: OnDelta | None,
) -> dict[str, Any]:
    """Store and stream the fixed reply for a question the collections say nothing about."""
    from engine.documents.answer import nothing_found_text

    text = nothing_found_text(grounded)
    result: dict[str, Any] = {
        "text": text,
        "finish_reason": "stop",
        "model_id": None,
        "runtime": None,
        "device": None,
        "template": None,
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "timings": {"ttft_ms": None, "tokens_per_s": None, "load_ms": 0.0, "total_ms": 0.0},
        "truncated": None,
    }
    meta = {
        **{k: v for k, v in result.items() if k != "text"},
        "params": params,
        "citations": [],
        "retrieval": {**_retrieval(grounded), "cited": []},
    }
    msg = store.add_message(
        conv_id, parent_id=parent_id, role="assistant", content=text, metadata=meta
    )
    if on_delta is not None:
        on_delta(text, msg["id"])
    store.touch(conv_id)
    return {**result, "conversation_id": conv_id, "message": store.message(msg["id"])}


CURRENT_LEAF: Any = object()  # send()'s default parent: where the conversation is now


def send(
    services: Services,
    conv_id: str,
    content: str,
    *,
    parent_id: Any = CURRENT_LEAF,
    **kwargs: Any,
) -> dict[str, Any]:
    """Append a user message under ``parent_id`` (default: the current leaf; None: a new root)
    and reply to it."""
    if not isinstance(content, str) or not content.strip():
        raise UserError("The message is empty; type something to send.")
    store = services.chats
    conv = store.conversation(conv_id)
    _effective_params(conv, kwargs.get("params"))
    from engine.models.remote import require_consent  # asked before the message is stored

    require_consent(services, [kwargs.get("model_id") or conv.get("model_id") or default_model_id(services)])  # fmt: skip
    parent = conv["current_leaf_id"] if parent_id is CURRENT_LEAF else parent_id
    user = store.add_message(conv_id, parent_id=parent, role="user", content=content)
    if conv["title"] == NEW_TITLE:
        store.update(conv_id, title=auto_title(content))
    result = reply(services, conv_id, user["id"], **kwargs)
    return {**result, "user_message": user}


def regenerate(services: Services, message_id: str, **kwargs: Any) -> dict[str, Any]:
    """A new reply: beside an assistant message (a sibling), or under a user message."""
    store = services.chats
    msg = store.message(message_id)
    if msg["role"] == "assistant":
        parent = msg["parent_id"]
        if parent is None:
            raise UserError("This reply has no message before it to answer.")
    elif msg["role"] == "user":
        parent = msg["id"]
    else:
        raise UserError("Only a reply or a user message can be regenerated.")
    return reply(services, msg["conversation_id"], parent, **kwargs)


def edit(services: Services, message_id: str, content: str, **kwargs: Any) -> dict[str, Any]:
    """Edit a user message: its new text becomes a sibling branch, then gets a reply."""
    store = services.chats
    msg = store.message(message_id)
    if msg["role"] != "user":
        raise UserError("Only your own messages can be edited and resent.")
    return send(services, msg["conversation_id"], content, parent_id=msg["parent_id"], **kwargs) | {
        "edited_message_id": message_id
    }
