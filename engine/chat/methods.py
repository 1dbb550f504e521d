"""JSON-RPC methods ``chat.*`` (see docs/PROTOCOL.md): stateless generation, stored conversations,
templates, per-model settings, and what is loaded.

Generating methods stream ``chat.delta`` notifications (one per decoded piece of text, carrying the
request id) and answer with the whole result; a cancel answers -32800 with the partial result.
"""

from __future__ import annotations

from typing import Any

from engine.chat import conversations
from engine.chat.export import export
from engine.chat.generate import count_tokens, generate
from engine.chat.params import ChatParams
from engine.chat.templates import CHOICES, check_choice, resolve, templates_info
from engine.core.errors import Cancelled, UserError
from engine.rpc.registry import RequestContext, method
from engine.runtimes.settings import SETTINGS_HELP


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{what} must be a non-empty string.")
    return value


def _finish(result: dict[str, Any]) -> dict[str, Any]:
    if result["finish_reason"] == "cancelled":
        raise Cancelled(result)
    return result


def _streamers(ctx: RequestContext, conv_id: str | None = None) -> dict[str, Any]:
    """on_delta/on_reset callbacks that send ``chat.delta`` for this request."""
    rid = ctx.request_id
    notify = ctx.notify
    if conv_id is None:
        return {
            "on_delta": lambda text: notify("chat.delta", {"id": rid, "text": text}),
            "on_reset": lambda: notify("chat.delta", {"id": rid, "text": "", "reset": True}),
        }
    return {
        "on_delta": lambda text, msg_id: notify(
            "chat.delta",
            {"id": rid, "text": text, "conversation_id": conv_id, "message_id": msg_id},
        ),
        "on_reset": lambda msg_id: notify(
            "chat.delta",
            {
                "id": rid,
                "text": "",
                "reset": True,
                "conversation_id": conv_id,
                "message_id": msg_id,
            },
        ),
    }


# ---- generation ------------------------------------------------------------------------------
@method("chat.generate")
def chat_generate(
    ctx: RequestContext, messages: list, model: str | None = None, params: dict | None = None
) -> dict[str, Any]:
    result = generate(
        ctx.services,
        model_id=model,
        messages=messages,
        params=params,
        cancelled=ctx.cancelled,
        **_streamers(ctx),
    )
    return _finish(result)


@method("chat.count_tokens")
def chat_count_tokens(
    ctx: RequestContext,
    model: str | None = None,
    messages: list | None = None,
    params: dict | None = None,
    conversation_id: str | None = None,
    content: str | None = None,
) -> dict[str, Any]:
    """Context meter: for ``messages``, or a conversation's branch plus an unsent ``content``
    (with collections attached, ``used`` includes the most their sources can add:
    ``documents: {tokens, k, names}``)."""
    if conversation_id is not None:
        store = ctx.services.chats
        conv = store.conversation(conversation_id)
        history = conversations.history(store, conv, conv["current_leaf_id"])
        if content:
            history.append({"role": "user", "content": content})
        if not any(m["role"] == "user" for m in history):
            history.append({"role": "user", "content": ""})
        merged = {**conv["params"], **(params or {})}
        counted = count_tokens(
            ctx.services, model_id=model or conv["model_id"], messages=history, params=merged
        )
        if conv.get("collections"):  # the sources a reply will carry, at most
            from engine.documents.answer import source_budget

            budget = source_budget(ctx.services, conv["collections"])
            counted["documents"] = budget
            counted["used"] += budget["tokens"]
            counted["fits"] = counted["used"] <= counted["available"] - counted["reserved"]
        return counted
    if messages is None:
        raise UserError("Give messages, or a conversation_id.")
    return count_tokens(ctx.services, model_id=model, messages=messages, params=params)


@method("chat.send")
def chat_send(
    ctx: RequestContext,
    conversation_id: str,
    content: str,
    parent_id: str | None = None,
    params: dict | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"params": params, "model_id": model, "cancelled": ctx.cancelled}
    if parent_id is not None:
        kwargs["parent_id"] = parent_id
    result = conversations.send(
        ctx.services, conversation_id, content, **kwargs, **_streamers(ctx, conversation_id)
    )
    return _finish(result)


@method("chat.regenerate")
def chat_regenerate(
    ctx: RequestContext,
    message_id: str | None = None,
    conversation_id: str | None = None,
    params: dict | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """A new reply beside ``message_id`` (default: the conversation's current leaf)."""
    store = ctx.services.chats
    if message_id is None:
        if conversation_id is None:
            raise UserError("Give the message_id to regenerate, or a conversation_id.")
        message_id = store.conversation(conversation_id)["current_leaf_id"]
        if message_id is None:
            raise UserError("This conversation has no messages yet.")
    conv_id = store.message(message_id)["conversation_id"]
    result = conversations.regenerate(
        ctx.services,
        message_id,
        params=params,
        model_id=model,
        cancelled=ctx.cancelled,
        **_streamers(ctx, conv_id),
    )
    return _finish(result)


@method("chat.edit")
def chat_edit(
    ctx: RequestContext,
    message_id: str,
    content: str,
    params: dict | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    conv_id = ctx.services.chats.message(message_id)["conversation_id"]
    result = conversations.edit(
        ctx.services,
        message_id,
        content,
        params=params,
        model_id=model,
        cancelled=ctx.cancelled,
        **_streamers(ctx, conv_id),
    )
    return _finish(result)


# ---- conversations ---------------------------------------------------------------------------
@method("chat.create")
def chat_create(
    ctx: RequestContext,
    title: str | None = None,
    model_id: str | None = None,
    system_prompt: str = "",
    params: dict | None = None,
    collections: list | None = None,
) -> dict[str, Any]:
    if model_id is not None:
        ctx.services.library.get(model_id)
    ChatParams.from_dict(params)
    return ctx.services.chats.create(
        title=title,
        model_id=model_id,
        system_prompt=system_prompt,
        params=params,
        collections=_collection_ids(ctx, collections),
    )


def _collection_ids(ctx: RequestContext, refs: Any) -> list[str]:
    """Ids of the document collections ``refs`` names (ids or names); unknown ones answer -32001."""
    if not refs:
        return []
    from engine.documents.answer import resolve_collections

    return [c["id"] for c in resolve_collections(ctx.services, refs)]


@method("chat.list")
def chat_list(ctx: RequestContext, limit: int = 500, offset: int = 0) -> dict[str, Any]:
    return {"conversations": ctx.services.chats.list(limit=limit, offset=offset)}


@method("chat.get")
def chat_get(ctx: RequestContext, id: str) -> dict[str, Any]:
    return ctx.services.chats.thread(_text(id, "id"))


@method("chat.update")
def chat_update(
    ctx: RequestContext,
    id: str,
    title: str | None = None,
    model_id: str | None = None,
    system_prompt: str | None = None,
    params: dict | None = None,
    collections: list | None = None,
) -> dict[str, Any]:
    """Change a conversation; ``collections: []`` detaches every document collection."""
    changes: dict[str, Any] = {}
    if title is not None:
        changes["title"] = title
    if model_id is not None:
        ctx.services.library.get(model_id)
        changes["model_id"] = model_id
    if system_prompt is not None:
        changes["system_prompt"] = system_prompt
    if params is not None:
        ChatParams.from_dict(params)
        changes["params"] = params
    if collections is not None:
        changes["collections"] = _collection_ids(ctx, collections)
    return ctx.services.chats.update(_text(id, "id"), **changes)


@method("chat.rename")
def chat_rename(ctx: RequestContext, id: str, title: str) -> dict[str, Any]:
    return ctx.services.chats.update(_text(id, "id"), title=_text(title, "title"))


@method("chat.delete")
def chat_delete(ctx: RequestContext, id: str) -> dict[str, Any]:
    ctx.services.chats.delete(_text(id, "id"))
    return {"deleted": id}


@method("chat.pin")
def chat_pin(ctx: RequestContext, id: str, pinned: bool = True) -> dict[str, Any]:
    return ctx.services.chats.update(_text(id, "id"), pinned=pinned)


@method("chat.switch_branch")
def chat_switch_branch(ctx: RequestContext, message_id: str) -> dict[str, Any]:
    return ctx.services.chats.switch_branch(_text(message_id, "message_id"))


@method("chat.search")
def chat_search(ctx: RequestContext, query: str, limit: int = 50) -> dict[str, Any]:
    return {"results": ctx.services.chats.search(query, limit=limit)}


@method("chat.export")
def chat_export(
    ctx: RequestContext, id: str, format: str = "markdown", path: str | None = None
) -> dict[str, Any]:
    return export(ctx.services.chats, _text(id, "id"), fmt=format, path=path)


# ---- templates, settings, loaded models ------------------------------------------------------
@method("chat.templates")
def chat_templates(ctx: RequestContext, model_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"templates": templates_info(), "choices": list(CHOICES)}
    if model_id is not None:
        model = ctx.services.library.get(model_id)
        if model["format"] == "remote":  # the server lays out the messages itself
            out["choices"] = ["auto"]
            out["model"] = {"model_id": model_id, "template": "auto", "has_own_template": True,
                            "effective": "server", "stop": [], "on_server": True}  # fmt: skip
            return out
        choice = ctx.services.runtimes.settings.get(model_id).get("template") or "auto"
        try:
            effective = resolve(model, choice=choice)
        except UserError:  # "model" was chosen, then the model lost its template
            effective = resolve(model, choice="auto")
        out["model"] = {
            "model_id": model_id,
            "template": choice,
            "has_own_template": bool(model.get("chat_template")),
            "effective": effective.name,
            "stop": list(effective.stop),
        }
    return out


@method("chat.set_template")
def chat_set_template(ctx: RequestContext, model_id: str, template: str) -> dict[str, Any]:
    choice = check_choice(template)
    model = ctx.services.library.get(model_id)
    resolve(model, choice=choice)  # "model" on a model without a template is refused here
    ctx.services.runtimes.settings.update(
        model_id, {"template": None if choice == "auto" else choice}
    )
    return chat_templates(ctx, model_id=model_id)


@method("chat.model_settings")
def chat_model_settings(ctx: RequestContext, model_id: str) -> dict[str, Any]:
    ctx.services.library.get(model_id)
    settings = ctx.services.runtimes.settings.get(model_id)
    return {"model_id": model_id, "settings": settings, "help": SETTINGS_HELP}


@method("chat.set_model_settings")
def chat_set_model_settings(ctx: RequestContext, model_id: str, settings: dict) -> dict[str, Any]:
    if "template" in settings and settings["template"] is not None:
        check_choice(settings["template"])
        if settings["template"] == "auto":
            settings = {**settings, "template": None}
    saved = ctx.services.runtimes.settings.update(model_id, settings)
    return {"model_id": model_id, "settings": saved, "help": SETTINGS_HELP}


@method("chat.params")
def chat_params(ctx: RequestContext) -> dict[str, Any]:
    """Every generation setting with its default, range and help text (for forms)."""
    return {"params": ChatParams.describe()}


@method("chat.loaded")
def chat_loaded(ctx: RequestContext) -> dict[str, Any]:
    return {"loaded": ctx.services.runtimes.loaded()}


@method("chat.unload")
def chat_unload(ctx: RequestContext, model_id: str | None = None) -> dict[str, Any]:
    return ctx.services.runtimes.unload(model_id)
