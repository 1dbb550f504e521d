"""Plain-text figures for the Chat panel: reply timings, live stream figures, the context meter.

No Qt here, so these are tested and reused without a widget.
"""

from __future__ import annotations

from typing import Any


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def live_text(stats: dict[str, Any]) -> str:
    """While a reply streams: ``Writing · 12.3 tokens/s · first token after 240 ms · 15 tokens``."""
    parts = ["Writing"]
    rate, ttft = _num(stats.get("tokens_per_s")), _num(stats.get("ttft_ms"))
    if rate is not None:
        parts.append(f"{rate:.1f} tokens/s")
    parts.append(
        f"first token after {ttft:.0f} ms" if ttft is not None else "waiting for the first token"
    )
    if stats.get("tokens"):
        parts.append(f"{stats['tokens']} tokens")
    return " · ".join(parts)


def result_text(result: dict[str, Any]) -> str:
    """The figures of a finished reply (a ChatResult, or an assistant message's metadata)."""
    meta = result.get("metadata") or (result.get("message") or {}).get("metadata") or {}
    retrieval = result.get("retrieval") or meta.get("retrieval")
    if isinstance(retrieval, dict) and retrieval.get("nothing_found"):
        return "nothing relevant found in the documents"
    timings = result.get("timings") or {}
    usage = result.get("usage") or {}
    parts = []
    rate, ttft, load = (
        _num(timings.get("tokens_per_s")),
        _num(timings.get("ttft_ms")),
        _num(timings.get("load_ms")),
    )
    if rate is not None:
        parts.append(f"{rate:.1f} tokens/s")
    if ttft is not None:
        parts.append(f"first token {ttft:.0f} ms")
    if load is not None and load >= 50:  # the model was loaded for this reply
        parts.append(f"load {load / 1000:.1f} s")
    if usage.get("completion_tokens") is not None:
        parts.append(f"{usage['completion_tokens']} tokens")
    where = " on ".join(str(x) for x in (result.get("runtime"), result.get("device")) if x)
    if where:
        parts.append(where)
    if result.get("finish_reason") == "length":
        parts.append("stopped at the max tokens limit")
    dropped = (result.get("truncated") or {}).get("dropped_messages") or 0
    if dropped:
        parts.append(f"{dropped} older message{'s' if dropped != 1 else ''} left out to fit")
    if isinstance(retrieval, dict):
        parts.append("answered from documents")
    verdict = result.get("json")
    if isinstance(verdict, dict):
        parts.append(
            "valid JSON" if verdict.get("valid") else f"invalid JSON: {verdict.get('error')}"
        )
    return " · ".join(parts)


def meter_text(count: dict[str, Any]) -> tuple[str, str]:
    """The context meter's figure and its note on what the truncation policy would drop."""
    used, available = int(count.get("used") or 0), int(count.get("available") or 0)
    reserved = int(count.get("reserved") or 0)
    figure = f"{used:,} / {available:,} tokens"
    trunc = count.get("truncated") or {}
    dropped = int(trunc.get("dropped_messages") or 0)
    if not count.get("fits", True):
        note = (
            "Too long: even the last message alone does not fit with "
            f"{reserved:,} tokens kept for the reply; shorten it or lower max tokens."
        )
    elif dropped:
        note = (
            f"Over the window: the {dropped} oldest message{'s' if dropped != 1 else ''} "
            f"({int(trunc.get('dropped_tokens') or 0):,} tokens) would be left out; "
            "the system prompt and the last turn stay."
        )
    else:
        note = f"Everything fits; {reserved:,} tokens are kept for the reply."
    docs = count.get("documents") or {}
    if docs.get("tokens"):
        names = ", ".join(docs.get("names") or []) or "the attached documents"
        note += (
            f" Counted: up to about {int(docs['tokens']):,} tokens of sources from {names} "
            f"({int(docs.get('k') or 0)} passages)."
        )
    return figure, note
