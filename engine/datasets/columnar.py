"""Columnar sources: Parquet files and saved Hugging Face (Arrow) datasets, read in small batches
with what they unpack to bounded (``readers.open_source`` opens them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.datasets.items import Item

if TYPE_CHECKING:
    from engine.datasets.readers import Source

# Bounds on what a small columnar file may unpack to. A row group's declared size is checked up
# front; dictionary and run-length encoding can still make one short value stand for millions of
# rows, so what is actually read is counted too: past UNPACK_FLOOR_BYTES, more than
# MAX_UNPACK_RATIO times the file's size is refused as a bomb. Batches of 64 rows keep what is
# held at once small.
MAX_ROW_GROUP_BYTES = 512 * 2**20
UNPACK_FLOOR_BYTES = 256 * 2**20
MAX_UNPACK_RATIO = 1000


def _dense(batch: Any) -> Any:
    """``batch`` with dictionary columns decoded: what its rows really take (one 1 MB value
    standing for 64 rows is 64 MB once they are rows)."""
    import pyarrow as pa

    if not any(pa.types.is_dictionary(f.type) for f in batch.schema):
        return batch
    columns = [
        c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _check_unpacked(source: Source, unpacked: int, file_bytes: int) -> None:
    if unpacked > UNPACK_FLOOR_BYTES and unpacked > MAX_UNPACK_RATIO * max(1, file_bytes):
        raise UserError(
            f"{source.path.name} unpacks to more than {MAX_UNPACK_RATIO} times its "
            f"{file_bytes:,} bytes on disk (past {unpacked // 2**20:,} MB): a decompression bomb, "
            "or a file to check; nothing was imported."
        )


def _rows(source: Source, batches: Any, file_bytes: int, start: int) -> Iterator[Item]:
    """The rows of ``batches`` (from one file of ``file_bytes``) as items numbered from
    ``start + 1``, refusing the file as a bomb once what it unpacks to passes the bounds."""
    n, unpacked = start, 0
    for batch in batches:
        batch = _dense(batch)
        unpacked += batch.nbytes
        _check_unpacked(source, unpacked, file_bytes)
        for row in batch.to_pylist():
            n += 1
            yield Item(n, row=row)


def parquet_items(source: Source) -> Iterator[Item]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(source.path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{source.path.name} is not a readable Parquet file ({exc}).") from None
    meta = pf.metadata
    for i in range(meta.num_row_groups):
        unpacked = meta.row_group(i).total_byte_size
        if unpacked > MAX_ROW_GROUP_BYTES:
            raise UserError(
                f"{source.path.name}: row group {i + 1} of {meta.num_row_groups} unpacks to "
                f"{unpacked // 2**20:,} MB, more than Hearth reads at once "
                f"({MAX_ROW_GROUP_BYTES // 2**20} MB); write the file again with smaller row "
                "groups (pyarrow.parquet.write_table(..., row_group_size=10_000))."
            )
    total = max(1, meta.num_rows)
    done = 0
    source._size = total
    source._pos = lambda: done
    for item in _rows(source, pf.iter_batches(batch_size=64), source.path.stat().st_size, 0):
        yield item
        done = item.line


def hf_arrow_files(folder: Path) -> list[Path]:
    state = folder / "state.json"
    if state.exists():
        try:
            names = [f["filename"] for f in json.loads(state.read_text("utf-8"))["_data_files"]]
            return [folder / n for n in names]
        except (ValueError, KeyError, TypeError):
            pass
    return sorted(folder.glob("*.arrow"))


def hf_items(source: Source) -> Iterator[Item]:
    import pyarrow as pa

    folder = source.hf_dir
    files = [source.path] if folder is None else hf_arrow_files(folder)
    done = 0
    source._pos = lambda: done
    n = 0
    for path in files:
        try:
            mm = pa.memory_map(str(path))
            try:
                reader: Any = pa.ipc.open_stream(mm)
                batches = iter(reader)
            except pa.ArrowInvalid:
                reader = pa.ipc.open_file(mm)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        except (pa.ArrowInvalid, OSError) as exc:
            raise UserError(f"{path.name} is not a readable Arrow file ({exc}).") from None
        file_bytes = path.stat().st_size
        for item in _rows(source, batches, file_bytes, n):
            n = item.line
            yield item
        done += file_bytes
