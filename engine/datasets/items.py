"""One raw row read from a source, or the reason it could not be read (see ``readers``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Item:
    line: int | None
    row: dict[str, Any] | None = None
    error: str | None = None
