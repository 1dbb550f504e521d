"""Render a chat message's Markdown into a ``QTextDocument``.

Prose goes through Qt's own Markdown reader (``QTextCursor.insertMarkdown``); fenced code blocks
are cut out first and drawn as shaded, bordered frames with a language label and a ``Copy`` link
whose href is ``copy-code:N`` (N counts the message's code blocks). An unclosed fence -- a reply
still streaming -- is drawn as code up to the end, so a block does not flicker between prose and
code while it arrives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QPalette,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFrameFormat,
)

COPY_CODE = "copy-code:"
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)")


@dataclass(frozen=True)
class Segment:
    kind: str  # "text" or "code"
    text: str
    lang: str = ""


@dataclass(frozen=True)
class CodeColors:
    background: QColor
    border: QColor
    label: QColor
    link: QColor

    @classmethod
    def from_palette(cls, palette: QPalette) -> CodeColors:
        base = palette.color(QPalette.ColorRole.Base)
        dark = base.lightness() < 128
        return cls(
            background=base.lighter(135) if dark else QColor("#f3f4f6"),
            border=base.lighter(170) if dark else QColor("#d5d8dd"),
            label=palette.color(QPalette.ColorRole.PlaceholderText),
            link=palette.color(QPalette.ColorRole.Link),
        )


def split_fences(text: str) -> list[Segment]:
    """Cut ``text`` into prose and fenced code blocks, in order (blank prose left out)."""
    out: list[Segment] = []
    buf: list[str] = []
    fence = ""
    lang = ""
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if not fence:
            if match:
                if "".join(buf).strip():
                    out.append(Segment("text", "\n".join(buf)))
                fence, lang, buf = match.group(1), match.group(2), []
            else:
                buf.append(line)
        elif match and not match.group(2) and match.group(1).startswith(fence):
            out.append(Segment("code", "\n".join(buf), lang))
            fence, lang, buf = "", "", []
        else:
            buf.append(line)
    if fence:
        out.append(Segment("code", "\n".join(buf), lang))
    elif "".join(buf).strip():
        out.append(Segment("text", "\n".join(buf)))
    return out


def stable_prefix(text: str) -> int:
    """How much of a growing reply later text cannot change: up to its last blank line or
    closing fence outside a code block (0 when there is none yet)."""
    pos = end = 0
    fence = ""
    for line in text.splitlines(keepends=True):
        pos += len(line)
        if not line.endswith("\n"):
            break  # the unfinished last line
        match = _FENCE.match(line)
        if not fence:
            if match:
                fence = match.group(1)
            elif not line.strip():
                end = pos
        elif match and not match.group(2) and match.group(1).startswith(fence):
            fence, end = "", pos
    return end


def render_into(cursor: QTextCursor, text: str, colors: CodeColors, codes: list[str]) -> None:
    """Append ``text`` rendered at ``cursor`` (the document's end); code blocks go to ``codes``."""
    mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    for segment in split_fences(text):
        if segment.kind == "text":
            if not segment.text.strip():
                continue
            if cursor.block().length() > 1:  # a fresh block, outside any list of the text before
                cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
            fresh = cursor.block()
            cursor.insertMarkdown(segment.text.strip("\n"))
            if fresh.length() == 1 and fresh.next().isValid() and _joinable(fresh):
                _drop_block(fresh)  # a list or quote opened its own block after the fresh one
            continue
        frame_format = QTextFrameFormat()
        frame_format.setBackground(colors.background)
        frame_format.setBorder(1)
        frame_format.setBorderBrush(colors.border)
        frame_format.setBorderStyle(QTextFrameFormat.BorderStyle.BorderStyle_Solid)
        frame_format.setPadding(6)
        frame_format.setTopMargin(4)
        frame_format.setBottomMargin(4)
        frame = cursor.insertFrame(frame_format)
        label = QTextCharFormat()
        label.setForeground(colors.label)
        label.setFontPointSize(max(mono.pointSizeF() - 1, 7))
        cursor.insertText(f"{segment.lang or 'code'}   ", label)
        link = QTextCharFormat(label)
        link.setForeground(colors.link)
        link.setAnchor(True)
        link.setAnchorHref(f"{COPY_CODE}{len(codes)}")
        link.setToolTip("Copy this code block")
        cursor.insertText("Copy", link)
        code = QTextCharFormat()
        code.setFont(mono)
        cursor.insertBlock(QTextBlockFormat(), code)
        body = segment.text.rstrip("\n")
        cursor.insertText(body, code)
        codes.append(body)
        cursor.setPosition(frame.lastPosition() + 1)


def _joinable(block) -> bool:
    """Whether ``block`` can be joined to the block before it (not across a code frame)."""
    before = block.previous()
    return (
        before.isValid() and QTextCursor(before).currentFrame() == QTextCursor(block).currentFrame()
    )


def _drop_block(block) -> None:
    """Remove an empty block by joining it to the end of the block before it."""
    cursor = QTextCursor(block)
    cursor.setPosition(block.position() - 1)
    cursor.setPosition(block.position(), QTextCursor.MoveMode.KeepAnchor)
    cursor.removeSelectedText()


class IncrementalRenderer:
    """Renders a reply that grows at its end: the part that can no longer change
    (``stable_prefix``) is rendered once; each update redoes only the tail after it. When the
    reply is final, one full render makes constructs that span paragraphs (loose lists) right,
    unless the reply is longer than ``full_limit`` characters: then finishing it keeps the
    streamed rendering, so the end of a long reply never stalls the GUI thread.
    """

    full_limit = 8000

    def __init__(self, document: QTextDocument) -> None:
        self.document = document
        self.codes: list[str] = []
        self.text: str | None = None
        self.streaming = False
        self._stable_len = 0  # characters of text rendered as stable
        self._stable_pos = 0  # where the stable part ends in the document
        self._stable_codes = 0

    def render(self, text: str, colors: CodeColors, *, streaming: bool) -> bool:
        """Show ``text``; returns False when nothing needed redoing."""
        if text == self.text and (streaming == self.streaming or len(text) > self.full_limit):
            self.streaming = streaming
            return False
        stable = text[: self._stable_len]
        if streaming and self.streaming and self.text is not None and self.text.startswith(stable):
            cursor = QTextCursor(self.document)
            cursor.setPosition(self._stable_pos)
            cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
            del self.codes[self._stable_codes :]
        else:
            self.document.clear()
            self.codes = []
            self._stable_len = self._stable_pos = self._stable_codes = 0
            cursor = QTextCursor(self.document)
        if streaming:
            end = stable_prefix(text)
            if end > self._stable_len:
                render_into(cursor, text[self._stable_len : end], colors, self.codes)
                self._stable_len = end
                self._stable_pos = self.document.characterCount() - 1
                self._stable_codes = len(self.codes)
            cursor.movePosition(QTextCursor.MoveOperation.End)
        render_into(cursor, text[self._stable_len :] if streaming else text, colors, self.codes)
        self.text, self.streaming = text, streaming
        return True
