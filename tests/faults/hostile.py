"""A corpus of hostile files, made by the tests (nothing downloaded): decompression bombs,
truncations, wrong magic, deep nesting, huge lines, bad encodings, symlink loops."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

from tests.engine.documents.test_limits import bomb_docx


def _pdf(pages: int) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def documents(folder: Path) -> list[str]:
    """Files for ``docs ingest``; returns their names (each must be failed or skipped)."""
    folder.mkdir(parents=True, exist_ok=True)
    bomb_docx(folder / "bomb.docx", 300)  # declares 300 MB: refused before it is read
    ratio = folder / "ratio-bomb.pptx"
    with zipfile.ZipFile(ratio, "w", zipfile.ZIP_DEFLATED) as package, package.open("ppt/slides/slide1.xml", "w") as part:  # fmt: skip
        for _ in range(40):
            part.write(b"<a:t>x</a:t>" * (2**20 // 10))
    whole = bytes(_pdf(2))
    (folder / "truncated.pdf").write_bytes(whole[: len(whole) // 2])
    (folder / "png-named.pdf").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4000))
    (folder / "text-named.docx").write_bytes(b"just some words, not a package\n" * 10)
    (folder / "truncated.docx").write_bytes((folder / "bomb.docx").read_bytes()[:3000])
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 400)
    (folder / "deep.html").write_text("<div>" * 200_000 + "deep" + "</div>" * 200_000, encoding="utf-8")  # fmt: skip
    (folder / "utf16-no-bom.txt").write_bytes("Lanterns in the harbor. ".encode("utf-16-le") * 200)
    (folder / "blank-pages.pdf").write_bytes(_pdf(3))  # a scan: no text layer
    loop = folder / "loop"
    loop.mkdir()
    os.symlink(loop, loop / "again")  # a folder that contains itself
    os.symlink(folder / "self-link.txt", folder / "self-link.txt")  # a link to itself
    with open(folder / "one-huge-line.txt", "w", encoding="utf-8") as fh:  # 2 MB, no newline
        for _ in range(2):
            fh.write("lantern " * (2**20 // 8))
    return ["bomb.docx", "ratio-bomb.pptx", "truncated.pdf", "png-named.pdf", "text-named.docx",
            "truncated.docx", "empty.pdf", "binary.txt", "blank-pages.pdf", "self-link.txt"]  # fmt: skip


def one_value_many_times(size: int, rows: int) -> Any:
    """A table whose ``text`` column is one ``size``-byte string ``rows`` times, built as a
    dictionary column so the test itself never holds the expanded rows."""
    import numpy as np
    import pyarrow as pa

    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["a" * size]))  # fmt: skip
    return pa.table({"text": column})


def datasets(folder: Path) -> dict[str, str]:
    """Files for ``data import``: name -> a word its refusal must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    import pyarrow.parquet as pq

    pq.write_table(one_value_many_times(2**20, 1200), folder / "bomb.parquet", compression="zstd")
    whole = (folder / "bomb.parquet").read_bytes()
    (folder / "truncated.parquet").write_bytes(whole[: len(whole) // 2])
    (folder / "json-named.parquet").write_text('{"text": "hello"}\n', encoding="utf-8")
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (folder / "deep-line.jsonl").write_text('{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")  # fmt: skip
    (folder / "binary.jsonl").write_bytes(os.urandom(20000))
    with open(folder / "huge-line.jsonl", "w", encoding="utf-8") as fh:  # one 40 MB line, no end
        fh.write('{"text": "')
        for _ in range(40):
            fh.write("x" * 2**20)
    (folder / "empty.csv").write_bytes(b"")
    (folder / "not-json.json").write_text('{"rows": [1, 2,', encoding="utf-8")
    (folder / "nul.csv").write_bytes(b"a,b\n1,\x00\x00\n" * 100)
    return {"bomb.parquet": "bomb", "truncated.parquet": "Parquet", "json-named.parquet": "Parquet",
            "deep.json": "nest", "deep-line.jsonl": "", "binary.jsonl": "", "huge-line.jsonl": "",
            "empty.csv": "empty", "not-json.json": "", "nul.csv": ""}  # fmt: skip
