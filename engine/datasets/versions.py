"""Small helpers on dataset versions shared by the library's parts and the steps: one writer lock
per dataset, the row range of a split, and split boundaries after a subset."""

from __future__ import annotations

import threading
from typing import Any

from engine.core.errors import UserError

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def dataset_lock(dataset_id: str) -> threading.Lock:
    """One writer per dataset in this process (version numbers come from the database)."""
    with _locks_guard:
        return _locks.setdefault(dataset_id, threading.Lock())


def split_range(ver: dict[str, Any], split: str | None) -> tuple[int, int]:
    if not split:
        return 0, ver["rows"]
    for s in ver.get("splits") or []:
        if s["name"] == split:
            return s["start"], s["start"] + s["rows"]
    names = [s["name"] for s in ver.get("splits") or []]
    if not names:
        raise UserError("This version has no splits; split the dataset first.")
    raise UserError(f"No split {split!r}; this version has {', '.join(names)}.")


def derive_splits(
    splits: list[dict[str, Any]] | None, kept: list[int]
) -> list[dict[str, Any]] | None:
    """Split boundaries after keeping ``kept`` (ascending) positions of a split version."""
    if not splits:
        return None
    out = []
    i = 0
    start = 0
    for s in splits:
        end = s["start"] + s["rows"]
        n = 0
        while i < len(kept) and kept[i] < end:
            n += 1
            i += 1
        out.append({"name": s["name"], "start": start, "rows": n})
        start += n
    return out
