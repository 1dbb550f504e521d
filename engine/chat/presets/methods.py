"""JSON-RPC methods ``chat.presets.*`` (see docs/PROTOCOL.md): presets, using them in a
conversation, the SQL preset's schema and query runner, and the injection test set."""

from __future__ import annotations

from typing import Any

from engine.chat.presets import runner
from engine.chat.presets import sql as sqlite_sql
from engine.chat.presets.injections import ATTEMPTS, run_injection_tests
from engine.chat.presets.options import KIND_LABELS, KINDS, describe
from engine.chat.presets.store import PresetStore
from engine.core.errors import Cancelled, UserError
from engine.rpc.registry import RequestContext, method


def _store(ctx: RequestContext) -> PresetStore:
    return PresetStore(ctx.services)


@method("chat.presets.list")
def presets_list(ctx: RequestContext) -> dict[str, Any]:
    kinds = [{"kind": k, "label": KIND_LABELS[k], "options": describe(k)} for k in KINDS]
    return {"presets": _store(ctx).list(), "kinds": kinds}


@method("chat.presets.get")
def presets_get(ctx: RequestContext, id: str) -> dict[str, Any]:
    return _store(ctx).get(id)


@method("chat.presets.create")
def presets_create(
    ctx: RequestContext,
    name: str,
    kind: str = "plain",
    description: str = "",
    system_prompt: str = "",
    params: dict | None = None,
    options: dict | None = None,
) -> dict[str, Any]:
    return _store(ctx).create(
        name=name,
        kind=kind,
        description=description,
        system_prompt=system_prompt,
        params=params,
        options=options,
    )


@method("chat.presets.update")
def presets_update(
    ctx: RequestContext,
    id: str,
    name: str | None = None,
    description: str | None = None,
    system_prompt: str | None = None,
    params: dict | None = None,
    options: dict | None = None,
) -> dict[str, Any]:
    return _store(ctx).update(
        id,
        name=name,
        description=description,
        system_prompt=system_prompt,
        params=params,
        options=options,
    )


@method("chat.presets.delete")
def presets_delete(ctx: RequestContext, id: str) -> dict[str, Any]:
    return _store(ctx).delete(id)


@method("chat.presets.apply")
def presets_apply(
    ctx: RequestContext, conversation_id: str, preset_id: str, options: dict | None = None
) -> dict[str, Any]:
    return runner.apply(ctx.services, conversation_id, preset_id, options)


@method("chat.presets.detach")
def presets_detach(ctx: RequestContext, conversation_id: str) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "detached": runner.detach(ctx.services, conversation_id),
    }


@method("chat.presets.binding")
def presets_binding(ctx: RequestContext, conversation_id: str) -> dict[str, Any]:
    ctx.services.chats.conversation(conversation_id)
    return {"binding": _store(ctx).binding(conversation_id)}


@method("chat.presets.process")
def presets_process(ctx: RequestContext, message_id: str) -> dict[str, Any]:
    result = runner.after_reply(ctx.services, message_id, cancelled=ctx.cancelled)
    if (result.get("outcome") or {}).get("cancelled"):
        raise Cancelled(result)
    return result


@method("chat.presets.sql_schema")
def presets_sql_schema(ctx: RequestContext, path: str, sample_rows: int = 3) -> dict[str, Any]:
    schema = sqlite_sql.read_schema(path, sample_rows=max(0, min(int(sample_rows), 20)))
    return {**schema, "text": sqlite_sql.schema_text(schema)}


@method("chat.presets.sql_run")
def presets_sql_run(
    ctx: RequestContext, path: str, sql: str, max_rows: int = 200, timeout_s: float = 5.0
) -> dict[str, Any]:
    """Run one SELECT on a SQLite file, read-only (the SQL preset's runner, for testing a query)."""
    return sqlite_sql.run_select(path, sql, max_rows=max_rows, timeout_s=timeout_s)


@method("chat.presets.injection_tests")
def presets_injection_tests(ctx: RequestContext) -> dict[str, Any]:
    return {"attempts": [a.to_dict() for a in ATTEMPTS]}


@method("chat.presets.run_injection_tests")
def presets_run_injection_tests(
    ctx: RequestContext,
    model: str | None = None,
    conversation_id: str | None = None,
    preset_id: str | None = None,
    system_prompt: str | None = None,
    ids: list | None = None,
    params: dict | None = None,
) -> dict[str, Any]:
    """Run the injection test set; each verdict streams as ``chat.presets.injection_result``."""
    prompt, model = _guard_prompt(ctx, conversation_id, preset_id, system_prompt, model)
    rid = ctx.request_id

    def notify(row: dict[str, Any], report: dict[str, Any]) -> None:
        ctx.notify(
            "chat.presets.injection_result",
            {"id": rid, "result": row, "done": report["done"], "total": report["total"]},
        )

    report = run_injection_tests(
        ctx.services,
        model_id=model,
        system_prompt=prompt,
        ids=ids,
        params=params,
        on_result=notify,
        cancelled=ctx.cancelled,
    )
    if ctx.cancelled():
        raise Cancelled(report)
    return report


def _guard_prompt(
    ctx: RequestContext,
    conversation_id: str | None,
    preset_id: str | None,
    system_prompt: str | None,
    model: str | None,
) -> tuple[str, str | None]:
    """The system prompt under test: given, else the conversation's, else the preset's."""
    if system_prompt is not None:
        if not system_prompt.strip():
            raise UserError("The system prompt to test is empty.")
        return system_prompt, model
    if conversation_id is not None:
        conv = ctx.services.chats.conversation(conversation_id)
        if conv["system_prompt"].strip():
            return conv["system_prompt"], model or conv.get("model_id")
    preset = _store(ctx).get(preset_id or "builtin-guarded")
    options = runner.resolve_options(preset, None)
    return runner.render_system_prompt(preset, options), model
