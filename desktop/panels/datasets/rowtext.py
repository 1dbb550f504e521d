"""Plain-text views of dataset rows and versions for the Datasets panel: which columns a format
shows, one-line cell text, tooltips, a blank row to start from, and version summaries.

No Qt here, so these are tested and reused without a widget. The format names and field orders
mirror docs/PROTOCOL.md ("Rows formats"); the engine stays the judge of what a valid row is.
"""

from __future__ import annotations

import json
from typing import Any

FORMATS = ("alpaca", "sharegpt", "messages", "preference", "text")
FIELD_ORDER: dict[str, tuple[str, ...]] = {
    "alpaca": ("system", "instruction", "input", "output", "history"),
    "sharegpt": ("conversations",),
    "messages": ("messages",),
    "preference": ("system", "prompt", "chosen", "rejected"),
    "text": ("text",),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "alpaca": ("instruction", "output"),
    "sharegpt": ("conversations",),
    "messages": ("messages",),
    "preference": ("prompt", "chosen", "rejected"),
    "text": ("text",),
}
BLANK_ROWS: dict[str, dict[str, Any]] = {
    "alpaca": {"instruction": "", "input": "", "output": ""},
    "sharegpt": {"conversations": [{"from": "human", "value": ""}, {"from": "gpt", "value": ""}]},
    "messages": {
        "messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]
    },
    "preference": {"prompt": "", "chosen": "", "rejected": ""},
    "text": {"text": ""},
}
CELL_LIMIT = 240
TOOLTIP_LIMIT = 2000


def columns_for(fmt: str | None, fields: list[str] | None) -> list[str]:
    """The row fields a table shows, in the format's order, then any extra columns."""
    present = list(fields or [])
    order = FIELD_ORDER.get(fmt or "", ())
    required = REQUIRED.get(fmt or "", ())
    out = [f for f in order if f in present or f in required]
    out += [f for f in present if f not in out]
    return out


def _turn_text(turn: Any) -> str:
    if isinstance(turn, dict):
        who = turn.get("role") or turn.get("from") or "?"
        what = turn.get("content", turn.get("value", ""))
        return f"{who}: {what if isinstance(what, str) else json.dumps(what, ensure_ascii=False)}"
    if isinstance(turn, (list, tuple)):  # alpaca history: [user, assistant]
        return " / ".join(str(t) for t in turn)
    return str(turn)


def full_text(value: Any) -> str:
    """A field's value as readable text: turns one per line, other structures as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(t, (dict, list, tuple)) for t in value):
        return "\n".join(_turn_text(t) for t in value)
    return json.dumps(value, ensure_ascii=False)


def elide(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cell_text(value: Any, limit: int = CELL_LIMIT) -> str:
    """One line for a table cell: newlines shown as ⏎, turns separated by │, cut at ``limit``."""
    if isinstance(value, list) and all(isinstance(t, (dict, list, tuple)) for t in value):
        text = "  │  ".join(_turn_text(t) for t in value)
    else:
        text = full_text(value)
    return elide(" ⏎ ".join(text.splitlines()) if "\n" in text else text, limit)


def tooltip_text(value: Any, limit: int = TOOLTIP_LIMIT) -> str:
    return elide(full_text(value), limit)


def blank_row(fmt: str | None) -> dict[str, Any]:
    """A new row to fill in: the format's fields, empty."""
    return json.loads(json.dumps(BLANK_ROWS.get(fmt or "", {"text": ""})))


def row_summary(row: dict[str, Any], limit: int = 80) -> str:
    """A row in one short line (cluster reviews, leaking-row lists)."""
    parts = [cell_text(v, limit) for v in row.values() if v not in (None, "", [], {})]
    return elide("  ·  ".join(parts), limit)


OPERATIONS = {
    "import": "Imported",
    "edit": "Edited",
    "filter": "Filtered",
    "dedup": "Deduplicated",
    "scrub_pii": "Scrubbed personal data",
    "decontaminate": "Removed leaking rows",
    "split": "Split",
    "convert": "Converted",
    "remove": "Removed rows",
    "generate": "Generated",
}


def version_text(version: dict[str, Any]) -> str:
    """What a version did, for the history list."""
    summary = version.get("summary") or {}
    text = summary.get("description") or OPERATIONS.get(version.get("operation", ""), "")
    if not text:
        text = str(version.get("operation") or "")
    return text


def dataset_line(ds: dict[str, Any]) -> str:
    """``1,000,000 rows · alpaca · version 3 of 5 · split train/validation/test``."""
    parts = [f"{int(ds.get('rows') or 0):,} rows", str(ds.get("format") or "?")]
    parts.append(f"version {ds.get('version')} of {ds.get('versions')}")
    splits = ds.get("splits") or []
    if splits:
        parts.append("split " + "/".join(f"{s['name']} {s['rows']:,}" for s in splits))
    return " · ".join(parts)


def errors_text(errors: list[dict[str, Any]], total: int | None = None, limit: int = 8) -> str:
    """Malformed lines as ``line 3: not valid JSON`` lines, with a count of the rest."""
    lines = [f"line {e.get('line')}: {e.get('reason')}" for e in errors[:limit]]
    total = len(errors) if total is None else total
    if total > len(lines):
        lines.append(f"… and {total - len(lines):,} more")
    return "\n".join(lines)
