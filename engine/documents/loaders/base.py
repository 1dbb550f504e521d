"""What every loader returns: a ``Document`` of ``Block``s, or ``BadFile`` with the reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How much a file may make Hearth read, whatever its size on disk (a collection's settings
    ``max_unpacked_mb``, ``max_ratio``, ``max_parts``, ``max_pages``): a small file that unpacks
    to gigabytes, or a package of a million parts, is refused naming the limit, before it is
    parsed. ``RATIO_FLOOR``: parts smaller than this are never judged by their ratio (XML
    compresses 10-30x, a blank one far more). ``ocr``: whether a PDF page without a text layer
    is read with OCR (the collection's ``ocr`` setting)."""

    unpacked_bytes: int = 256 * MB
    ratio: float = 100.0
    parts: int = 10_000
    pages: int = 10_000
    ocr: bool = True  # read pages without a text layer (scans) with OCR
    RATIO_FLOOR = 8 * MB

    def too_much(self, unpacked: int) -> BadFile:
        return BadFile(
            f"unpacks to more than {self.unpacked_bytes // MB} MB of content (the collection's "
            f"max_unpacked_mb limit); if the file is genuine, raise that limit in the collection's "
            "settings"
        )


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
