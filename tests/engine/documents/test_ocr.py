"""Scanned PDFs: pages without a text layer read with the bundled OCR models (offline), page
numbers kept for citations; with OCR off, a scan is refused saying how to turn it on."""

from __future__ import annotations

import os

import pytest
from PIL import Image, ImageDraw, ImageFont

from engine.documents import methods
from engine.documents.loaders import ocr
from tests.engine.documents.conftest import ingest, small_settings

PAGES = (
    ("Warranty", "The Aurora kettle is covered for three years."),
    ("Cleaning", "Never put the kettle in a dishwasher."),
)


def render(lines: tuple[str, ...]) -> Image.Image:
    """A page as a scanner makes it: text drawn on a white image, no text layer."""
    page = Image.new("RGB", (1240, 600), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=36)
    for i, line in enumerate(lines):
        draw.text((60, 60 + i * 140), line, fill="black", font=font)
    return page


@pytest.fixture
def scan(tmp_path):
    path = tmp_path / "scan.pdf"
    first, *rest = [render(p) for p in PAGES]
    first.save(path, "PDF", resolution=150, save_all=True, append_images=rest)
    return path


def test_a_scanned_pdf_is_read_with_ocr_and_keeps_its_pages(ctx, scan):
    methods.docs_create(ctx, name="Scans", settings=small_settings())
    result = ingest(ctx, "Scans", [scan])
    assert [os.path.basename(p) for p in result["indexed"]] == ["scan.pdf"]
    hits = methods.docs_search(ctx, id="Scans", query="dishwasher", k=1)["results"]
    assert hits[0]["page"] == 2 and "dishwasher" in hits[0]["text"]
    chunks = methods.docs_chunks(ctx, id="Scans", file=str(scan))["chunks"]
    text = " ".join(c["text"] for c in chunks)
    assert "covered for three years" in text and {c["page"] for c in chunks} == {1, 2}
    files = methods.docs_files(ctx, id="Scans")["files"]
    assert any("2 of 2 pages read with OCR" in n for n in files[0].get("notes") or []), files[0]


def test_with_ocr_off_a_scan_fails_saying_how_to_turn_it_on(ctx, scan):
    methods.docs_create(ctx, name="No OCR", settings=small_settings(ocr=False))
    result = ingest(ctx, "No OCR", [scan])
    assert result["indexed"] == [] and "turn on OCR" in result["failed"][0]["reason"]


def test_reading_order_and_paragraphs():
    lines = [(100.0, 400.0, 20.0, "right"), (100.0, 50.0, 20.0, "left"), (130.0, 50.0, 20.0, "next"),
             (300.0, 50.0, 20.0, "new paragraph")]  # fmt: skip
    assert ocr.paragraphs(lines) == ["left right next", "new paragraph"]
    assert ocr.paragraphs([]) == []
