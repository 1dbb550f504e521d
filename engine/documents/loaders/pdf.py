"""PDF with page numbers, through pypdf.

An encrypted PDF opens if it only has an owner password (the empty user password works); one that
needs a password is refused as such. Pages are read one at a time. The outline (bookmarks), when
there is one, gives each page its heading path. A page without a text layer is a scan: with the
collection's ``ocr`` setting (on by default) its images are read with OCR (``ocr.py``, offline)
and keep their page number for citations; with it off, or when OCR finds nothing, a PDF without
any text is refused with the reason, rather than indexed as nothing.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from engine.documents.loaders.base import BadFile, Block, Document, Limits

log = logging.getLogger(__name__)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")


def open_pdf(path: Path, limits: Limits | None = None) -> Document:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError as exc:  # pragma: no cover - a broken install
        raise BadFile("PDF support is not installed (pip install pypdf)") from exc
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # damaged-but-readable files are noisy
    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            _decrypt(reader)
        n_pages = len(reader.pages)
    except BadFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise BadFile(f"damaged or not a PDF ({_short(exc)})") from exc
    if n_pages == 0:
        raise BadFile("the PDF has no pages")
    limits = limits or Limits()
    if n_pages > limits.pages:
        raise BadFile(f"{n_pages:,} pages, more than the collection's max_pages limit of {limits.pages:,}; if the file is genuine, raise that limit")  # fmt: skip
    outline = _outline_by_page(reader)
    doc = Document(path, "pdf", lambda: _blocks(reader, n_pages, outline, doc, limits), pages=n_pages)  # fmt: skip
    return doc


def _decrypt(reader: Any) -> None:
    try:
        ok = reader.decrypt("")
    except Exception as exc:  # missing AES support, unknown handler...
        raise BadFile(
            f"encrypted PDF that Hearth cannot open ({_short(exc)}); save an unencrypted copy "
            "and ingest that"
        ) from exc
    if not ok:
        raise BadFile(
            "encrypted PDF (password protected); remove the password (e.g. print to PDF) "
            "and ingest it again"
        )


def _blocks(reader: Any, n_pages: int, outline: dict[int, tuple[str, ...]], doc: Document, limits: Limits):  # fmt: skip
    """Each page's paragraphs; pypdf bounds what one compressed stream may inflate to, and the
    text of all pages together is held to ``limits.unpacked_bytes``."""
    extracted = 0
    empty_pages = 0
    any_text = False
    ocr_state = _OcrState()
    headings: tuple[str, ...] = ()
    for index in range(n_pages):
        page_no = index + 1
        headings = outline.get(page_no, headings)
        try:
            text = reader.pages[index].extract_text() or ""
        except Exception as exc:  # one bad page should not lose the rest
            log.warning("%s: page %d unreadable: %s", doc.path, page_no, exc)
            doc.notes.append(f"page {page_no} unreadable")
            continue
        extracted += len(text)
        if extracted > limits.unpacked_bytes:
            raise limits.too_much(extracted)
        text = _HYPHEN_BREAK.sub(r"\1\2", text.replace("\r\n", "\n").replace("\r", "\n"))
        paras = [p.strip() for p in _BLANK_LINE.split(text) if p.strip()]
        if not paras and limits.ocr and ocr_state.usable:
            paras = _ocr(reader.pages[index], page_no, doc, ocr_state)
        if not paras:
            empty_pages += 1
            continue
        any_text = True
        for para in paras:
            yield Block(para, page=page_no, headings=headings)
    pages = f"{n_pages} page{'s' if n_pages != 1 else ''}"
    if not any_text:
        if not limits.ocr:
            raise BadFile(
                f"scanned PDF with no text layer ({pages}); turn on OCR in the collection's "
                "settings (or run ocrmypdf on it) and ingest it again"
            )
        if ocr_state.problem:
            raise BadFile(f"scanned PDF with no text layer ({pages}), and {ocr_state.problem}")
        raise BadFile(f"scanned PDF with no text layer ({pages}), and OCR found no text in it")
    if ocr_state.pages:
        doc.notes.append(f"{ocr_state.pages} of {n_pages} pages read with OCR")
    if empty_pages:
        found = ", and OCR found none" if limits.ocr and ocr_state.usable else ""
        doc.notes.append(f"{empty_pages} of {n_pages} pages have no text layer{found}")


class _OcrState:
    """How OCR went in one file: pages it read, and why it could not run (said once)."""

    def __init__(self) -> None:
        self.pages = 0
        self.problem = ""

    @property
    def usable(self) -> bool:
        return not self.problem


def _ocr(page: Any, page_no: int, doc: Document, state: _OcrState) -> list[str]:
    from engine.documents.loaders import ocr

    try:
        paras = ocr.page_text(page)
    except ocr.OcrUnavailable as exc:
        state.problem = str(exc)
        doc.notes.append(state.problem)
        return []
    except Exception as exc:  # one unreadable scan should not lose the other pages
        log.warning("%s: OCR of page %d failed: %s", doc.path, page_no, exc)
        doc.notes.append(f"page {page_no}: OCR failed")
        return []
    if paras:
        state.pages += 1
    return paras


def _outline_by_page(reader: Any) -> dict[int, tuple[str, ...]]:
    """page number -> heading path of the first outline entry that starts on that page."""
    found: dict[int, tuple[str, ...]] = {}

    def walk(items: list[Any], parents: tuple[str, ...]) -> None:
        last: tuple[str, ...] | None = None
        for item in items:
            if isinstance(item, list):
                if last is not None:
                    walk(item, last)
                continue
            title = str(getattr(item, "title", "") or "").strip()
            if not title:
                continue
            last = (*parents, title)
            try:
                page = reader.get_destination_page_number(item) + 1
            except Exception:
                continue
            if page > 0:
                found.setdefault(page, last)

    try:
        walk(list(reader.outline or []), ())
    except Exception:  # an odd outline is not worth failing the file
        return {}
    return found


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
