"""Which text encoding a file is in, decided once for every reader (dataset import, documents).

Rules, in order, on the first 64 KB: a byte-order mark wins (UTF-8/16/32); zero bytes mean UTF-16
without a mark when they sit on every other byte, and binary data otherwise; more than 5% control
characters is binary; text that decodes as UTF-8 (the sample may end inside a character) is
UTF-8, and so is mostly multi-byte UTF-8 with a few broken bytes (those lines are reported); else
``charset-normalizer``'s candidates, preferring the common Windows code pages among the equally
likely ones (short Western texts decode as cleanly in cp1250 as in cp1252); with no candidate,
cp1252 if it decodes, else Latin-1. ``Sniffed.note`` says what was chosen and why.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

SAMPLE_BYTES = 64 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL = frozenset(range(0, 32)) - {9, 10, 12, 13, 27}
_PREFERRED = ("cp1252", "cp1251", "cp1250", "latin_1", "iso8859_15", "cp1253", "cp1254", "cp1257")


class NotText(Exception):
    """The bytes are binary data, not text; ``reason`` says how that was seen."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Sniffed:
    encoding: str
    note: str


def sniff_file(path: Path) -> Sniffed:
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
        at_end = not fh.read(1)
    return sniff(sample, at_end=at_end)


def sniff(sample: bytes, *, at_end: bool = True) -> Sniffed:
    """The encoding of text that starts with ``sample``; raises ``NotText`` for binary data."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return Sniffed(name, f"{name} (byte-order mark)")
    if b"\x00" in sample:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > len(sample) // 4 and even < odd // 4:
            return Sniffed(
                "utf-16-le", "utf-16-le (no byte-order mark; guessed from its zero bytes)"
            )
        if even > len(sample) // 4 and odd < even // 4:
            return Sniffed(
                "utf-16-be", "utf-16-be (no byte-order mark; guessed from its zero bytes)"
            )
        raise NotText("binary data, not text (the file holds zero bytes)")
    if sample and sum(1 for b in sample if b in _CONTROL) / len(sample) > 0.05:
        raise NotText("binary data, not text (mostly control characters)")
    for cut in range(4):  # the sample may end inside a multi-byte character
        if cut and at_end:
            break
        try:
            sample[: len(sample) - cut].decode("utf-8")
            return Sniffed("utf-8", "utf-8")
        except UnicodeDecodeError as exc:
            first_bad = exc.start
    reason = f"not valid UTF-8 (byte 0x{sample[first_bad]:02x} at offset {first_bad})"
    text = sample.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    if sum(1 for c in text if ord(c) > 127) - bad > bad:
        return Sniffed("utf-8", "utf-8 (some lines have bytes that are not valid UTF-8)")
    guess = _guess(sample)
    if guess:
        return Sniffed(guess, f"{guess} ({reason}; guessed from its bytes)")
    try:
        sample.decode("cp1252")
        return Sniffed("cp1252", f"cp1252 ({reason}; read as Windows Western)")
    except UnicodeDecodeError:
        return Sniffed("latin-1", f"latin-1 ({reason}; read as Latin-1)")


def _guess(sample: bytes) -> str | None:
    from charset_normalizer import from_bytes

    matches = list(from_bytes(sample))
    if not matches:
        return None
    best = matches[0]
    if best.encoding in ("utf_8", "ascii"):
        return None
    close = [
        m.encoding
        for m in matches
        if m.chaos <= best.chaos + 0.01 and m.coherence >= best.coherence - 0.1
    ]
    chosen = next((p for p in _PREFERRED if p in close), best.encoding)
    return codecs.lookup(chosen).name
