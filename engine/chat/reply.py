"""What every chat reply does after its prompt is ready, whichever runtime writes it: JSON-mode
attempts (a reply that does not validate is asked for again, with the next seed, ``on_reset``
telling the caller to drop its deltas), and the result's shape (text, finish reason, usage,
timings, the JSON report)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from engine.chat.params import ChatParams
from engine.chat.schema import check_reply
from engine.runtimes.base import Completion


def attempts(
    write: Callable[[ChatParams], Completion],
    params: ChatParams,
    *,
    retries: int,
    on_reset: Callable[[], None] | None,
) -> tuple[Completion, int, dict[str, Any] | None]:
    """(the last completion, completion tokens over every attempt, the JSON report or None)."""
    schema = params.json_schema
    total = 1 + (retries if schema is not None else 0)
    completion_tokens = 0
    report: dict[str, Any] | None = None
    for attempt in range(1, total + 1):
        sampling = params
        if attempt > 1 and params.seed is not None:
            sampling = ChatParams(**{**params.to_dict(), "seed": params.seed + attempt - 1})
        completion = write(sampling)
        completion_tokens += completion.completion_tokens
        if schema is None or completion.finish_reason == "cancelled":
            break
        report = check_reply(completion.text, schema, attempt)
        if report["valid"] or attempt == total:
            break
        if on_reset is not None:
            on_reset()
    return completion, completion_tokens, report


def result(completion: Completion, completion_tokens: int, info: dict[str, Any],
           report: dict[str, Any] | None, *, started: float, ready: float) -> dict[str, Any]:  # fmt: skip
    tps = completion.tokens_per_s
    out: dict[str, Any] = {
        "text": completion.text,
        "finish_reason": completion.finish_reason,
        **info,
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": completion.prompt_tokens + completion_tokens,
        },
        "timings": {
            "ttft_ms": None if completion.ttft_s is None else round(completion.ttft_s * 1000, 2),
            "tokens_per_s": None if tps is None else round(tps, 2),
            "load_ms": round((ready - started) * 1000, 2),
            "total_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    }
    if report is not None:
        out["json"] = report
    return out
