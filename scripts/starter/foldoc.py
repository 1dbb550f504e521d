"""Reading the Free On-line Dictionary of Computing as Debian's ``dict-foldoc`` installs it.

The dictionary is a dictd database: ``foldoc.index`` maps each headword to the byte offset and
length (base64 digits) of its entry in the gzip-compressed ``foldoc.dict.dz``. An entry is its
headwords, then ``<category>`` and the text, with cross-references in braces and URLs in
parentheses; ``first_paragraph`` returns the opening paragraph as plain prose.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

DICT_DIR = Path("/usr/share/dictd")
_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_LINK_WITH_URL = re.compile(r"\{([^{}]*?)\s*\(?(?:https?|ftp|news|mailto):[^{}]*\}")
_URL = re.compile(r"\(?(?:https?|ftp|news):\S+")
_PRONUNCIATION = re.compile(r"^/[^/]{1,40}/\s*")


@dataclass(frozen=True)
class Entry:
    term: str
    categories: tuple[str, ...]
    text: str  # the first paragraph, plain
    heads: tuple[str, ...] = ()  # every headword of the entry ("Alan Turing", "Alan M. Turing")


def _number(digits: str) -> int:
    value = 0
    for ch in digits:
        value = value * 64 + _DIGITS.index(ch)
    return value


def _plain(paragraph: str) -> str:
    text = re.sub(r"\s+", " ", paragraph).strip()
    text = _LINK_WITH_URL.sub(r"\1", text)
    text = text.replace("{", "").replace("}", "")
    text = _URL.sub("", text)
    return _PRONUNCIATION.sub("", text).strip()


def read(directory: Path = DICT_DIR) -> list[Entry]:
    """Every entry with a categorised first paragraph, in the dictionary's order."""
    data = gzip.open(directory / "foldoc.dict.dz", "rb").read()
    seen: set[int] = set()
    entries: list[Entry] = []
    for line in (directory / "foldoc.index").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or parts[0].startswith("00-database"):
            continue
        offset, length = _number(parts[1]), _number(parts[2])
        if offset in seen:
            continue
        seen.add(offset)
        raw = data[offset : offset + length].decode("utf-8", "replace")
        head, _, body = raw.partition("\n\n")
        heads = tuple(h.strip() for h in head.strip().splitlines() if h.strip())
        term = heads[-1]
        for paragraph in body.split("\n\n"):
            stripped = paragraph.strip()
            match = re.match(r"<([^>]*)>\s*", stripped)
            if match:
                categories = tuple(c.strip() for c in match.group(1).split(","))
                text = _plain(stripped[match.end() :])
                if text:
                    entries.append(Entry(term, categories, text, heads))
                break
    return entries
