"""Sizes, counts and durations written for people, the same in the GUI, the CLI and job messages.

Sizes are decimal (1 KB = 1000 bytes), as file managers show them, except ``binary_bytes`` for
memory (1 GB = 2**30 bytes), as the training planner's messages count it. ``missing`` is what an
unknown value shows as: the GUI uses an en dash, the CLI a hyphen (plain ASCII for pipes).
"""

from __future__ import annotations

DASH = "–"


def human_bytes(n: float | None, missing: str = DASH) -> str:
    if n is None:
        return missing
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def binary_bytes(n: float | None, missing: str = DASH) -> str:
    if n is None:
        return missing
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def human_count(n: float | None, missing: str = DASH) -> str:
    """``1.2M``, ``270M``, ``4.5K``: parameters, rows, tokens."""
    if not n:
        return missing
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f}{unit}" if value >= 100 else f"{value:.1f}{unit}".replace(".0", "")
    return str(int(n))


def human_duration(seconds: float | None, missing: str = DASH) -> str:
    if seconds is None:
        return missing
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
