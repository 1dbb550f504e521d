"""Where evaluation text and rows come from.

A perplexity text is a file (plain text or Markdown; a JSONL file's rows as text), a dataset
split (each row as text, conversations as a transcript), a collection's extracted documents, or,
when none is named, Python's own reference documentation (``pydoc_data.topics``: real English
prose that ships with every Python, so measuring works offline with nothing downloaded).
``split_rows`` gives the canonical rows of a dataset split for task evaluations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services


def default_text() -> str:
    """Python's reference documentation topics (shipped with the interpreter)."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


def read_file(path: str | Path) -> str:
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise UserError(f"Cannot read the text file {p} ({exc.strerror or exc}).") from exc
    text = raw.decode("utf-8", errors="replace")
    if p.suffix.lower() == ".jsonl":
        parts = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise UserError(f"{p.name} line {n} is not JSON; fix it or pass a plain text file.") from None  # fmt: skip
            parts.append(_loose_row_text(row))
        text = "\n\n".join(t for t in parts if t)
    return text


def _loose_row_text(row: Any) -> str:
    """The text of a JSONL line of unknown shape."""
    if isinstance(row, str):
        return row
    if not isinstance(row, dict):
        return ""
    if isinstance(row.get("text"), str):
        return row["text"]
    msgs = row.get("messages") or row.get("conversations")
    if isinstance(msgs, list):
        return "\n".join(str(m.get("content") or m.get("value") or "") for m in msgs if isinstance(m, dict))  # fmt: skip
    return "\n".join(str(v) for v in row.values() if isinstance(v, str))


def split_rows(services: Services, dataset: str, split: str | None = None, *,
               version: int | None = None) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:  # fmt: skip
    """(dataset version, format, rows) of a dataset's split (all rows when ``split`` is None)."""
    from engine.datasets.library import DatasetLibrary
    from engine.datasets.versions import split_range

    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(dataset, version)
    start, stop = split_range(ver, split)
    with lib.reader(ds["id"], ver["version"]) as reader:
        rows = [row for _pos, row in reader.iter_rows(start, stop)]
    if not rows:
        where = f"the {split!r} split of {ds['name']}" if split else ds["name"]
        raise UserError(f"{where} has no rows; choose another split or dataset.")
    return {**ver, "dataset_id": ds["id"], "name": ds["name"]}, ver["format"], rows


def row_as_text(row: dict[str, Any], fmt: str) -> str:
    from engine.datasets import formats

    if fmt in ("text", "preference"):
        return formats.row_text(row, fmt)
    try:
        return formats.plain_transcript(formats.to_chat(row, fmt))
    except (formats.RowError, KeyError, TypeError):
        return formats.row_text(row, fmt)


def dataset_text(services: Services, dataset: str, split: str | None = None) -> str:
    _ver, fmt, rows = split_rows(services, dataset, split)
    return "\n\n".join(t for t in (row_as_text(r, fmt) for r in rows) if t.strip())


def collection_text(services: Services, collection: str) -> str:
    """The extracted text of every indexed document of a collection (what ingestion read)."""
    import gzip

    from engine.documents.catalog import Catalog

    catalog = Catalog(services)
    found = catalog.get(collection)
    texts = []
    for file in catalog.files(found["id"], status="indexed"):
        try:
            with gzip.open(services.docs.text_path(found["id"], file["hash"]), "rt", encoding="utf-8") as fh:  # fmt: skip
                texts.append(fh.read())
        except (OSError, EOFError):
            continue  # a document whose text is gone: the others still count
    if not any(t.strip() for t in texts):
        raise UserError(f"The collection {found['name']} has no document text; add files to it first.")  # fmt: skip
    return "\n\n".join(texts)


def source_text(services: Services, *, dataset: str | None = None, split: str | None = None,
                file: str | None = None, collection: str | None = None) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """The text and a description of where it came from (one source at most)."""
    given = [n for n, v in (("dataset", dataset), ("file", file), ("collection", collection)) if v]
    if len(given) > 1:
        raise UserError(f"Give one text to measure on, not {' and '.join(given)}.")
    if dataset:
        return dataset_text(services, dataset, split), {"dataset": dataset, "split": split}
    if split:
        raise UserError("A split belongs to a dataset; name the dataset too.")
    if file:
        return read_file(file), {"file": str(Path(file).expanduser().absolute())}
    if collection:
        return collection_text(services, collection), {"collection": collection}
    return default_text(), {"builtin": "python-reference"}
