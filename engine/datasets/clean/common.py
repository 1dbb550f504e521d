"""What the cleaning steps share: the removal sample size, the message for a step that would
leave nothing, and what counts as an empty row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.datasets import formats

if TYPE_CHECKING:
    pass


SAMPLE = 1000  # removed positions recorded in a version's summary


def nothing_left(n: int, what: str) -> str:
    return (
        f"All {n:,} rows would be removed by {what}; nothing was changed. Loosen the settings "
        "and try again."
    )


# -- filters ------------------------------------------------------------------------------------


def is_empty_row(row: dict[str, Any], fmt: str, fields: list[str] | None = None) -> bool:
    """True when a required field (or one of ``fields``) is missing or blank."""
    if fields:
        for field in fields:
            value = formats.field_value(row, field)
            if value is None or (isinstance(value, str) and not value.strip()) or value in ([], {}):
                return True
        return False
    if fmt == "alpaca":
        return (
            not str(row.get("instruction") or "").strip()
            or not str(row.get("output") or "").strip()
        )
    if fmt == "preference":
        return any(not str(row.get(k) or "").strip() for k in ("prompt", "chosen", "rejected"))
    if fmt == "text":
        return not str(row.get("text") or "").strip()
    texts = formats.text_fields(row, fmt)
    return not texts or any(not t.strip() for t in texts)


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, ensure_ascii=False)
