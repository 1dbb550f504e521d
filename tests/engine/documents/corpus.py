"""A small folder of documents of every supported type, plus the bad files of the issue's list."""

from __future__ import annotations

from pathlib import Path

from tests.engine.documents.files import CSV, HTML, MARKDOWN, write_docx, write_pdf, write_pptx

GOOD = (
    "manual.pdf",
    "handbook.docx",
    "deck.pptx",
    "guide.md",
    "whales.html",
    "people.csv",
    "notes.txt",
    "Zürich 報告.txt",
)
BAD = {
    "secret.pdf": "encrypted PDF",
    "scan.pdf": "no text layer",
    "broken.docx": "corrupt",
    "photo.txt": "binary",
    "empty.txt": "empty file",
}


def make_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_pdf(
        folder / "manual.pdf",
        [
            "Thank you for buying the Aurora kettle.\nRead this manual before first use.",
            "Fill the kettle with water up to the MAX line.\nPress the switch to boil.",
            "Warranty: the Aurora kettle is covered for three years from purchase.\n"
            "Keep your receipt; the serial number starts with AK-7731.",
        ],
        outline=[("Welcome", 0), ("Use", 1), ("Warranty", 2)],
    )
    write_docx(folder / "handbook.docx")
    write_pptx(folder / "deck.pptx")
    (folder / "guide.md").write_text(MARKDOWN, encoding="utf-8")
    (folder / "whales.html").write_text(HTML, encoding="utf-8")
    (folder / "people.csv").write_text(CSV, encoding="utf-8")
    (folder / "notes.txt").write_bytes(
        "Meeting notes: the café on the corner serves crème brûlée on Fridays.\n".encode("cp1252")
    )
    (folder / "Zürich 報告.txt").write_text(
        "The Zürich office opens at eight o'clock.", encoding="utf-8"
    )
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    write_pdf(folder / "secret.pdf", ["Confidential figures."], password="pw")
    write_pdf(folder / "scan.pdf", [None])
    (folder / "broken.docx").write_bytes(b"this is not a word document")
    (folder / "photo.txt").write_bytes(bytes(range(256)) * 8)
    (folder / "empty.txt").write_bytes(b"")
    hidden = folder / ".cache"
    hidden.mkdir(exist_ok=True)
    (hidden / "ignored.txt").write_text("hidden folders are not indexed", encoding="utf-8")
    return folder
