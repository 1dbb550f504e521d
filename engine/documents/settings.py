"""A collection's settings and a search's options, as dataclasses whose fields carry help text.

``CollectionSettings`` is stored as JSON with the collection; ``SearchOptions`` is what one search
asks for, with defaults taken from the collection (``from_dict(values, base=settings)``). Both are
``engine.core.options`` classes: checks, messages and ``describe()`` come from their fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.core.errors import UserError
from engine.core.options import Options, option
from engine.documents.loaders.base import MB, Limits

MODES = ("hybrid", "dense", "bm25")


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UserError("files must be a list of file names or paths.")
    return value


def _types(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UserError("types must be a list of file types (pdf, docx, pptx, md, html, txt, csv).")
    return [v.lower().lstrip(".") for v in value]


@dataclass
class CollectionSettings(Options):
    chunk_tokens: int = option(200, "most embedder tokens in one chunk", range=(32, 2048))
    overlap_tokens: int = option(
        32, "tokens of the previous chunk repeated at the start of the next", range=(0, 512)
    )
    batch_size: int = option(32, "chunks embedded per batch", range=(1, 1024))
    k: int = option(5, "chunks returned by a search", range=(1, 100))
    mode: str = option("hybrid", "retrieval: hybrid (dense + BM25), dense or bm25", choices=MODES)
    min_score: float = option(
        0.2,
        "dense similarity below which a chunk counts as unrelated (unless it matches a rare "
        "keyword); 0 turns the threshold off",
        range=(0.0, 1.0),
    )
    mmr: bool = option(False, "diversify results (maximal marginal relevance)")
    mmr_lambda: float = option(
        0.6, "MMR balance: 1 = relevance only, 0 = diversity only", range=(0.0, 1.0)
    )
    cache_similarity: float = option(
        0.95,
        "a question at least this similar to an earlier one reuses its retrieval (1 turns the "
        "semantic cache off)",
        range=(0.5, 1.0),
    )

    max_unpacked_mb: int = option(256, "most content one file may unpack to (DOCX/PPTX parts, a "
                                  "PDF's text); a larger file is listed as failed", range=(1, 65536),
                                  group="limits")  # fmt: skip
    max_ratio: float = option(100.0, "most a part of a DOCX/PPTX may unpack to, as a multiple of "
                              "its packed size (a decompression bomb's is in the hundreds)",
                              range=(10.0, 1_000_000.0), group="limits")  # fmt: skip
    max_parts: int = option(10_000, "most parts in one DOCX/PPTX package", range=(10, 1_000_000),
                            group="limits")  # fmt: skip
    max_pages: int = option(10_000, "most pages in one PDF, slides in one presentation",
                            range=(1, 1_000_000), group="limits")  # fmt: skip
    ocr: bool = option(True, "read PDF pages without a text layer (scans) with OCR, offline "
                       "(slow: a few seconds a page); off, a scan is listed as failed",
                       group="limits")  # fmt: skip

    def validate(self) -> None:
        if self.overlap_tokens * 2 > self.chunk_tokens:
            raise UserError(
                f"overlap_tokens ({self.overlap_tokens}) must be at most half of chunk_tokens "
                f"({self.chunk_tokens})."
            )

    def limits(self) -> Limits:
        return Limits(unpacked_bytes=self.max_unpacked_mb * MB, ratio=self.max_ratio,
                      parts=self.max_parts, pages=self.max_pages, ocr=self.ocr)  # fmt: skip

    def chunking_key(self) -> str:
        """What must match for an indexed file to count as up to date."""
        return f"t{self.chunk_tokens}-o{self.overlap_tokens}"


@dataclass
class SearchOptions(Options):
    WHAT = "search option"

    k: int = option(5, "chunks to return", range=(1, 100))
    mode: str = option("hybrid", "hybrid, dense or bm25", choices=MODES)
    min_score: float = option(0.2, "relevance threshold (0 = off)", range=(0.0, 1.0))
    mmr: bool = option(False, "diversify results")
    mmr_lambda: float = option(0.6, "MMR balance", range=(0.0, 1.0))
    files: list[str] | None = option(
        None, "only these files (absolute paths or file names)", check=_names
    )
    types: list[str] | None = option(
        None, "only these types (pdf, docx, pptx, md, html, txt, csv)", check=_types
    )
    cache: bool = option(True, "allow the semantic cache")

    def cache_key(self) -> str:
        """The options that change a result (everything but ``cache``), as a stable string."""
        import json

        d = self.to_dict()
        d.pop("cache")
        for name in ("files", "types"):
            if d[name] is not None:
                d[name] = sorted(d[name])
        return json.dumps(d, sort_keys=True)
