"""Decoding a dataset file's text: the encoding sniffed (by the rules of ``engine.core.encoding``)
and a decoding error handler that replaces what a chosen encoding cannot read and counts it, so
an import with the wrong encoding says how many bytes it changed."""

from __future__ import annotations

import codecs
import threading
from pathlib import Path

from engine.core.encoding import NotText, sniff_file
from engine.core.errors import UserError

_REPLACED = threading.local()  # bytes the current thread's reading could not decode


def _count_and_replace(exc: UnicodeError) -> tuple[str, int]:
    """A decoding error handler: U+FFFD in place of the bad bytes, and count them, so an
    import with the wrong encoding says so instead of silently changing characters."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _REPLACED.count = getattr(_REPLACED, "count", 0) + (exc.end - exc.start)
    return "\ufffd", exc.end


codecs.register_error("hearth-count-replace", _count_and_replace)


def replaced_bytes(reset: bool = False) -> int:
    """How many undecodable bytes this thread's readers replaced since the last reset."""
    count = getattr(_REPLACED, "count", 0)
    if reset:
        _REPLACED.count = 0
    return count


def set_replaced_bytes(count: int) -> None:
    _REPLACED.count = count


def sniff_encoding(path: Path) -> tuple[str, str]:
    """``(encoding, note)`` for a text file, by the rules of ``engine.core.encoding``."""
    try:
        sniffed = sniff_file(path)
    except NotText:
        raise UserError(
            f"{path.name} looks binary (it has zero bytes or control characters), not text; "
            "export it as JSONL, CSV or Parquet first."
        ) from None
    return sniffed.encoding, sniffed.note


def _ascii_compatible(encoding: str) -> bool:
    name = codecs.lookup(encoding).name
    return not name.startswith(("utf-16", "utf-32"))
