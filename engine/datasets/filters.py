"""The search and filter language of the dataset table and the filter step: a text query (plain or
regex, one field or all), and filters (``FILTER_OPS``) on a field or on the token count. A
``make_matcher`` result first tests the raw JSON bytes (cheap), then the parsed row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from engine.core.errors import UserError
from engine.datasets import formats

FILTER_OPS = ("contains", "not_contains", "equals", "regex", "empty", "not_empty", "tokens_gt",
              "tokens_lt", "too_long")  # fmt: skip


class _Matcher:
    def __init__(self, quick: Callable[[bytes], bool], full: Callable[[dict, int], bool]) -> None:
        self.quick = quick
        self._full = full

    def __call__(self, row: dict[str, Any], n_tokens: int) -> bool:
        return self._full(row, n_tokens)


def make_matcher(
    fmt: str,
    *,
    query: str | None,
    regex: bool,
    case_sensitive: bool,
    field: str | None,
    filters: list[dict[str, Any]],
    too_long: int,
) -> _Matcher:
    """A row predicate for search and filters, with a cheap pre-check on the raw JSON line."""
    checks: list[Callable[[dict, int], bool]] = []
    quick: Callable[[bytes], bool] = lambda raw: True  # noqa: E731
    if query:
        pattern = compile_pattern(query if regex else re.escape(query), case_sensitive)
        checks.append(lambda row, _n: bool(pattern.search(field_text(row, fmt, field))))
        if not regex and query.isascii() and '"' not in query and "\\" not in query:
            needle = query.encode() if case_sensitive else query.lower().encode()
            quick = (
                (lambda raw: needle in raw)
                if case_sensitive
                else (lambda raw: needle in raw.lower())
            )
    for f in filters:
        checks.append(_filter_check(f, fmt, too_long))
    return _Matcher(quick, lambda row, n: all(c(row, n) for c in checks))


def compile_pattern(pattern: str, case_sensitive: bool = True) -> re.Pattern:
    try:
        return re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
    except re.error as exc:
        raise UserError(f"The regular expression {pattern!r} is not valid: {exc}.") from None


def field_text(row: dict[str, Any], fmt: str, field: str | None) -> str:
    if not field:
        return formats.row_text(row, fmt)
    value = formats.field_value(row, field)
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _filter_check(f: Any, fmt: str, too_long: int) -> Callable[[dict, int], bool]:
    if not isinstance(f, dict) or f.get("op") not in FILTER_OPS:
        raise UserError(f"A filter needs 'op', one of {', '.join(FILTER_OPS)}.")
    op, field, value = f["op"], f.get("field"), f.get("value")
    if op in ("tokens_gt", "tokens_lt"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise UserError(f"The {op} filter needs a number 'value'.")
        return (lambda _r, n: n > value) if op == "tokens_gt" else (lambda _r, n: n < value)
    if op == "too_long":
        return lambda _r, n: n > too_long
    if op in ("empty", "not_empty"):

        def is_empty(row: dict[str, Any]) -> bool:
            if field:
                v = formats.field_value(row, field)
                return (
                    v is None
                    or (isinstance(v, (str, list, dict)) and not v)
                    or (isinstance(v, str) and not v.strip())
                )
            return any(
                not t.strip() for t in formats.text_fields(row, fmt)
            ) or not formats.text_fields(row, fmt)

        return (lambda r, _n: is_empty(r)) if op == "empty" else (lambda r, _n: not is_empty(r))
    if not isinstance(value, str):
        raise UserError(f"The {op} filter needs a text 'value'.")
    if op == "regex":
        pattern = compile_pattern(value)
        return lambda r, _n: bool(pattern.search(field_text(r, fmt, field)))
    if op == "equals":
        return lambda r, _n: field_text(r, fmt, field) == value
    low = value.lower()
    if op == "contains":
        return lambda r, _n: low in field_text(r, fmt, field).lower()
    return lambda r, _n: low not in field_text(r, fmt, field).lower()
