"""Citations in document answers: the ``[n]`` marks of a reply become ``cite:n`` links, and a
*Sources* list (file, page, heading) follows the reply, each entry a link too. The Markdown
renderer keeps the links' hrefs, so a click on ``[2]`` reaches the handler with ``cite:2``.

The citations are the engine's: an assistant message's ``metadata.citations`` (docs/PROTOCOL.md),
so any stored reply shows them, whenever and on whichever branch it is shown.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

CITE = "cite:"
_MARK = re.compile(r"(?<!\\)\[(\d{1,3})\](?!\()")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!<>|~])")


def escape_md(text: str) -> str:
    """``text`` with Markdown's special characters escaped (file names with underscores…)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def where(c: dict[str, Any]) -> str:
    """``manual.pdf · page 3 · Setup > Wiring`` for a citation."""
    parts = [c.get("name") or Path(c.get("file") or "?").name]
    page, end = c.get("page"), c.get("page_end")
    if page:
        parts.append(f"pages {page}–{end}" if end and end != page else f"page {page}")
    if c.get("heading"):
        parts.append(c["heading"])
    return " · ".join(parts)


def link_marks(text: str, numbers: set[int]) -> str:
    """Turn each ``[n]`` whose ``n`` is a known source into a ``cite:n`` Markdown link."""

    def swap(m: re.Match) -> str:
        n = int(m.group(1))
        return f"[\\[{n}\\]]({CITE}{n})" if n in numbers else m.group(0)

    return _MARK.sub(swap, text)


def answer_markdown(text: str, citations: list[dict[str, Any]]) -> str:
    """The reply with linked marks, then the numbered sources it was given."""
    if not citations:
        return text
    numbers = {int(c["n"]) for c in citations if c.get("n") is not None}
    lines = []
    for c in citations:
        note = "" if c.get("cited") else " *(not cited)*"
        lines.append(f"- [\\[{c['n']}\\]]({CITE}{c['n']}) {escape_md(where(c))}{note}")
    return link_marks(text, numbers) + "\n\n**Sources**\n\n" + "\n".join(lines)


def message_markdown(message: dict[str, Any]) -> str:
    """The Markdown a message is shown as: a reply with citations gets its links and sources."""
    text = message.get("content") or ""
    if message.get("role") != "assistant":
        return text
    return answer_markdown(text, (message.get("metadata") or {}).get("citations") or [])


def cited_number(href: str) -> int | None:
    """``2`` for ``cite:2``; None for any other link."""
    if not href.startswith(CITE):
        return None
    try:
        return int(href[len(CITE) :])
    except ValueError:
        return None


def find_citation(message: dict[str, Any], n: int) -> dict[str, Any] | None:
    citations = (message.get("metadata") or {}).get("citations") or []
    return next((c for c in citations if c.get("n") == n), None)
