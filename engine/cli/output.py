"""Printing for the CLI: JSON for scripts, aligned tables and progress lines for people."""

from __future__ import annotations

import json
import sys
from typing import Any

from hearth_common import units


def emit_json(value: Any) -> None:
    print(json.dumps(value, indent=None, default=str))


def human_bytes(n: int | None) -> str:
    return units.human_bytes(n, missing="-")


def human_count(n: int | None) -> str:
    return units.human_count(n, missing="-")


def table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip())
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


class ProgressPrinter:
    """A ``Services`` listener that shows a job's progress on stderr."""

    def __init__(self) -> None:
        self._last = ""

    def __call__(self, method: str, params: dict[str, Any]) -> None:
        if (
            method == "job.progress"
            and params.get("kind") == "end"
            and params.get("state") == "failed"
        ):
            return  # the command prints the failure itself, once
        if method == "job.progress":
            pct = params.get("progress")
            text = f"[{pct * 100:5.1f}%]" if isinstance(pct, (int, float)) else "[  ...]"
            line = f"{text} {params.get('message') or params.get('state') or ''}"
            if line != self._last:
                print(line, file=sys.stderr, flush=True)
                self._last = line
        elif method == "job.log" and params.get("level") == "warning":
            print(f"{params['level']}: {params['message']}", file=sys.stderr, flush=True)
