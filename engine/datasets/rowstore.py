"""Rows on disk: append-only JSONL segments and one offset index per version.

A dataset folder holds ``segments/sNNNNNN.jsonl`` (one JSON object per line, never modified once
written) and ``versions/vN.idx`` + ``versions/vN.tok``. An index is a flat array of 16-byte
entries ``(segment, length, offset)``, one per row in order; ``.tok`` holds each row's token count
(uint32, an estimate unless a tokenizer counted). So:

- opening a version reads nothing but the file size; a page is a seek into the index plus one
  read per row, whatever the dataset's size (bounded memory, first page in milliseconds);
- a step that removes or reorders rows (filters, dedup, split) writes only a new index that points
  at the same lines; a step that changes rows (convert, scrub, edits) appends a new segment;
- every old version keeps pointing at lines that still exist, so undo is free and nothing is lost.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.core.errors import UserError

ENTRY = struct.Struct("<IIQ")  # segment id, byte length (without the newline), byte offset
Entry = tuple[int, int, int]
_MAX_TOKENS = 2**32 - 1
_READ_CHUNK = 65536  # index entries read at a time when scanning


def _tok_array(data: bytes = b"") -> array:
    arr = array("I")
    if arr.itemsize != 4:  # pragma: no cover - every supported platform has 4-byte unsigned int
        arr = array("L")
    if data:
        arr.frombytes(data)
    return arr


def _default(value: Any) -> Any:
    """JSON for the odd values Parquet and Arrow files hold (dates, decimals, bytes, numpy)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        import base64

        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def dumps(row: dict[str, Any]) -> bytes:
    line = json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=_default)
    return line.encode("utf-8")


def version_paths(root: Path, version: int) -> tuple[Path, Path]:
    base = root / "versions"
    return base / f"v{version}.idx", base / f"v{version}.tok"


class RowReader:
    """Random and sequential access to the rows of one version."""

    def __init__(self, root: Path, version: int) -> None:
        self.root = Path(root)
        self.version = version
        idx_path, self._tok_path = version_paths(self.root, version)
        try:
            self._idx = open(idx_path, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            raise UserError(
                f"Version {version} of this dataset is missing its row index ({idx_path}); the "
                "dataset folder was changed outside Hearth. Make another version current."
            ) from None
        self.count = os.fstat(self._idx.fileno()).st_size // ENTRY.size
        self._segments: dict[int, Any] = {}

    def __len__(self) -> int:
        return self.count

    def __enter__(self) -> RowReader:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._idx.close()
        for fh in self._segments.values():
            fh.close()
        self._segments.clear()

    # -- index and token counts -----------------------------------------------------------
    def entries(self, start: int, stop: int) -> list[Entry]:
        start, stop = max(0, start), min(self.count, stop)
        if stop <= start:
            return []
        self._idx.seek(start * ENTRY.size)
        data = self._idx.read((stop - start) * ENTRY.size)
        return list(ENTRY.iter_unpack(data))

    def tokens(self, start: int = 0, stop: int | None = None) -> array:
        stop = self.count if stop is None else min(stop, self.count)
        if stop <= start:
            return _tok_array()
        try:
            with open(self._tok_path, "rb") as fh:
                fh.seek(start * 4)
                data = fh.read((stop - start) * 4)
        except FileNotFoundError:
            data = b""
        arr = _tok_array(data)
        if len(arr) < stop - start:  # an older version without counts: unknown is 0
            arr.extend([0] * (stop - start - len(arr)))
        return arr

    # -- rows -----------------------------------------------------------------------------
    def read(self, entry: Entry) -> bytes:
        seg, length, offset = entry
        fh = self._segments.get(seg)
        if fh is None:
            path = self.root / "segments" / f"s{seg:06d}.jsonl"
            try:
                fh = open(path, "rb", buffering=1 << 20)  # noqa: SIM115 - closed by close()
            except FileNotFoundError:
                raise UserError(
                    f"A row file of this dataset is missing ({path}); the dataset folder was "
                    "changed outside Hearth."
                ) from None
            self._segments[seg] = fh
        fh.seek(offset)
        return fh.read(length)

    def row(self, position: int) -> dict[str, Any]:
        entries = self.entries(position, position + 1)
        if not entries:
            raise UserError(f"Row {position} does not exist; the dataset has {self.count} rows.")
        return json.loads(self.read(entries[0]))

    def rows(self, start: int, stop: int) -> list[dict[str, Any]]:
        return [json.loads(self.read(e)) for e in self.entries(start, stop)]

    def iter_entries(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, Entry]]:
        stop = self.count if stop is None else min(stop, self.count)
        pos = start
        while pos < stop:
            chunk = self.entries(pos, min(stop, pos + _READ_CHUNK))
            for entry in chunk:
                yield pos, entry
                pos += 1

    def iter_raw(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, Entry, bytes]]:
        for pos, entry in self.iter_entries(start, stop):
            yield pos, entry, self.read(entry)

    def iter_rows(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, dict]]:
        for pos, _entry, raw in self.iter_raw(start, stop):
            yield pos, json.loads(raw)


class VersionWriter:
    """Builds the index of a new version: rows kept from a parent by entry, new rows appended.

    Nothing is visible until ``commit(version)``; ``abort()`` removes what was written.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "versions").mkdir(parents=True, exist_ok=True)
        (self.root / "segments").mkdir(parents=True, exist_ok=True)
        self._marker = mark_writer(self.root)
        fd, tmp = tempfile.mkstemp(dir=self.root / "versions", prefix=".new-", suffix=".idx")
        self._idx = os.fdopen(fd, "wb", buffering=1 << 20)
        self._idx_tmp = Path(tmp)
        self._tokens = _tok_array()
        self._seg_id: int | None = None
        self._seg_fh: Any = None
        self._seg_path: Path | None = None
        self._seg_offset = 0
        self.count = 0
        self.fields: dict[str, None] = {}  # keys of new rows, in order of first appearance
        self._closed = False

    def __enter__(self) -> VersionWriter:
        return self

    def __exit__(self, exc_type: Any, *_rest: Any) -> None:
        if not self._closed:
            self.abort()

    def add_entry(self, entry: Entry, tokens: int) -> None:
        """Keep an existing row (a line of an existing segment)."""
        self._idx.write(ENTRY.pack(*entry))
        self._tokens.append(min(max(int(tokens), 0), _MAX_TOKENS))
        self.count += 1

    def add_row(self, row: dict[str, Any], tokens: int) -> Entry:
        """Append a new row to this writer's segment."""
        if self._seg_fh is None:
            self._claim_segment()
        line = dumps(row)
        self._seg_fh.write(line + b"\n")
        entry = (self._seg_id, len(line), self._seg_offset)
        self._seg_offset += len(line) + 1
        for key in row:
            if key not in self.fields:
                self.fields[key] = None
        self.add_entry(entry, tokens)
        return entry

    def _claim_segment(self) -> None:
        seg_dir = self.root / "segments"
        existing = [int(p.stem[1:]) for p in seg_dir.glob("s*.jsonl") if p.stem[1:].isdigit()]
        seg = max(existing, default=0) + 1
        while True:  # O_EXCL: two writers (even in two processes) never share a segment
            path = seg_dir / f"s{seg:06d}.jsonl"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                seg += 1
        self._seg_id, self._seg_path = seg, path
        self._seg_fh = os.fdopen(fd, "wb", buffering=1 << 20)

    def commit(self, version: int) -> None:
        idx_path, tok_path = version_paths(self.root, version)
        if idx_path.exists():
            raise UserError(f"Version {version} already exists; try again.")
        if self._seg_fh is not None:
            self._seg_fh.flush()
            os.fsync(self._seg_fh.fileno())
            self._seg_fh.close()
            self._seg_fh = None
        self._idx.flush()
        os.fsync(self._idx.fileno())
        self._idx.close()
        tok_tmp = tok_path.with_name(f".{tok_path.name}.tmp")
        with open(tok_tmp, "wb") as fh:
            self._tokens.tofile(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tok_tmp, tok_path)
        os.replace(self._idx_tmp, idx_path)
        self._closed = True

    def release(self) -> None:
        """Say the writing is over (after the version is recorded in the database): until then a
        new dataset's folder has no record, and only this marker keeps a sweep off it."""
        self._marker.unlink(missing_ok=True)

    def abort(self) -> None:
        """Drop everything this writer wrote."""
        self._closed = True
        for fh in (self._idx, self._seg_fh):
            if fh is not None:
                try:
                    fh.close()
                except OSError:
                    pass
        self._idx_tmp.unlink(missing_ok=True)
        if self._seg_path is not None:
            self._seg_path.unlink(missing_ok=True)
        self._marker.unlink(missing_ok=True)

    @property
    def tokens(self) -> array:
        return self._tokens


WRITER_MARK = ".writer-"


def mark_writer(root: Path) -> Path:
    """A file saying this process is writing in ``root`` (removed on commit or abort); a folder
    whose markers all name dead processes holds only what a killed writer left."""
    import uuid

    from engine.jobs.store import _OWN_START

    path = root / f"{WRITER_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.write_text(json.dumps({"pid": os.getpid(), "started": _OWN_START}), encoding="utf-8")
    return path


def live_writers(root: Path) -> int:
    """How many processes still write in ``root``; dead writers' markers are removed."""
    from engine.jobs.store import owner_alive

    alive = 0
    for marker in root.glob(f"{WRITER_MARK}*"):
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        if owner_alive(info.get("pid"), info.get("started")):
            alive += 1
        else:
            marker.unlink(missing_ok=True)
    return alive


def remove_version_files(root: Path, version: int) -> None:
    for path in version_paths(root, version):
        path.unlink(missing_ok=True)
