"""Hostile documents are refused by the limit they cross, before they are parsed, with memory
that stays flat: a DOCX decompression bomb, a package of too many parts, content beyond
max_unpacked_mb, a PDF of too many pages; through ``docs ingest`` the file is listed as failed
with that reason and the command exits 2."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import pytest

from engine.documents.loaders import BadFile, Limits, open_document
from engine.documents.settings import CollectionSettings

PARAGRAPH = b"<w:p><w:r><w:t>bomb bomb bomb bomb</w:t></w:r></w:p>"
DOCX_TYPES = (b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
              b'<Default Extension="xml" ContentType="application/xml"/></Types>')  # fmt: skip


def bomb_docx(path, body_mb: int) -> int:
    """A .docx whose word/document.xml repeats one paragraph to ``body_mb`` MB; streamed into
    the zip, so the test never holds it. Returns the size on disk."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as package:
        package.writestr("[Content_Types].xml", DOCX_TYPES)
        with package.open("word/document.xml", "w") as part:
            part.write(b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>')  # fmt: skip
            block = PARAGRAPH * (1024 * 1024 // len(PARAGRAPH))
            for _ in range(body_mb):
                part.write(block)
            part.write(b"</w:body></w:document>")
    return path.stat().st_size


def test_a_decompression_bomb_is_refused_by_its_ratio_with_flat_memory(tmp_path):
    path = tmp_path / "bomb.docx"
    packed = bomb_docx(path, 64)
    assert packed < 1024 * 1024  # 64 MB of XML in well under 1 MB
    tracemalloc.start()
    try:
        with pytest.raises(BadFile, match="max_ratio") as info:
            open_document(path)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "word/document.xml" in info.value.reason and "raise that limit" in info.value.reason
    assert peak < 16 * 1024 * 1024  # read 1 MB at a time, never the whole part


def test_total_content_parts_and_pages_limits(tmp_path):
    path = tmp_path / "big.docx"
    bomb_docx(path, 3)
    generous = Limits(ratio=1e6)
    with pytest.raises(BadFile, match="max_unpacked_mb"):
        open_document(path, Limits(unpacked_bytes=2 * 1024 * 1024, ratio=1e6))
    with pytest.raises(
        BadFile, match=r"not a Word|corrupt"
    ):  # within the limits: parsed, and refused
        open_document(path, generous)  # for what it is (no relationships part), not for its size

    many = tmp_path / "many.pptx"
    with zipfile.ZipFile(many, "w") as package:
        for i in range(12):
            package.writestr(f"ppt/slides/slide{i}.xml", b"<x/>")
    with pytest.raises(BadFile, match=r"12 parts.*max_parts limit of 10"):
        open_document(many, Limits(parts=10))

    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(width=200, height=200)
    buf = io.BytesIO()
    writer.write(buf)
    pdf = tmp_path / "pages.pdf"
    pdf.write_bytes(buf.getvalue())
    with pytest.raises(BadFile, match=r"3 pages, more than the collection's max_pages limit of 2"):
        open_document(pdf, Limits(pages=2))


def test_limits_are_collection_settings_and_ingest_lists_the_bomb_as_failed(hearth_home, tmp_path, capsys):  # fmt: skip
    from engine.cli import main

    described = {d["name"]: d for d in CollectionSettings.describe() if d["group"] == "limits"}
    assert set(described) == {"max_unpacked_mb", "max_ratio", "max_parts", "max_pages", "ocr"}
    assert CollectionSettings.from_dict({"max_unpacked_mb": 5}).limits().unpacked_bytes == 5 * 1024 * 1024  # fmt: skip
    with pytest.raises(Exception, match="max_ratio"):
        CollectionSettings.from_dict({"max_ratio": 1})

    folder = tmp_path / "in"
    folder.mkdir()
    bomb_docx(folder / "bomb.docx", 32)
    (folder / "notes.txt").write_text("A real note about lanterns.\n", encoding="utf-8")
    assert main(["docs", "create", "C", "--max-ratio", "50", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["settings"]["max_ratio"] == 50
    assert main(["docs", "ingest", "C", str(folder), "--json"]) == 0  # one file made it
    out = json.loads(capsys.readouterr().out)
    failed = {item["file"].rsplit("/", 1)[-1]: item["reason"] for item in out["failed"]}
    assert list(failed) == ["bomb.docx"] and "max_ratio" in failed["bomb.docx"]
    assert len(out["indexed"]) == 1


def test_html_nested_beyond_any_real_page_is_read_flat(tmp_path):
    """200,000 nested <div>s once ended the ingest with a RecursionError (an internal error)."""
    path = tmp_path / "deep.html"
    path.write_text("<div>" * 200_000 + "the words" + "</div>" * 200_000 + "<p>after</p>", encoding="utf-8")  # fmt: skip
    text = " ".join(b.text for b in open_document(path).blocks())
    assert "the words" in text and "after" in text
