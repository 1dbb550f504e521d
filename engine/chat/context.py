"""Fit a conversation into the model's context window.

The prompt may use the window minus the room kept for the reply (``max_tokens``, but at most half
the window). When the rendered conversation is longer, whole turns are dropped, oldest first -- a
turn is a user message and the replies that follow it -- so templates that insist on alternating
roles still render. System messages and the last turn (the one being answered) are always kept.
If even they do not fit, the request is refused with a ``UserError`` that gives the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.chat.templates import ChatTemplate, render
from engine.core.errors import UserError
from engine.runtimes.base import Runtime

ROLES = ("system", "user", "assistant")


@dataclass
class FittedPrompt:
    prompt: str
    tokens: list[int]
    context_length: int
    reserved: int
    dropped: list[int] = field(default_factory=list)  # indexes into the messages given
    full_tokens: int = 0  # prompt tokens before anything was dropped

    def report(self) -> dict[str, Any]:
        return {
            "dropped_messages": len(self.dropped),
            "dropped_indexes": list(self.dropped),
            "dropped_tokens": max(0, self.full_tokens - len(self.tokens)),
            "prompt_tokens": len(self.tokens),
            "context_length": self.context_length,
            "reserved_tokens": self.reserved,
        }


def check_messages(messages: Any) -> list[dict[str, str]]:
    """``messages`` as a clean list of ``{role, content}``, or a ``UserError`` naming the bad one."""
    if not isinstance(messages, list) or not messages:
        raise UserError("messages must be a non-empty list of {role, content} objects.")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise UserError(
                f"messages[{i}] needs a role of system, user or assistant (got {m!r:.80})."
            )
        if not isinstance(m.get("content"), str):
            raise UserError(f"messages[{i}].content must be text.")
        out.append({"role": m["role"], "content": m["content"]})
    if all(m["role"] == "system" for m in out):
        raise UserError("messages need at least one user message after the system prompt.")
    return out


def reserve_for_reply(max_tokens: int, n_ctx: int) -> int:
    return max(1, min(int(max_tokens), n_ctx // 2))


def _turns(messages: list[dict[str, str]]) -> list[list[int]]:
    """Indexes of the non-system messages grouped into turns (each starts at a user message)."""
    turns: list[list[int]] = []
    for i, m in enumerate(messages):
        if m["role"] == "system":
            continue
        if m["role"] == "user" or not turns:
            turns.append([i])
        else:
            turns[-1].append(i)
    return turns


def fit(
    runtime: Runtime,
    template: ChatTemplate,
    messages: list[dict[str, str]],
    *,
    max_tokens: int,
    strict: bool = True,
) -> FittedPrompt:
    """Render ``messages`` and drop the oldest turns until the prompt fits.

    With ``strict=False`` a conversation that cannot fit is returned as is (for the context meter)
    instead of raising.
    """
    n_ctx = runtime.context_length()
    reserved = reserve_for_reply(max_tokens, n_ctx)
    budget = n_ctx - reserved
    specials = runtime.special_tokens()
    name = runtime.model.get("name", "this model")

    def encode(keep: list[dict[str, str]]) -> tuple[str, list[int]]:
        prompt = render(template, keep, model_name=name, **specials)
        return prompt, runtime.tokenize(prompt)

    turns = _turns(messages)
    dropped: list[int] = []
    prompt, tokens = encode(messages)
    full = len(tokens)
    while len(tokens) > budget:
        if len(turns) <= 1:
            if not strict:
                break
            raise UserError(_too_long(runtime, template, messages, turns, n_ctx, reserved, name))
        dropped.extend(turns.pop(0))
        gone = set(dropped)
        prompt, tokens = encode([m for i, m in enumerate(messages) if i not in gone])
    return FittedPrompt(prompt, tokens, n_ctx, reserved, sorted(dropped), full)


def _too_long(
    runtime: Runtime,
    template: ChatTemplate,
    messages: list[dict[str, str]],
    turns: list[list[int]],
    n_ctx: int,
    reserved: int,
    name: str,
) -> str:
    last = [messages[i] for i in turns[-1]] if turns else messages[-1:]
    size = sum(runtime.count_tokens(m["content"], add_bos=False) for m in last)
    system = sum(
        runtime.count_tokens(m["content"], add_bos=False) for m in messages if m["role"] == "system"
    )
    what = f"The message is about {size} tokens"
    if system:
        what += f" and the system prompt {system}"
    return (
        f"{what}, but {name} has a {n_ctx}-token context window with {reserved} kept free for the "
        "reply. Shorten the message, lower max tokens, or raise the context length in the model "
        "settings."
    )
