"""``remove_rows``: drop rows by position (e.g. the reviewed dedup clusters)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.datasets.clean.common import SAMPLE, nothing_left
from engine.datasets.library import DatasetLibrary

if TYPE_CHECKING:
    from engine.services import Services


def remove_rows(
    services: Services, ref: str, indexes: Any, *, reason: str | None = None
) -> dict[str, Any]:
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    if not isinstance(indexes, list) or not indexes:
        raise UserError("Give the positions of the rows to remove.")
    bad = [
        i
        for i in indexes
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < ver["rows"]
    ]
    if bad:
        raise UserError(f"Row {bad[0]!r} does not exist; the dataset has {ver['rows']} rows.")
    drop = set(indexes)
    result = lib.subset(
        ds,
        ver,
        lambda pos: pos not in drop,
        operation="remove",
        params={"reason": reason} if reason else {},
        summary={
            "description": f"Removed {len(drop):,} rows" + (f" ({reason})." if reason else "."),
            "removed": len(drop),
            "removed_sample": sorted(drop)[:SAMPLE],
        },
        empty_message=nothing_left(ver["rows"], "this removal"),
    )
    return {
        **result,
        "rows_before": ver["rows"],
        "rows_after": result["version"]["rows"],
        "removed": len(drop),
    }
