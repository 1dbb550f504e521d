"""Reading raw rows from files: JSONL, JSON, CSV/TSV, Parquet, saved Hugging Face datasets, text.

``open_source(path)`` picks a reader by extension (and content, for odd names) and returns a
``Source`` whose ``items()`` yields ``Item(line, row, error)`` one at a time -- a malformed line
is an item with an ``error`` and its 1-based line number, never an exception, so the importer can
skip or abort as the user chose. Memory stays bounded (JSON arrays are the exception: one
document, parsed whole).

Encodings are decided by ``engine.core.encoding`` (the same rules as the documents loaders); what
was chosen and why is in ``Source.encoding_note``. Binary files are refused.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.errors import UserError
from engine.datasets.columnar import hf_arrow_files, hf_items, parquet_items
from engine.datasets.decoding import (
    _ascii_compatible,
    replaced_bytes,
    set_replaced_bytes,
    sniff_encoding,
)
from engine.datasets.items import Item

KINDS = ("jsonl", "json", "csv", "parquet", "hf", "text")
TEXT_MODES = ("paragraph", "line", "document")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "hf",
    ".txt": "text",
    ".text": "text",
    ".md": "text",
    ".markdown": "text",
}
_HEAD = 1 << 16
_LIST_KEYS = ("data", "rows", "train", "examples", "items", "records", "instances")
csv.field_size_limit(1 << 30)


@dataclass
class Source:
    """An opened source of raw rows."""

    path: Path
    kind: str
    encoding: str | None = None
    encoding_note: str | None = None
    splits: list[str] = field(default_factory=list)
    split: str | None = None
    text_mode: str = "paragraph"
    hf_dir: Path | None = None  # the folder of the chosen split of a saved HF dataset
    _size: int = 0
    _pos: Any = None  # callable -> bytes read so far

    def items(self) -> Iterator[Item]:
        reader = {
            "jsonl": _jsonl_items,
            "json": _json_items,
            "csv": _csv_items,
            "parquet": parquet_items,
            "hf": hf_items,
            "text": _text_items,
        }[self.kind]
        yield from reader(self)

    def progress(self) -> float | None:
        if self._pos is None or not self._size:
            return None
        try:
            return min(1.0, self._pos() / self._size)
        except (OSError, ValueError):
            return None

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "kind": self.kind,
            "encoding": self.encoding,
            "encoding_note": self.encoding_note,
            "splits": self.splits,
            "split": self.split,
            "size_bytes": self._size,
        }


def open_source(
    path: str | Path,
    *,
    kind: str | None = None,
    encoding: str | None = None,
    split: str | None = None,
    text_mode: str = "paragraph",
) -> Source:
    """Open ``path`` for reading; raises ``UserError`` for what cannot be read at all."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"{path} does not exist; check the path.")
    if text_mode not in TEXT_MODES:
        raise UserError(f"text_mode must be one of {', '.join(TEXT_MODES)}.")
    if kind is not None and kind not in KINDS:
        raise UserError(f"Unknown file type {kind!r}; choose one of {', '.join(KINDS)}.")
    if path.is_dir():
        return _open_hf_folder(path, split)
    size = path.stat().st_size
    if size == 0:
        raise UserError(f"{path.name} is empty; there is nothing to import.")
    kind = kind or _EXTENSIONS.get(path.suffix.lower()) or _sniff_kind(path)
    source = Source(path, kind, split=split, text_mode=text_mode, _size=size)
    if kind == "hf":
        source.splits = [path.stem]
        return source
    if kind == "parquet":
        return source
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UserError(
                f"Unknown text encoding {encoding!r}; try utf-8, cp1252 or latin-1."
            ) from None
        source.encoding, source.encoding_note = encoding, f"{encoding} (as asked)"
    else:
        source.encoding, source.encoding_note = sniff_encoding(path)
    if kind == "json" and _json_is_lines(source):
        source.kind = "jsonl"
    elif kind == "jsonl" and _first_char(path) == b"[":  # a JSON array saved as .jsonl
        source.kind = "json"
    return source


def _first_char(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]


def _sniff_kind(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    if head.startswith(b"PAR1"):
        return "parquet"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{"):
        return "jsonl"
    if stripped.startswith(b"["):
        return "json"
    if b"\x00" in head[:4096] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UserError(
            f"{path.name} is not a file Hearth can import; use JSONL, JSON, CSV, Parquet, a saved "
            "Hugging Face dataset folder or plain text."
        )
    return "text"


def _lines(source: Source) -> Iterator[tuple[int, str | None, str | None]]:
    """``(line number, text, error)`` for each line, decoding each line on its own so one bad
    byte spoils only its line."""
    enc = source.encoding or "utf-8"
    if _ascii_compatible(enc):
        with open(source.path, "rb") as fh:
            source._pos = fh.tell
            for n, raw in enumerate(fh, 1):
                if n == 1 and enc == "utf-8-sig" and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[3:]
                try:
                    yield n, raw.decode(enc), None
                except UnicodeDecodeError as exc:
                    yield (
                        n,
                        None,
                        (
                            f"not valid {enc} text (byte 0x{raw[exc.start]:02x} at column "
                            f"{exc.start + 1}); re-save the file as UTF-8 or choose its encoding"
                        ),
                    )
        return
    with open(source.path, "rb") as raw_fh:
        source._pos = raw_fh.tell
        text = io.TextIOWrapper(raw_fh, encoding=enc, errors="hearth-count-replace", newline=None)
        for n, line in enumerate(text, 1):
            yield n, line, None


def _as_row(value: Any) -> tuple[dict[str, Any] | None, str | None]:
    if isinstance(value, dict):
        return value, None
    if isinstance(value, str):
        return {"text": value}, None
    return None, f"is a JSON {type(value).__name__}, not an object"


def _jsonl_items(source: Source) -> Iterator[Item]:
    for n, text, error in _lines(source):
        if error:
            yield Item(n, error=error)
            continue
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            yield Item(n, error=f"not valid JSON ({_json_reason(exc)})")
            continue
        row, error = _as_row(value)
        yield Item(n, row=row, error=error)


_TOO_DEEP = "nested deeper than Hearth reads, about 1,000 levels of [ and {"


def _json_reason(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return _TOO_DEEP
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc)


def _read_text(source: Source) -> str:
    try:
        return source.path.read_bytes().decode(source.encoding or "utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{source.path.name} is not valid {source.encoding} text at byte {exc.start}; re-save "
            "it as UTF-8 or choose its encoding."
        ) from None


def _json_is_lines(source: Source) -> bool:
    """A ``.json`` file that is really JSON Lines (one object per line)."""
    with open(source.path, "rb") as fh:
        head = (
            fh.read(_HEAD)
            .decode(source.encoding or "utf-8", errors="replace")
            .lstrip("\ufeff \t\r\n")
        )
    if not head.startswith("{"):
        return False
    try:
        json.JSONDecoder().raw_decode(head)
    except (ValueError, RecursionError):
        return False  # a big first object cut by the head; read it as one document
    first_line = head.split("\n", 1)[0].strip()
    try:
        json.loads(first_line)
        return "\n" in head.strip()
    except (ValueError, RecursionError):
        return False


def _json_items(source: Source) -> Iterator[Item]:
    text = _read_text(source)
    source._pos = lambda: source._size
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if pos >= len(text):
        raise UserError(f"{source.path.name} is empty; there is nothing to import.")
    if text[pos] != "[":
        try:
            doc, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise _json_abort(source, exc) from None
        except RecursionError:
            raise _too_deep(source) from None
        items = _list_in(doc)
        if items is None:
            row, error = _as_row(doc)
            yield Item(1, row=row, error=error)
            return
        for i, value in enumerate(items, 1):
            row, error = _as_row(value)
            yield Item(None, row=row, error=f"item {i} {error}" if error else None)
        return
    # a top-level array: decode item by item so each keeps its line number
    line, counted = 1, 0
    pos = _skip_ws(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return
    while pos < len(text):
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise _json_abort(source, exc) from None
        except RecursionError:
            raise _too_deep(source) from None
        row, error = _as_row(value)
        yield Item(line, row=row, error=error)
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            return
        line += text.count("\n", counted, pos)
        raise UserError(
            f"{source.path.name}: line {line}: expected ',' or ']' in the JSON array; the file "
            "is damaged. Fix it, or save it as JSONL so bad lines can be skipped."
        )
    raise UserError(f"{source.path.name}: the JSON array never ends; the file is cut short.")


def _too_deep(source: Source) -> UserError:
    return UserError(
        f"{source.path.name} is {_TOO_DEEP}; nothing was imported. Flatten the data, or save "
        "it as JSONL so such rows can be skipped."
    )


def _json_abort(source: Source, exc: json.JSONDecodeError) -> UserError:
    return UserError(
        f"{source.path.name}: line {exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno}). "
        "A JSON document cannot be read past an error; fix it, or save it as JSONL so bad lines "
        "can be skipped."
    )


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _list_in(doc: Any) -> list | None:
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict):
        return None
    for key in _LIST_KEYS:
        if isinstance(doc.get(key), list):
            return doc[key]
    lists = [v for v in doc.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
    return lists[0] if len(lists) == 1 and len(doc) == 1 else None


def _csv_items(source: Source) -> Iterator[Item]:
    enc = source.encoding or "utf-8"
    with open(source.path, encoding=enc, errors="hearth-count-replace", newline="") as fh:
        raw = getattr(fh, "buffer", None)
        source._pos = raw.tell if raw is not None else None
        before = replaced_bytes()
        head = fh.read(_HEAD)
        fh.seek(0)
        set_replaced_bytes(before)  # the sample is read again below: count its bytes once
        if head.startswith("\ufeff"):
            fh.read(1)
        if source.path.suffix.lower() == ".tsv":
            dialect: Any = csv.excel_tab
        else:
            try:
                dialect = csv.Sniffer().sniff(head.split("\n", 20)[0] if head else ",", ",\t;|")
                dialect.doublequote = True
            except csv.Error:
                dialect = csv.excel
        reader = csv.reader(fh, dialect)
        try:
            header = next(reader)
        except StopIteration:
            raise UserError(f"{source.path.name} is empty; there is nothing to import.") from None
        except csv.Error as exc:
            raise UserError(f"{source.path.name}: line 1: {exc}") from None
        header = _unique_names([h.strip() for h in header])
        if not any(header):
            raise UserError(f"{source.path.name} has no header row; add column names on line 1.")
        start = reader.line_num + 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Item(start, error=f"bad CSV ({exc})")
                start = reader.line_num + 1
                continue
            line, start = start, reader.line_num + 1
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if len(record) != len(header):
                yield Item(
                    line,
                    error=f"has {len(record)} fields but the header has {len(header)}; a quote or "
                    "separator is probably missing",
                )
                continue
            yield Item(line, row=dict(zip(header, record, strict=True)))


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        out.append(name)
    return out


def _open_hf_folder(path: Path, split: str | None) -> Source:
    if (path / "dataset_dict.json").exists():
        try:
            splits = list(json.loads((path / "dataset_dict.json").read_text("utf-8"))["splits"])
        except (ValueError, KeyError, TypeError):
            raise UserError(
                f"{path}/dataset_dict.json is damaged; save the dataset again."
            ) from None
        chosen = split or ("train" if "train" in splits else splits[0] if splits else None)
        if chosen not in splits:
            raise UserError(
                f"{path.name} has no split {chosen!r}; its splits are {', '.join(splits)}."
            )
        source = _open_hf_folder(path / chosen, None)
        source.splits, source.split, source.path = splits, chosen, path
        return source
    files = hf_arrow_files(path)
    if not files:
        raise UserError(
            f"{path} is a folder but not a saved Hugging Face dataset (no dataset_info.json, "
            "state.json or .arrow files); import the files inside it instead."
        )
    return Source(path, "hf", split=split, hf_dir=path, _size=sum(f.stat().st_size for f in files))


def _text_items(source: Source) -> Iterator[Item]:
    if source.text_mode == "document":
        text = _read_text(source)
        if text.strip():
            yield Item(1, row={"text": text.strip("\n")})
        return
    para: list[str] = []
    start = 0
    for n, line, error in _lines(source):
        if error:
            yield Item(n, error=error)
            continue
        line = line.rstrip("\r\n")
        if source.text_mode == "line":
            if line.strip():
                yield Item(n, row={"text": line})
            continue
        if line.strip():
            if not para:
                start = n
            para.append(line)
        elif para:
            yield Item(start, row={"text": "\n".join(para)})
            para = []
    if para:
        yield Item(start, row={"text": "\n".join(para)})


# -- Hearth's own conversations ---------------------------------------------------------------


def conversation_items(conn: sqlite3.Connection, ids: list[str] | None = None) -> Iterator[Item]:
    """The current branch of each stored conversation as a ``messages`` row."""
    have = {
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name IN ('conversations','messages')"
        )
    }
    if have != {"conversations", "messages"}:
        raise UserError("This data folder has no conversations yet; chat first, then import them.")
    query = "SELECT id, title, system_prompt, current_leaf_id, model_id FROM conversations"
    args: list[Any] = []
    if ids:
        query += f" WHERE id IN ({','.join('?' * len(ids))})"
        args = list(ids)
    query += " ORDER BY created_at"
    rows = conn.execute(query, args).fetchall()
    if ids:
        missing = set(ids) - {r["id"] for r in rows}
        if missing:
            from engine.core.errors import NotFoundError

            raise NotFoundError(f"No conversation {', '.join(sorted(missing))}.")
    for n, conv in enumerate(rows, 1):
        chain = []
        node = conv["current_leaf_id"]
        seen = set()
        while node and node not in seen:
            seen.add(node)
            msg = conn.execute(
                "SELECT id, parent_id, role, content, state FROM messages WHERE id = ?", (node,)
            ).fetchone()
            if msg is None:
                break
            chain.append(msg)
            node = msg["parent_id"]
        chain.reverse()
        messages = []
        if conv["system_prompt"]:
            messages.append({"role": "system", "content": conv["system_prompt"]})
        messages += [
            {"role": m["role"], "content": m["content"]}
            for m in chain
            if m["state"] == "complete" and m["content"]
        ]
        if not any(m["role"] == "assistant" for m in messages):
            yield Item(n, error=f"conversation {conv['title']!r} has no complete reply")
            continue
        yield Item(
            n,
            row={
                "messages": messages,
                "conversation_id": conv["id"],
                "title": conv["title"],
                "model_id": conv["model_id"],
            },
        )
