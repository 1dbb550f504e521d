"""Small text formatters shared by the panels; sizes, counts and durations come from
``hearth_common.units`` so the GUI writes them as the CLI does."""

from __future__ import annotations

import time

from hearth_common.units import binary_bytes, human_bytes, human_count, human_duration

__all__ = ["binary_bytes", "clock", "human_bytes", "human_count", "human_duration"]


def clock(ts: float | None) -> str:
    if not ts:
        return "–"
    local = time.localtime(ts)
    today = time.localtime()
    fmt = "%H:%M:%S" if local[:3] == today[:3] else "%Y-%m-%d %H:%M"
    return time.strftime(fmt, local)
