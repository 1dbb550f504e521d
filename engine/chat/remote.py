"""The chat path for a model on a server (``RemoteRuntime``): messages go as they are, the server
renders its own template. The history is fitted into the window by an estimate (the server
holds the tokenizer): the oldest turns after the system prompt are dropped first, as for local
models, and the report says so. JSON mode asks the server for ``response_format`` and still
validates the reply, retrying like transformers does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.chat import reply
from engine.chat.params import ChatParams
from engine.chat.schema import with_instruction
from engine.core.errors import UserError


def _fit(runtime: Any, messages: list[dict[str, str]], reserve: int) -> tuple[list[dict[str, str]], dict[str, Any]]:  # fmt: skip
    window = runtime.context_length()
    full = runtime.count_messages(messages)
    system = [m for m in messages[:1] if m["role"] == "system"]
    rest = messages[len(system) :]
    dropped: list[int] = []
    while len(rest) > 1 and runtime.count_messages(system + rest) > window - reserve:
        dropped.append(len(system) + len(dropped))
        rest = rest[1:]
    kept = system + rest
    used = runtime.count_messages(kept)
    report = {"dropped_messages": len(dropped), "dropped_indexes": dropped,
              "dropped_tokens": max(0, full - used), "prompt_tokens": used,
              "context_length": window, "reserved_tokens": reserve, "estimated": True}  # fmt: skip
    return kept, report


def estimated_count(runtime: Any, model_id: str, messages: list[dict[str, str]], params: ChatParams) -> dict[str, Any]:  # fmt: skip
    """``count_tokens`` for a model on a server: an estimate, marked as one."""
    reserve = min(params.max_tokens, runtime.context_length() // 2)
    _kept, report = _fit(runtime, messages, reserve)
    used = runtime.count_messages(messages)
    return {"model_id": model_id, "template": "server", "used": used,
            "available": report["context_length"], "reserved": reserve,
            "fits": used <= report["context_length"] - reserve, "truncated": report,
            "estimated": True}  # fmt: skip


def remote_reply(
    runtime: Any,
    messages: list[dict[str, str]],
    params: ChatParams,
    *,
    emit: Callable[[str], None],
    cancelled: Callable[[], bool],
    on_start: Callable[[dict[str, Any]], None] | None,
    on_reset: Callable[[], None] | None,
    started: float,
    ready: float,
) -> dict[str, Any]:
    """``generate``'s result for a model on a server (same keys as a local reply)."""
    runtime.before_sending()  # before the reply row is stored: a refusal leaves nothing behind
    reserve = min(params.max_tokens, runtime.context_length() // 2)
    schema = params.json_schema
    if schema is not None:
        messages = with_instruction(messages, schema)
    kept, truncated = _fit(runtime, messages, reserve)
    if truncated["prompt_tokens"] > truncated["context_length"]:
        raise UserError(f"The last message is too long for {runtime.model['name']} (about {truncated['prompt_tokens']} tokens, window {truncated['context_length']}); shorten it.")  # fmt: skip
    info = {"model_id": runtime.model_id, "runtime": runtime.name, "device": runtime.device,
            "template": "server", "truncated": truncated, "remote": runtime.base}  # fmt: skip
    if on_start is not None:
        on_start(info)
    completion, completion_tokens, report = reply.attempts(
        lambda sampling: runtime.chat(kept, sampling=sampling, json_schema=schema, on_text=emit, cancelled=cancelled),
        params, retries=params.json_retries, on_reset=on_reset,
    )  # fmt: skip
    return reply.result(completion, completion_tokens, info, report, started=started, ready=ready)
