"""Using a preset: apply it to a conversation, and do its work after a reply.

- ``apply``: the conversation gets the preset's system prompt (with the SQLite schema or the
  canary filled in) and generation settings, and remembers the preset with its options.
- ``after_reply``: the preset's second step on a stored reply -- the SQL preset pulls the SQL out
  and runs it; the moderated preset has the draft reviewed and, on *rewrite* or *block*, replaces
  the reply's text (the draft is kept in its metadata). The outcome goes into the message's
  ``metadata.preset`` so it stays with the conversation.
- ``run_once``: the same without a conversation (``hearth-engine chat --preset``).

Replies are written by the ordinary ``chat.send`` path; the GUI calls ``chat.presets.process``
once a reply of a conversation with a preset has ended, so send, regenerate and edit all work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.chat.presets import guard, moderation, sql
from engine.chat.presets.builtin import NO_DATABASE
from engine.chat.presets.options import check_options
from engine.chat.presets.store import PresetStore
from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services


def render_system_prompt(preset: dict[str, Any], options: dict[str, Any]) -> str:
    """The preset's system prompt with its placeholders filled from ``options``."""
    prompt = preset["system_prompt"]
    if preset["kind"] == "sql":
        if options.get("database"):
            schema = sql.read_schema(options["database"], sample_rows=options["sample_rows"])
            text = sql.schema_text(schema)
        else:
            text = NO_DATABASE
        prompt = (
            prompt.replace("{schema}", text) if "{schema}" in prompt else prompt + "\n\n" + text
        )
    elif preset["kind"] == "guarded":
        prompt = guard.with_canary(prompt, options.get("canary") or guard.new_canary())
    return prompt


def resolve_options(preset: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    options = check_options(preset["kind"], overrides, base=preset["options"])
    if preset["kind"] == "sql" and options.get("database"):
        options["database"] = str(sql.check_database(options["database"]))
    if preset["kind"] == "guarded" and not options.get("canary"):
        options["canary"] = guard.new_canary()
    return options


def apply(
    services: Services, conversation_id: str, preset_id: str, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Give the conversation the preset's prompt, settings and options; ``{conversation, binding}``.

    Applying the same preset again with new options (another SQLite file) keeps the options not
    named and refreshes the system prompt."""
    presets = PresetStore(services)
    chats = services.chats
    chats.conversation(conversation_id)  # NotFoundError first
    preset = presets.get(preset_id)
    current = presets.binding(conversation_id)
    base = dict(preset["options"])
    if current is not None and current["preset_id"] == preset_id:
        base.update(current["options"])
    resolved = resolve_options({**preset, "options": base}, options)
    prompt = render_system_prompt(preset, resolved)
    conversation = chats.update(conversation_id, system_prompt=prompt, params=preset["params"])
    presets.bind(conversation_id, preset_id, resolved)
    return {"conversation": conversation, "binding": presets.binding(conversation_id)}


def detach(services: Services, conversation_id: str) -> bool:
    """Stop using a preset (the system prompt and settings stay as they are)."""
    services.chats.conversation(conversation_id)
    return PresetStore(services).unbind(conversation_id)


# ---- after a reply -------------------------------------------------------------------------
def postprocess(
    services: Services,
    kind: str,
    options: dict[str, Any],
    *,
    question: str,
    reply: str,
    model_id: str | None,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """``(outcome, new_text)`` for a reply under a preset of ``kind``; ``new_text`` is None when
    the reply stays as written."""
    if kind == "sql":
        return sql_outcome(options, reply), None
    if kind == "moderated":
        verdict = moderation.review(
            services,
            model_id=options.get("reviewer_model") or model_id,
            policy=options.get("policy") or moderation.DEFAULT_POLICY,
            question=question,
            draft=reply,
            cancelled=cancelled,
        )
        outcome = {"kind": "moderated", **verdict, "draft": reply}
        if verdict.get("cancelled"):
            return outcome, None
        if verdict["verdict"] == "rewrite":
            return outcome, verdict["rewrite"]
        if verdict["verdict"] == "block":
            return outcome, f"*This reply was blocked by the review:* {verdict['reason']}"
        return outcome, None
    return None, None


def sql_outcome(options: dict[str, Any], reply: str) -> dict[str, Any]:
    """Extract and run the reply's SQL; errors and refusals are part of the outcome."""
    outcome: dict[str, Any] = {"kind": "sql", "database": options.get("database")}
    try:
        if not options.get("database"):
            raise UserError("Choose a SQLite file for this conversation first.")
        statement = sql.extract_sql(reply)
        outcome["sql"] = statement
        outcome.update(
            sql.run_select(
                options["database"],
                statement,
                max_rows=options.get("max_rows") or 200,
                timeout_s=options.get("timeout_s") or 5.0,
            )
        )
    except sql.SqlRefused as exc:
        outcome.update(error=exc.message, refused=True)
    except UserError as exc:
        outcome.update(error=exc.message, refused=False)
    return outcome


def after_reply(
    services: Services, message_id: str, *, cancelled: Callable[[], bool] | None = None
) -> dict[str, Any]:
    """Run the conversation's preset step on a stored assistant reply; ``{message, outcome}``.

    A conversation without a preset (or with one that has no second step) gets ``outcome: null``.
    """
    chats = services.chats
    message = chats.message(message_id)
    if message["role"] != "assistant":
        raise UserError("Only a reply can be checked by a preset.")
    binding = PresetStore(services).binding(message["conversation_id"])
    if binding is None:
        return {"message": message, "outcome": None}
    meta = dict(message.get("metadata") or {})
    draft = (meta.get("preset") or {}).get("draft") or message["content"]
    if not draft.strip():
        raise UserError("This reply is empty; regenerate it first.")
    question = ""
    if message["parent_id"]:
        question = chats.message(message["parent_id"])["content"]
    outcome, new_text = postprocess(
        services,
        binding["kind"],
        binding["options"],
        question=question,
        reply=draft,
        model_id=meta.get("model_id"),
        cancelled=cancelled,
    )
    if outcome is None:
        return {"message": message, "outcome": None}
    outcome["preset_id"] = binding["preset_id"]
    meta["preset"] = outcome
    chats.update_message(
        message_id, content=new_text if new_text is not None else draft, metadata=meta
    )
    return {"message": chats.message(message_id), "outcome": outcome}


def run_once(
    services: Services,
    preset: dict[str, Any],
    prompt: str,
    *,
    model_id: str | None = None,
    options: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    on_delta: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """One question under ``preset`` without a conversation: the ChatResult plus ``preset``
    (the outcome) and ``draft`` when the text was changed by the review."""
    from engine.chat.generate import generate

    resolved = resolve_options(preset, options)
    messages = [
        {"role": "system", "content": render_system_prompt(preset, resolved)},
        {"role": "user", "content": prompt},
    ]
    result = generate(
        services,
        model_id=model_id,
        messages=messages,
        params={**preset["params"], **(params or {})},
        on_delta=on_delta,
        cancelled=cancelled,
    )
    if result["finish_reason"] == "cancelled":
        return result
    outcome, new_text = postprocess(
        services,
        preset["kind"],
        resolved,
        question=prompt,
        reply=result["text"],
        model_id=result["model_id"],
        cancelled=cancelled,
    )
    if outcome is not None:
        result["preset"] = outcome
    if new_text is not None:
        result["draft"], result["text"] = result["text"], new_text
    return result
