"""``filter_rows``: token length, regex include/exclude, empty or missing fields; one version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.datasets import formats
from engine.datasets.clean.common import SAMPLE, as_text, is_empty_row, nothing_left
from engine.datasets.filters import compile_pattern
from engine.datasets.library import DatasetLibrary
from engine.datasets.step_options import FilterOptions
from engine.datasets.tokens import RowCounter

if TYPE_CHECKING:
    from engine.services import Services


def check_filter_params(params: dict[str, Any]) -> FilterOptions:
    return FilterOptions.from_params(params)


def filter_rows(services: Services, ref: str, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    check_filter_params(params)
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    fmt = ver["format"]
    field = params.get("field")
    model_id = params.get("model_id")
    counter = RowCounter(services, model_id, fmt) if model_id else None
    lo = params.get("min_tokens")
    hi = params.get("max_tokens")
    if hi == "context":
        hi = counter.context_length if counter else None
        if not hi:
            raise UserError("That model does not say how long its context is; give max_tokens.")
    include = compile_pattern(params["include"]) if params.get("include") else None
    exclude = compile_pattern(params["exclude"]) if params.get("exclude") else None
    drop_empty = bool(params.get("drop_empty")) or bool(params.get("empty_fields"))
    empty_fields = params.get("empty_fields") or None
    reasons = {"too_short": 0, "too_long": 0, "not_included": 0, "excluded": 0, "empty": 0}
    removed: list[int] = []
    recount: dict[int, int] = {}
    with lib.reader(ds["id"], ver["version"]) as reader:
        stored = reader.tokens()

    def keep(pos: int, row: dict[str, Any]) -> dict[str, Any] | None:
        reason = None
        if drop_empty and is_empty_row(row, fmt, empty_fields):
            reason = "empty"
        if reason is None and (include or exclude):
            text = (
                formats.row_text(row, fmt)
                if not field
                else as_text(formats.field_value(row, field))
            )
            if include and not include.search(text):
                reason = "not_included"
            elif exclude and exclude.search(text):
                reason = "excluded"
        if reason is None and (lo is not None or hi is not None):
            n = counter(row) if counter else stored[pos]
            if counter:
                recount[pos] = n
            if lo is not None and n < lo:
                reason = "too_short"
            elif hi is not None and n > hi:
                reason = "too_long"
        if reason is None:
            return row
        recount.pop(pos, None)
        reasons[reason] += 1
        if len(removed) < SAMPLE:
            removed.append(pos)
        return None

    what = _describe_filter(lo, hi, include, exclude, drop_empty, empty_fields, counter)

    def summary() -> dict[str, Any]:
        total = sum(reasons.values())
        parts = [f"{v:,} {k.replace('_', ' ')}" for k, v in reasons.items() if v]
        return {
            "description": f"Filter ({what}) removed {total:,} rows"
            + (f": {', '.join(parts)}." if parts else "."),
            "removed": total,
            "reasons": reasons,
            "removed_sample": removed,
            "exact_tokens": bool(counter),
        }

    result = lib.rewrite(
        ds,
        ver,
        keep,
        fmt=fmt,
        operation="filter",
        params={k: v for k, v in params.items() if v is not None},
        summary=summary,
        empty_message=nothing_left(ver["rows"], f"this filter ({what})"),
        token_of=lambda pos: recount.pop(pos, None),
        progress=lambda f: ctx.progress(f, "Filtering"),
        check_cancelled=ctx.check_cancelled,
    )
    after = result["version"]["rows"] if result["version"] else ver["rows"]
    return {
        **result,
        "rows_before": ver["rows"],
        "rows_after": after,
        "removed": ver["rows"] - after,
        "reasons": reasons,
    }


def _describe_filter(lo, hi, include, exclude, drop_empty, empty_fields, counter) -> str:
    parts = []
    unit = f"{counter.tok.name} tokens" if counter else "tokens (estimated)"
    if lo is not None and hi is not None:
        parts.append(f"{lo}-{hi} {unit}")
    elif lo is not None:
        parts.append(f"at least {lo} {unit}")
    elif hi is not None:
        parts.append(f"at most {hi} {unit}")
    if include:
        parts.append(f"include /{include.pattern}/")
    if exclude:
        parts.append(f"exclude /{exclude.pattern}/")
    if drop_empty:
        parts.append("no empty " + (", ".join(empty_fields) if empty_fields else "fields"))
    return "; ".join(parts)
