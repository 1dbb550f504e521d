"""Test documents written on the spot: PDFs by hand (plus pypdf for outlines and encryption),
DOCX and PPTX with python-docx and python-pptx, and the text formats as plain bytes."""

from __future__ import annotations

import io
from pathlib import Path


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(pages: list[str | None]) -> bytes:
    """A PDF with one page per item: its lines as Helvetica text, or (None) a drawing only."""
    objects: list[bytes] = []
    n_pages = len(pages)
    font_id = 3 + 2 * n_pages
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for i, text in enumerate(pages):
        if text is None:  # a "scan": shapes, no text layer
            stream = b"0.2 0.2 0.2 rg 72 500 300 200 re f 0.8 0.1 0.1 rg 100 300 120 80 re f"
        else:
            lines = [f"({_escape(line)}) Tj T*" for line in text.split("\n")]
            stream = ("BT /F1 11 Tf 14 TL 72 760 Td " + " ".join(lines) + " ET").encode("latin-1")
        page = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> /Contents {4 + 2 * i} 0 R >>"
        ).encode()
        objects.append(page)
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def write_pdf(
    path: Path,
    pages: list[str | None],
    *,
    outline: list[tuple[str, int]] | None = None,
    password: str | None = None,
) -> Path:
    data = pdf_bytes(pages)
    if outline or password:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
        for title, page_index in outline or []:
            writer.add_outline_item(title=title, page_number=page_index)
        if password:
            writer.encrypt(
                user_password=password, owner_password=password + "-owner", algorithm="RC4-128"
            )
        buf = io.BytesIO()
        writer.write(buf)
        data = buf.getvalue()
    path.write_bytes(data)
    return path


def write_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_heading("Employee Handbook", level=0)
    d.add_heading("Vacation", level=1)
    d.add_paragraph("Every employee gets twenty-five vacation days per year.")
    d.add_heading("Carry-over", level=2)
    d.add_paragraph("Up to five unused days carry over to the next year.")
    d.add_heading("Equipment", level=1)
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Item"
    table.cell(0, 1).text = "Budget"
    table.cell(1, 0).text = "Laptop"
    table.cell(1, 1).text = "1500 EUR"
    d.save(str(path))
    return path


def write_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for title, body in (
        ("Quarterly results", "Revenue grew by twelve percent."),
        ("Roadmap", "The Falcon release ships in October."),
    ):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Team"
    box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(4), Inches(1))
    box.text_frame.text = "Ada leads the platform group."
    slide.notes_slide.notes_text_frame.text = "Mention the hiring plan."
    deck.save(str(path))
    return path


HTML = """<!doctype html><html><head><title>Whales</title><style>body{color:red}</style>
<script>var tracking = "do not index me";</script></head><body>
<nav class="site-nav"><a href="/">Home</a> <a href="/shop">Shop</a></nav>
<header><div class="logo">Ocean Facts Inc.</div></header>
<aside class="sidebar">Popular posts: sharks, squid</aside>
<main><article><h1>Blue whales</h1>
<p>The blue whale is the largest animal known to have ever lived.</p>
<h2>Diet</h2><p>Blue whales eat almost nothing but krill.</p>
<ul><li>Krill</li><li>Copepods</li></ul></article></main>
<footer>Copyright Ocean Facts. All rights reserved.</footer>
<div id="cookie-banner">We use cookies to improve your experience.</div>
</body></html>"""

MARKDOWN = """# Brewing guide

Intro paragraph about tea.

## Green tea

Steep green tea at 80 degrees for two minutes.

## Black tea

Steep black tea at 95 degrees for four minutes.

```
code block stays together
```
"""

CSV = "name,role,city\nAda,engineer,London\nGrace,admiral,Arlington\n"
