"""Word (.docx) and PowerPoint (.pptx), through python-docx and python-pptx.

DOCX: paragraphs and tables in body order; paragraphs styled "Title" or "Heading N" set the heading
path. Word files have no fixed pages, so ``page`` stays empty. PPTX: one page per slide, the slide
title as its heading, then the text of its shapes, tables and speaker notes. A file that is not a
valid Office Open XML package (a renamed .doc, a truncated download) is refused as corrupt.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.documents.loaders.base import MB, BadFile, Block, Document, Limits

_HEADING = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _check_zip(path: Path, what: str, limits: Limits) -> None:
    """A readable package within ``limits``: its parts counted, and every part decompressed as a
    stream (1 MB at a time, nothing kept) so that sizes the package merely declares cannot lie;
    it stops at the first limit crossed. A normal document costs a few milliseconds here."""
    try:
        package = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        package = None
    if package is None:
        raise BadFile(
            f"corrupt or not a {what} file (not an Office Open XML package); "
            "open it in its application and save it again"
        )
    with package:
        parts = package.infolist()
        if len(parts) > limits.parts:
            raise BadFile(
                f"the package has {len(parts):,} parts, more than the collection's max_parts "
                f"limit of {limits.parts:,}; if the file is genuine, raise that limit"
            )
        total = 0
        for part in parts:
            if total + part.file_size > limits.unpacked_bytes:
                raise limits.too_much(total + part.file_size)
            size = 0
            try:
                with package.open(part) as stream:
                    while chunk := stream.read(MB):
                        size += len(chunk)
                        if total + size > limits.unpacked_bytes:
                            raise limits.too_much(total + size)
                        if size > limits.RATIO_FLOOR and size > limits.ratio * max(1, part.compress_size):  # fmt: skip
                            raise BadFile(
                                f"its part {part.filename} unpacks to more than {limits.ratio:g} "
                                "times its packed size (the collection's max_ratio limit: a "
                                "decompression bomb, or a file to check); if the file is "
                                "genuine, raise that limit"
                            )
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:  # fmt: skip
                raise BadFile(f"corrupt {what} file ({_short(exc)}); open it in its application and save it again") from exc  # fmt: skip
            total += size


def open_docx(path: Path, limits: Limits | None = None) -> Document:
    _check_zip(path, "Word .docx", limits or Limits())
    try:
        import docx

        document = docx.Document(str(path))
    except Exception as exc:
        raise BadFile(f"corrupt Word document ({_short(exc)})") from exc
    return Document(path, "docx", lambda: _docx_blocks(document))


def _docx_blocks(document: Any) -> Iterator[Block]:
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    path: list[tuple[int, str]] = []
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = Paragraph(child, document)
            text = para.text.strip()
            if not text:
                continue
            level = _heading_level(para)
            if level is not None:
                while path and path[-1][0] >= level:
                    path.pop()
                path.append((level, text))
                yield Block(text, headings=tuple(t for _, t in path), heading=True)
            else:
                yield Block(text, headings=tuple(t for _, t in path))
        elif tag == "tbl":
            rows = []
            for row in Table(child, document).rows:
                cells = []
                for cell in row.cells:
                    value = cell.text.strip()
                    if value and (not cells or cells[-1] != value):  # merged cells repeat
                        cells.append(value)
                if cells:
                    rows.append(" | ".join(cells))
            if rows:
                yield Block("\n".join(rows), headings=tuple(t for _, t in path))


def _heading_level(para: Any) -> int | None:
    try:
        name = (para.style.name or "").strip()
    except Exception:
        return None
    if name.lower() == "title":
        return 0
    m = _HEADING.match(name)
    return int(m.group(1)) if m else None


def open_pptx(path: Path, limits: Limits | None = None) -> Document:
    limits = limits or Limits()
    _check_zip(path, "PowerPoint .pptx", limits)
    try:
        from pptx import Presentation

        deck = Presentation(str(path))
        n = len(deck.slides)
    except Exception as exc:
        raise BadFile(f"corrupt PowerPoint file ({_short(exc)})") from exc
    if n == 0:
        raise BadFile("the presentation has no slides")
    if n > limits.pages:
        raise BadFile(f"{n:,} slides, more than the collection's max_pages limit of {limits.pages:,}; if the file is genuine, raise that limit")  # fmt: skip
    return Document(path, "pptx", lambda: _pptx_blocks(deck), pages=n)


def _pptx_blocks(deck: Any) -> Iterator[Block]:
    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        title = title_shape.text_frame.text.strip() if title_shape is not None else ""
        headings = (title,) if title else ()
        if title:
            yield Block(title, page=number, headings=headings, heading=True)
        for shape in slide.shapes:
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            yield from _shape_blocks(shape, number, headings)
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            text = notes.text.strip() if notes is not None else ""
            if text:
                yield Block(text, page=number, headings=headings)


def _shape_blocks(shape: Any, page: int, headings: tuple[str, ...]) -> Iterator[Block]:
    if getattr(shape, "shape_type", None) is not None and hasattr(shape, "shapes"):  # a group
        for inner in shape.shapes:
            yield from _shape_blocks(inner, page, headings)
        return
    if getattr(shape, "has_text_frame", False):
        for para in shape.text_frame.paragraphs:
            text = "".join(run.text for run in para.runs).strip()
            if text:
                yield Block(text, page=page, headings=headings)
    if getattr(shape, "has_table", False):
        rows = []
        for row in shape.table.rows:
            cells = [cell.text.strip() for cell in row.cells if cell.text.strip()]
            if cells:
                rows.append(" | ".join(cells))
        if rows:
            yield Block("\n".join(rows), page=page, headings=headings)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
