"""Export a conversation: Markdown (the branch on screen, for reading) or JSON (the whole tree,
lossless, with the current branch named).

A reply answered from document collections carries its numbered sources: in Markdown a *Sources*
list under the reply (file, page, heading, and the cited passage quoted); in JSON they are in the
message's ``metadata.citations`` like everything else it stores.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from engine.chat.store import ChatStore
from engine.core.errors import UserError
from engine.core.paths import atomic_write_text, describe_os_error

FORMATS = ("markdown", "json")
_ROLE_TITLES = {"user": "User", "assistant": "Assistant", "system": "System"}


def render_markdown(thread: dict[str, Any], collections: list[str] | None = None) -> str:
    """The branch shown; ``collections`` are the names of the attached document collections."""
    conv = thread["conversation"]
    lines = [f"# {conv['title']}", ""]
    if conv.get("model_id"):
        lines.append(f"- Model: `{conv['model_id']}`")
    if collections:
        lines.append(f"- Documents: {', '.join(collections)}")
    lines.append(f"- Exported: {time.strftime('%Y-%m-%d %H:%M')}")
    lines.append("")
    if (conv.get("system_prompt") or "").strip():
        lines += ["## System", "", conv["system_prompt"].strip(), ""]
    for msg in thread["messages"]:
        lines += [f"## {_ROLE_TITLES.get(msg['role'], msg['role'].title())}", ""]
        lines.append(msg["content"].rstrip() or "_(no text)_")
        if msg["partial"]:
            lines += ["", f"_({msg['state']})_"]
        lines += _sources(msg.get("metadata") or {})
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def source_line(citation: dict[str, Any]) -> str:
    """``[2] manual.pdf, page 3 (Warranty)`` for a citation."""
    where = citation.get("name") or Path(citation.get("file") or "?").name
    page, end = citation.get("page"), citation.get("page_end")
    if page:
        where += f", pages {page}-{end}" if end and end != page else f", page {page}"
    if citation.get("heading"):
        where += f" ({citation['heading']})"
    return f"[{citation.get('n')}] {where}"


def _sources(meta: dict[str, Any]) -> list[str]:
    citations = meta.get("citations") or []
    if not citations:
        return []
    lines = ["", "**Sources**", ""]
    for c in citations:
        note = "" if c.get("cited") else " _(not cited)_"
        lines.append(f"- {source_line(c)}{note}: {c.get('file') or ''}")
        quote = " ".join((c.get("text") or "").split())
        if quote:
            lines.append(f"  > {quote}")
    return lines


def render_json(store: ChatStore, thread: dict[str, Any]) -> str:
    conv = thread["conversation"]
    data = {
        "format": "hearth.conversation/1",
        "exported_at": time.time(),
        "conversation": conv,
        "current_branch": [m["id"] for m in thread["messages"]],
        "messages": store.all_messages(conv["id"]),
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def export(
    store: ChatStore, conv_id: str, *, fmt: str = "markdown", path: str | None = None
) -> dict[str, Any]:
    if fmt not in FORMATS:
        raise UserError(f"Export format must be markdown or json, not {fmt!r}.")
    thread = store.thread(conv_id)
    if fmt == "markdown":
        names = store.collection_names(thread["conversation"].get("collections") or [])
        content = render_markdown(thread, names)
    else:
        content = render_json(store, thread)
    written = None
    if path is not None:
        if not isinstance(path, str) or not path.strip():
            raise UserError("Give the file to export to, or no path to get the text back.")
        target = Path(path).expanduser()
        if target.is_dir():
            raise UserError(f"{target} is a folder; give a file name to export to.")
        try:
            atomic_write_text(target, content)
        except OSError as exc:
            raise UserError(describe_os_error(exc, f"exporting to {target}")) from exc
        written = str(target)
    return {"format": fmt, "path": written, "content": content}
