"""Loaders: a file in, a stream of text ``Block``s out (with page and heading path), or ``BadFile``.

``open_document(path)`` checks what can be checked cheaply (empty, binary, encrypted, corrupt) and
returns a ``Document`` whose ``blocks()`` is a generator: large files stream and never sit in memory
whole. A loader that finds a problem part-way (a PDF with no text layer on any page) raises
``BadFile`` from the generator; the ingest job lists the file with that reason and goes on.

A loader never executes or unpickles anything from the file; PDF, DOCX and PPTX are parsed with
pypdf, python-docx and python-pptx, the rest with the standard library.
"""

from __future__ import annotations

from pathlib import Path

from engine.documents.loaders.base import BadFile, Block, Document, Limits

# suffix -> type name
SUPPORTED: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".txt": "txt",
    ".text": "txt",
    ".rst": "txt",
    ".log": "txt",
    ".csv": "csv",
    ".tsv": "csv",
}
TYPES = tuple(sorted(set(SUPPORTED.values())))

__all__ = [
    "SUPPORTED",
    "TYPES",
    "BadFile",
    "Block",
    "Document",
    "Limits",
    "file_type",
    "open_document",
]


def file_type(path: Path) -> str | None:
    return SUPPORTED.get(path.suffix.lower())


def open_document(path: Path, limits: Limits | None = None) -> Document:
    """The loader for ``path`` by its suffix; raises ``BadFile`` for files that can't be indexed
    or that would unpack beyond ``limits`` (the defaults when None)."""
    path = Path(path)
    kind = file_type(path)
    if kind is None:
        raise BadFile(f"unsupported file type {path.suffix or '(no extension)'}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BadFile(f"cannot read the file ({exc.strerror or exc})") from exc
    if size == 0:
        raise BadFile("empty file: nothing to index")
    if kind == "pdf":
        from engine.documents.loaders.pdf import open_pdf

        return open_pdf(path, limits)
    if kind == "docx":
        from engine.documents.loaders.office import open_docx

        return open_docx(path, limits)
    if kind == "pptx":
        from engine.documents.loaders.office import open_pptx

        return open_pptx(path, limits)
    if kind == "html":
        from engine.documents.loaders.markup import open_html

        return open_html(path)
    from engine.documents.loaders import text

    if kind == "md":
        return text.open_markdown(path)
    if kind == "csv":
        return text.open_csv(path)
    return text.open_text(path)
