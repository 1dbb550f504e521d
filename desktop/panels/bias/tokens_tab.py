"""``TokensTab``: how the chosen model's tokenizer cuts every pair, before anything is captured.

Each pair shows both prompts as tokens with the differing ones in red. A pair whose differing
words have different token counts ("autistic" one token, "neurotypical" two) is marked *joined*:
a capture averages each side's span into one row, so such pairs are compared, never dropped.
The numbers come from ``bias.align`` (the tokenizer alone; a GGUF not yet converted is read
through its own vocabulary).
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTextBrowser, QVBoxLayout, QWidget

DIFFER = "#c62828"
JOINED = "#a15c00"


def _tokens(tokens: list[str], differ: list[int]) -> str:
    marked = set(differ)
    out = []
    for i, token in enumerate(tokens):
        text = html.escape(token.replace("▁", "·").replace("Ġ", "·"))
        if i in marked:
            out.append(f'<b style="color:{DIFFER}">{text}</b>')
        else:
            out.append(text)
    return '<span style="color:#9e9e9e"> | </span>'.join(out)


def render(result: dict[str, Any]) -> str:
    """The HTML of one ``bias.align`` answer."""
    rows = []
    for p in result["pairs"]:
        mark = (f'<b style="color:{JOINED}">joined</b>' if p["joined"]
                else "1 : 1")  # fmt: skip
        part = "held out" if p["heldout"] else "selection"
        rows.append(
            f"<tr><td>{p['index'] + 1}</td><td>{html.escape(p['category'])}<br>"
            f'<span style="color:#757575">{part}</span></td>'
            f"<td>{_tokens(p['tokens_a'], p['differ_a'])}<br>{_tokens(p['tokens_b'], p['differ_b'])}</td>"
            f"<td>{mark}</td></tr>"
        )  # fmt: skip
    head = "<tr><th>#</th><th>Category</th><th>Tokens of A, then B</th><th>Alignment</th></tr>"
    return (
        '<table cellspacing="0" cellpadding="4" width="100%" style="border-collapse:collapse">'
        + head + "".join(rows) + "</table>"
    )  # fmt: skip


class TokensTab(QWidget):
    sig_check = Signal()
    """The user asked for the alignment of the selected model and set."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.button = QPushButton("Check tokens")
        self.button.setToolTip(
            "Tokenize every pair with the selected model's tokenizer (no model is loaded)"
        )
        self.summary = QLabel("Which tokens differ in each pair, for the selected model and set.")
        self.summary.setWordWrap(True)
        self.view = QTextBrowser()
        self.view.setOpenLinks(False)
        self.result: dict[str, Any] | None = None
        top = QHBoxLayout()
        top.addWidget(self.button)
        top.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        self.button.clicked.connect(self.sig_check.emit)

    def show_alignment(self, result: dict[str, Any]) -> None:
        self.result = result
        n, joined = len(result["pairs"]), result["joined"]
        self.summary.setText(
            f"{n} pairs, tokenized by {result['tokenizer']}: differing tokens in "
            f'<b style="color:{DIFFER}">red</b>. '
            + (f'<b style="color:{JOINED}">{joined} joined</b>: their differing words have '
               "different token counts, so a capture averages each side's span into one row "
               "(compared, not dropped)." if joined else "Every pair aligns token for token.")
        )  # fmt: skip
        self.view.setHtml(render(result))

    def clear(self, note: str) -> None:
        self.result = None
        self.summary.setText(note)
        self.view.clear()
