"""Loaders on files of every type written in the test, and the bad-input list."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from engine.documents.loaders import BadFile, open_document
from engine.documents.loaders.base import Limits
from tests.engine.documents.files import (
    CSV,
    HTML,
    MARKDOWN,
    write_docx,
    write_pdf,
    write_pptx,
)


def blocks(path: Path):
    return list(open_document(path).blocks())


def texts(path: Path) -> str:
    return "\n".join(b.text for b in blocks(path))


def test_pdf_text_with_page_numbers_and_outline_headings(tmp_path):
    pdf = write_pdf(
        tmp_path / "manual.pdf",
        ["Welcome to the manual.", "Setup: plug it in.", "The warranty lasts 3 years."],
        outline=[("Intro", 0), ("Warranty", 2)],
    )
    found = blocks(pdf)
    assert [(b.page, b.text) for b in found] == [
        (1, "Welcome to the manual."),
        (2, "Setup: plug it in."),
        (3, "The warranty lasts 3 years."),
    ]
    assert found[0].headings == ("Intro",) and found[2].headings == ("Warranty",)
    assert open_document(pdf).pages == 3


def test_docx_paragraphs_headings_and_tables(tmp_path):
    found = blocks(write_docx(tmp_path / "handbook.docx"))
    by_text = {b.text: b for b in found}
    assert by_text["Up to five unused days carry over to the next year."].headings == (
        "Employee Handbook",
        "Vacation",
        "Carry-over",
    )
    assert by_text["Carry-over"].heading
    assert "Laptop | 1500 EUR" in by_text["Item | Budget\nLaptop | 1500 EUR"].text
    assert by_text["Item | Budget\nLaptop | 1500 EUR"].headings == (
        "Employee Handbook",
        "Equipment",
    )


def test_pptx_slides_are_pages_with_titles_and_notes(tmp_path):
    found = blocks(write_pptx(tmp_path / "deck.pptx"))
    falcon = next(b for b in found if "Falcon" in b.text)
    assert falcon.page == 2 and falcon.headings == ("Roadmap",)
    assert any(b.text == "Ada leads the platform group." and b.page == 3 for b in found)
    assert any(b.text == "Mention the hiring plan." for b in found)


def test_markdown_headings_paragraphs_and_code(tmp_path):
    md = tmp_path / "guide.md"
    md.write_text(MARKDOWN, encoding="utf-8")
    found = blocks(md)
    green = next(b for b in found if b.text.startswith("Steep green"))
    assert green.headings == ("Brewing guide", "Green tea")
    assert any(b.text.startswith("```") and "stays together" in b.text for b in found)


def test_html_boilerplate_is_stripped(tmp_path):
    page = tmp_path / "whales.html"
    page.write_text(HTML, encoding="utf-8")
    text = texts(page)
    assert "largest animal" in text and "krill" in text and "Copepods" in text
    for junk in (
        "tracking",
        "Home",
        "Shop",
        "Ocean Facts Inc.",
        "Popular posts",
        "Copyright",
        "cookies",
        "color:red",
    ):
        assert junk not in text, junk
    diet = next(b for b in blocks(page) if b.text.startswith("Blue whales eat"))
    assert diet.headings == ("Blue whales", "Diet")


def test_csv_rows_carry_their_header(tmp_path):
    sheet = tmp_path / "people.csv"
    sheet.write_text(CSV, encoding="utf-8")
    assert "name: Grace | role: admiral | city: Arlington" in texts(sheet)


def test_txt_encoding_is_detected(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Café crème brûlée, naïve façade — très bien.\n".encode("cp1252") * 20)
    cyrillic = tmp_path / "cyrillic.txt"
    cyrillic.write_bytes("Привет, как дела? Это проверка кодировки текста.\n".encode("cp1251") * 20)
    utf16 = tmp_path / "utf16.txt"
    utf16.write_text("Grüße aus Köln", encoding="utf-16")
    assert "Café crème brûlée" in texts(latin)
    assert "Привет, как дела?" in texts(cyrillic)
    assert texts(utf16) == "Grüße aus Köln"


# ---- bad input --------------------------------------------------------------------------------
def reason(path: Path) -> str:
    with pytest.raises(BadFile) as info:
        list(open_document(path).blocks())
    return info.value.reason


def test_encrypted_pdf_is_reported(tmp_path):
    pdf = write_pdf(tmp_path / "secret.pdf", ["Top secret."], password="hunter2")
    assert "encrypted PDF" in reason(pdf) and "password" in reason(pdf)


def test_scanned_pdf_without_text_layer_is_reported(tmp_path):
    pdf = write_pdf(tmp_path / "scan.pdf", [None, None])
    assert "no text layer" in reason(pdf) and "OCR" in reason(pdf)


def test_pdf_with_some_image_pages_keeps_the_text_pages(tmp_path):
    pdf = write_pdf(tmp_path / "mixed.pdf", ["Typed page.", None])
    doc = open_document(pdf)
    assert [b.page for b in doc.blocks()] == [1]
    assert doc.notes == ["1 of 2 pages have no text layer, and OCR found none"]
    without = open_document(pdf, Limits(ocr=False))
    assert [b.page for b in without.blocks()] == [1]
    assert without.notes == ["1 of 2 pages have no text layer"]


def test_corrupt_docx_and_damaged_pdf(tmp_path):
    bad_docx = tmp_path / "broken.docx"
    bad_docx.write_bytes(b"PK\x03\x04 this is not really a zip archive" * 10)
    assert "corrupt" in reason(bad_docx)
    renamed = tmp_path / "old.docx"
    renamed.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500)  # a .doc (OLE2)
    assert "corrupt or not a Word" in reason(renamed)
    bad_pdf = tmp_path / "broken.pdf"
    bad_pdf.write_bytes(b"%PDF-1.4\ngarbage garbage\n")
    assert "PDF" in reason(bad_pdf)


def test_binary_file_named_txt_is_refused(tmp_path):
    fake = tmp_path / "photo.txt"
    fake.write_bytes(bytes(range(256)) * 40)
    assert "binary" in reason(fake)


def test_empty_and_whitespace_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert "empty" in reason(empty)
    blank = tmp_path / "blank.md"
    blank.write_text("\n\n   \n", encoding="utf-8")
    assert "no text" in reason(blank)


def test_unicode_paths(tmp_path):
    folder = tmp_path / "Документы 文件"
    folder.mkdir()
    note = folder / "naïve résumé ✓.txt"
    note.write_text("Unicode paths are fine.", encoding="utf-8")
    assert texts(note) == "Unicode paths are fine."


def test_200_mb_text_file_streams_in_bounded_memory(tmp_path):
    big = tmp_path / "big.txt"
    paragraph = ("All work and no play makes Jack a dull boy. " * 20).strip() + "\n\n"
    block = (paragraph * (1024 * 1024 // len(paragraph) + 1)).encode()[: 1024 * 1024]
    with open(big, "wb") as fh:
        for _ in range(200):
            fh.write(block)
    assert big.stat().st_size == 200 * 1024 * 1024
    tracemalloc.start()
    try:
        seen = 0
        for i, b in enumerate(open_document(big).blocks()):
            seen += len(b.text)
            if i == 20_000:  # far past the first read; the whole file would be 200 MB
                break
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen > 15_000_000
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
