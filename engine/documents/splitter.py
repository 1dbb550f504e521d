"""Structure-aware splitting into chunks bounded in the embedder's tokens, with overlap.

A document's *text* is its blocks joined by blank lines; every chunk is an exact slice
``text[start:end]`` of it, so a citation can highlight the passage in the source. Splitting follows
the document's structure: a new heading (or a new PDF page) starts a new chunk, blocks are cut into
sentences, and sentences are packed into chunks of at most ``max_tokens`` tokens; the next chunk
starts with the last sentences of the previous one, up to ``overlap_tokens``. A sentence longer than
``max_tokens`` is cut at word boundaries. Sections holding nothing but a heading are carried into
the next section rather than becoming a chunk of their own.

It streams: only the units of the chunk being built are held, so a 200 MB text file splits in
bounded memory. Tokens are counted by the embedder's own tokenizer (``HFTokenCounter``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from engine.documents.loaders import Block

SEPARATOR = "\n\n"
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|\n+")
HEADING_PREFIX_CHARS = 120


class TokenCounter(Protocol):
    def count(self, texts: list[str]) -> list[int]:
        """Tokens in each text (no special tokens)."""

    def cut(self, text: str, max_tokens: int) -> int:
        """A character index such that ``text[:index]`` holds at most ``max_tokens`` tokens."""


class HFTokenCounter:
    """Counts with a Hugging Face ``tokenizer.json`` (the fast Rust tokenizer; no torch)."""

    def __init__(self, tokenizer_file: Path) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def count(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def cut(self, text: str, max_tokens: int) -> int:
        enc = self.tokenizer.encode(text, add_special_tokens=False)
        if len(enc.ids) <= max_tokens:
            return len(text)
        end = enc.offsets[max_tokens - 1][1]
        if enc.offsets[max_tokens][0] == end:  # the cut falls inside a word: back up to its start
            space = max(text.rfind(" ", 0, end), text.rfind("\n", 0, end))
            if space > 0:
                return space
        return end


class WordCounter:
    """Whitespace words: a stand-in tokenizer for tests and tools without a model."""

    def count(self, texts: list[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def cut(self, text: str, max_tokens: int) -> int:
        for i, m in enumerate(re.finditer(r"\S+", text)):
            if i == max_tokens:
                return m.start()
        return len(text)


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    start: int
    end: int
    tokens: int
    page: int | None
    page_end: int | None
    headings: tuple[str, ...]

    def embed_text(self) -> str:
        """What gets embedded and keyword-indexed: the heading path, then the text."""
        return embed_text(self.text, self.headings)


def embed_text(text: str, headings: tuple[str, ...] | list[str]) -> str:
    if not headings:
        return text
    prefix = " > ".join(headings)
    if len(prefix) > HEADING_PREFIX_CHARS:
        prefix = "…" + prefix[-HEADING_PREFIX_CHARS:]
    if text.startswith(headings[-1]):
        parents = " > ".join(headings[:-1])
        return f"{parents}\n{text}" if parents else text
    return f"{prefix}\n{text}"


@dataclass
class _Unit:
    text: str
    start: int
    lead: str  # the text between the previous unit and this one
    tokens: int
    page: int | None
    headings: tuple[str, ...]
    heading: bool


class Splitter:
    def __init__(self, counter: TokenCounter, *, max_tokens: int, overlap_tokens: int) -> None:
        if max_tokens < 8:
            raise ValueError("max_tokens must be at least 8")
        self.counter = counter
        self.max_tokens = max_tokens
        self.overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))

    def split(
        self, blocks: Iterable[Block], *, text_sink: Callable[[str], None] | None = None
    ) -> Iterator[Chunk]:
        """Chunks of ``blocks`` in order; ``text_sink`` receives the document text as it goes."""
        state = _Packer(self)
        offset = 0
        first = True
        key: tuple | None = None
        tail = ""  # text after the last unit of the previous block (its trailing whitespace)
        for block in blocks:
            if not block.text.strip():
                continue
            lead = "" if first else SEPARATOR
            start = offset + len(lead)
            if text_sink is not None:
                text_sink(lead + block.text)
            offset = start + len(block.text)
            first = False
            block_key = (block.headings, block.page)
            if key is not None and (block_key != key or block.heading):
                yield from state.end_section()
            key = block_key
            units, new_tail = self._units(block, start, tail + lead)
            tail = new_tail
            for unit in units:
                yield from state.add(unit)
        yield from state.end_section(final=True)

    def _units(self, block: Block, start: int, lead: str) -> tuple[list[_Unit], str]:
        pieces: list[tuple[int, int]] = []  # (start, end) within block.text
        pos = 0
        text = block.text
        for m in _SENTENCE_END.finditer(text):
            if m.start() > pos:
                pieces.append((pos, m.end()))  # trailing whitespace is stripped below
            pos = m.end()
        if pos < len(text):
            pieces.append((pos, len(text)))
        pieces = [(a, b) for a, b in ((a, _rstrip_end(text, a, b)) for a, b in pieces) if b > a]
        counts = self.counter.count([text[a:b] for a, b in pieces])
        units: list[_Unit] = []
        prev_end = 0
        for (a, b), n in zip(pieces, counts, strict=True):
            gap = (lead if not units and prev_end == 0 else "") + text[prev_end:a]
            for piece_start, piece_end, piece_tokens, piece_gap in self._bounded(text, a, b, n):
                units.append(
                    _Unit(
                        text=text[piece_start:piece_end],
                        start=start + piece_start,
                        lead=gap + piece_gap,
                        tokens=piece_tokens,
                        page=block.page,
                        headings=block.headings,
                        heading=block.heading,
                    )
                )
                gap = ""
            prev_end = b
        return units, text[prev_end:]

    def _bounded(self, text: str, a: int, b: int, n: int) -> Iterator[tuple[int, int, int, str]]:
        """(start, end, tokens, gap) pieces of text[a:b], each within ``max_tokens``."""
        gap = ""
        while n > self.max_tokens:
            cut = a + self.counter.cut(text[a:b], self.max_tokens)
            if cut <= a:
                cut = a + 1
            head_end = _rstrip_end(text, a, cut)
            head_tokens = self.counter.count([text[a:head_end]])[0]
            while head_tokens > self.max_tokens and head_end - a > 1:  # rare: re-tokenising shifted
                head_end = a + (head_end - a) * 9 // 10
                head_tokens = self.counter.count([text[a:head_end]])[0]
            yield a, head_end, head_tokens, gap
            nxt = cut
            while nxt < b and text[nxt].isspace():
                nxt += 1
            gap = text[head_end:nxt]
            a = nxt
            if a >= b:
                return
            n = self.counter.count([text[a:b]])[0]
        yield a, b, n, gap


def _rstrip_end(text: str, a: int, b: int) -> int:
    while b > a and text[b - 1].isspace():
        b -= 1
    return b


class _Packer:
    """Packs units into chunks; one instance per document."""

    def __init__(self, splitter: Splitter) -> None:
        self.max = splitter.max_tokens
        self.overlap = splitter.overlap_tokens
        self.units: list[_Unit] = []
        self.tokens = 0
        self.fresh = 0  # units in ``self.units`` not yet part of an emitted chunk
        self.index = 0

    def add(self, unit: _Unit) -> Iterator[Chunk]:
        if self.units and self.tokens + unit.tokens > self.max:
            if all(u.heading for u in self.units):
                # only headings so far and no room beside the text: they live on in the chunk's
                # heading path (and its embedded prefix) instead of as a chunk of their own
                self.units, self.tokens, self.fresh = [], 0, 0
            else:
                yield self._emit()
                self._keep_overlap()
            if self.units and self.tokens + unit.tokens > self.max:
                self.units, self.tokens = [], 0
        self.units.append(unit)
        self.tokens += unit.tokens
        self.fresh += 1

    def end_section(self, *, final: bool = False) -> Iterator[Chunk]:
        if not final and self.fresh and all(u.heading for u in self.units[-self.fresh :]):
            # a heading with nothing under it yet: carry it (alone) into the next section
            self.units = self.units[-self.fresh :]
            self.tokens = sum(u.tokens for u in self.units)
            return
        if self.fresh:
            yield self._emit()
        self.units, self.tokens, self.fresh = [], 0, 0

    def _emit(self) -> Chunk:
        units = self.units
        text = units[0].text + "".join(u.lead + u.text for u in units[1:])
        body = next((u for u in units if not u.heading), units[0])
        chunk = Chunk(
            index=self.index,
            text=text,
            start=units[0].start,
            end=units[-1].start + len(units[-1].text),
            tokens=self.tokens,
            page=body.page,
            page_end=units[-1].page,
            headings=units[-1].headings,
        )
        self.index += 1
        self.fresh = 0
        return chunk

    def _keep_overlap(self) -> None:
        kept: list[_Unit] = []
        total = 0
        for unit in reversed(self.units[1:]):  # never the whole chunk: always make progress
            if total + unit.tokens > self.overlap:
                break
            kept.append(unit)
            total += unit.tokens
        kept.reverse()
        self.units, self.tokens = kept, total
