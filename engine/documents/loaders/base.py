"""What every loader returns: a ``Document`` of ``Block``s, or ``BadFile`` with the reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


class BadFile(Exception):
    """A file that cannot be indexed; ``reason`` says why in words a user understands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Block:
    """A paragraph-sized piece of a document, in reading order."""

    text: str
    page: int | None = None  # 1-based page (PDF) or slide (PPTX)
    headings: tuple[str, ...] = ()  # heading path, outermost first; a heading block includes itself
    heading: bool = False  # this block is itself a heading


@dataclass
class Document:
    path: Path
    type: str
    open_blocks: Callable[[], Iterator[Block]]
    pages: int | None = None
    notes: list[str] = field(default_factory=list)  # things the user may want to know

    def blocks(self) -> Iterator[Block]:
        return self.open_blocks()
