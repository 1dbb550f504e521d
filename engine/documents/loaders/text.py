"""Plain text, Markdown and CSV: encoding detection and streaming in bounded memory.

The encoding comes from ``engine.core.encoding`` (the rules every reader shares); a file it finds
binary is refused whatever its name says. Text is then decoded incrementally, 1 MB at a time, and cut
into paragraphs; a paragraph that never ends (a 200 MB file with no blank line) is cut at a line
break or a space every 256 K characters, so memory stays bounded whatever the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

from engine.core.encoding import NotText, sniff_file
from engine.documents.loaders.base import BadFile, Block, Document

SAMPLE_BYTES = 64 * 1024
READ_BYTES = 1024 * 1024
MAX_PARAGRAPH = 256 * 1024
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")


def detect_encoding(path: Path) -> str:
    """The text encoding of ``path`` (``engine.core.encoding``); ``BadFile`` for binary data."""
    try:
        return sniff_file(path).encoding
    except NotText as exc:
        raise BadFile(f"{exc.reason}; check what the file is") from None


def decoded_pieces(path: Path, encoding: str) -> Iterator[str]:
    """The file's text, decoded 1 MB at a time (undecodable bytes become U+FFFD)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with open(path, "rb") as fh:
        while True:
            raw = fh.read(READ_BYTES)
            final = not raw
            text = decoder.decode(raw, final=final)
            if text:
                yield text.replace("\r\n", "\n").replace("\r", "\n")
            if final:
                return


def paragraphs(pieces: Iterator[str]) -> Iterator[str]:
    """Blank-line separated paragraphs of a stream of text, each at most ``MAX_PARAGRAPH`` long."""
    buf = ""
    for piece in pieces:
        buf += piece
        while True:
            m = _last_match(_BLANK_LINE, buf)
            if m is not None:
                head, buf = buf[: m.start()], buf[m.end() :]
                for para in _BLANK_LINE.split(head):
                    yield from _bounded(para)
            if len(buf) <= MAX_PARAGRAPH:
                break
            cut = _cut_point(buf, MAX_PARAGRAPH)
            yield from _bounded(buf[:cut])
            buf = buf[cut:]
    yield from _bounded(buf)


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    last = None
    for last in pattern.finditer(text):  # noqa: B007 - we want the last one
        pass
    return last


def _cut_point(text: str, limit: int) -> int:
    cut = text.rfind("\n", 0, limit)
    if cut <= 0:
        cut = text.rfind(" ", 0, limit)
    return cut + 1 if cut > 0 else limit


def _bounded(para: str) -> Iterator[str]:
    para = para.strip()
    while len(para) > MAX_PARAGRAPH:
        cut = _cut_point(para, MAX_PARAGRAPH)
        yield para[:cut].strip()
        para = para[cut:].strip()
    if para:
        yield para


def _non_empty(blocks: Iterator[Block]) -> Iterator[Block]:
    seen = False
    for block in blocks:
        seen = True
        yield block
    if not seen:
        raise BadFile("no text in the file (only whitespace)")


def open_text(path: Path) -> Document:
    encoding = detect_encoding(path)

    def blocks() -> Iterator[Block]:
        return _non_empty(Block(p) for p in paragraphs(decoded_pieces(path, encoding)))

    notes = [] if encoding in ("utf-8", "ascii") else [f"encoding {encoding}"]
    return Document(path, "txt", blocks, notes=notes)


# ---- Markdown ---------------------------------------------------------------------------------
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


def _lines(pieces: Iterator[str]) -> Iterator[str]:
    buf = ""
    for piece in pieces:
        buf += piece
        *lines, buf = buf.split("\n")
        yield from lines
        if len(buf) > MAX_PARAGRAPH:  # a line that never ends
            yield buf
            buf = ""
    if buf:
        yield buf


def markdown_blocks(lines: Iterator[str]) -> Iterator[Block]:
    """Headings (ATX and setext) set the heading path; paragraphs and code blocks are blocks."""
    path: list[tuple[int, str]] = []
    para: list[str] = []
    size = 0
    fence: str | None = None

    def current() -> tuple[str, ...]:
        return tuple(t for _, t in path)

    def flush() -> Iterator[Block]:
        nonlocal para, size
        text = "\n".join(para).strip()
        para, size = [], 0
        if text:
            yield Block(text, headings=current())

    def heading(level: int, title: str) -> Block:
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, title))
        return Block(title, headings=current(), heading=True)

    for line in lines:
        if fence is not None:
            para.append(line)
            size += len(line)
            if line.strip().startswith(fence):
                fence = None
                yield from flush()
            continue
        m = _FENCE.match(line)
        if m:
            yield from flush()
            fence = m.group(1)[:3]
            para.append(line)
            continue
        m = _ATX.match(line)
        if m:
            yield from flush()
            title = m.group(2).strip()
            if title:
                yield heading(len(m.group(1)), title)
            continue
        m = _SETEXT.match(line)
        if m and len(para) == 1 and para[0].strip():
            title = para[0].strip()
            para, size = [], 0
            yield heading(1 if m.group(1)[0] == "=" else 2, title)
            continue
        if not line.strip():
            yield from flush()
            continue
        para.append(line)
        size += len(line)
        if size > MAX_PARAGRAPH:
            yield from flush()
    yield from flush()


def open_markdown(path: Path) -> Document:
    encoding = detect_encoding(path)

    def blocks() -> Iterator[Block]:
        return _non_empty(markdown_blocks(_lines(decoded_pieces(path, encoding))))

    return Document(path, "md", blocks)


# ---- CSV ----------------------------------------------------------------------------------------
def open_csv(path: Path) -> Document:
    """Each row becomes a block ``header: value | header: value`` so a chunk of rows reads alone."""
    encoding = detect_encoding(path)
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES).decode(encoding, errors="replace")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        pass

    def blocks() -> Iterator[Block]:
        return _non_empty(_csv_rows(path, encoding, delimiter))

    return Document(path, "csv", blocks)


def _csv_rows(path: Path, encoding: str, delimiter: str) -> Iterator[Block]:
    csv.field_size_limit(MAX_PARAGRAPH)
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        header: list[str] | None = None
        try:
            for row in reader:
                cells = [c.strip() for c in row]
                if not any(cells):
                    continue
                if header is None:
                    header = cells
                    yield Block(" | ".join(c for c in cells if c))
                    continue
                pairs = [
                    f"{header[i]}: {c}" if i < len(header) and header[i] else c
                    for i, c in enumerate(cells)
                    if c
                ]
                yield Block(" | ".join(pairs))
        except csv.Error as exc:
            raise BadFile(f"malformed CSV near line {reader.line_num}: {exc}") from exc
