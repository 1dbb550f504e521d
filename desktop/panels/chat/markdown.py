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
    """Cut ``text`` into prose and fenced code blocks, in order."""
    out: list[Segment] = []
    buf: list[str] = []
    fence = ""
    lang = ""
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if not fence:
            if match:
                if buf:
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
    elif buf:
        out.append(Segment("text", "\n".join(buf)))
    return out


def render_markdown(document: QTextDocument, text: str, colors: CodeColors) -> list[str]:
    """Replace ``document``'s content with ``text`` rendered; returns the code blocks' text."""
    document.clear()
    cursor = QTextCursor(document)
    codes: list[str] = []
    mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    started = False
    for segment in split_fences(text):
        if segment.kind == "text":
            if not segment.text.strip():
                continue
            if started and cursor.block().length() > 1:
                cursor.insertBlock()
            cursor.insertMarkdown(segment.text.strip("\n"))
            started = True
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
        started = True
    return codes
