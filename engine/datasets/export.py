"""Export a dataset version: JSONL in any format it converts to, or Parquet, with a dataset card.

``path`` ending in ``.jsonl``/``.json``/``.parquet`` is one file (all rows, or one ``split``); any
other path is a folder that gets one file per split (``train.jsonl``, ``validation.jsonl``, ...;
``data.jsonl`` when unsplit) and ``README.md``. A single file gets its card beside it as
``<name>.README.md``. Files are written to a temp name and renamed, so a failed export leaves no
half file. The card (Hugging Face style, YAML front matter) records the source, format, fields,
row counts per split, token lengths, and every step from import to this version.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.core.paths import atomic_write_text, describe_os_error
from engine.datasets import formats
from engine.datasets.library import DatasetLibrary
from engine.datasets.rowstore import dumps
from engine.datasets.versions import split_range

if TYPE_CHECKING:
    from engine.services import Services

FILE_FORMATS = ("jsonl", "parquet")
_SUFFIX = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def plan(path: str, file_format: str | None) -> tuple[Path, bool, str]:
    """``(target, is_single_file, file_format)`` for an export path."""
    if not isinstance(path, str) or not path:
        raise UserError("Give the path to export to.")
    target = Path(path).expanduser()
    suffix_kind = _SUFFIX.get(target.suffix.lower())
    if file_format is not None and file_format not in FILE_FORMATS:
        raise UserError(f"file_format must be one of {', '.join(FILE_FORMATS)}.")
    single = suffix_kind is not None and not target.is_dir()
    kind = file_format or suffix_kind or "jsonl"
    parent = target.parent if single else target
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{parent} is a file, not a folder.")
    return target, single, kind


def export_dataset(
    services: Services, ref: str, params: dict[str, Any], ctx: Any
) -> dict[str, Any]:
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref, params.get("version"))
    target, single, kind = plan(params.get("path"), params.get("file_format"))
    src = ver["format"]
    dst = formats.check_format(params.get("format") or src)
    split = params.get("split")
    if split:
        split_range(ver, split)
    render_text = None
    if dst == "text" and src != "text":
        from engine.datasets.split import _renderer

        render_text = _renderer(services, params)
    if single or not ver.get("splits") or split:
        parts = [(split, target if single else target / f"{split or 'data'}.{_ext(kind)}")]
    else:
        parts = [(s["name"], target / f"{s['name']}.{_ext(kind)}") for s in ver["splits"]]
    try:
        (target.parent if single else target).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(describe_os_error(exc, f"creating {target}")) from None
    files, counts, failed = [], {}, 0
    total = sum(split_range(ver, name)[1] - split_range(ver, name)[0] for name, _p in parts)
    done = [0]
    with lib.reader(ds["id"], ver["version"]) as reader:
        for name, path in parts:
            lo, hi = split_range(ver, name)
            fails = [0]

            def rows(lo: int = lo, hi: int = hi, path: Path = path, fails: list = fails):
                fails[0] = 0  # Parquet reads twice; count the pass that writes
                for _pos, row in reader.iter_rows(lo, hi):
                    done[0] += 1
                    if done[0] % 4096 == 0:
                        ctx.check_cancelled()
                        ctx.progress(min(0.99, done[0] / max(1, total)), f"Writing {path.name}")
                    try:
                        yield formats.convert(row, src, dst, render_text=render_text)[0]
                    except formats.RowError:
                        fails[0] += 1

            try:
                n = _write_jsonl(path, rows()) if kind == "jsonl" else _write_parquet(path, rows)
            except OSError as exc:
                raise UserError(describe_os_error(exc, f"writing {path}")) from None
            failed += fails[0]
            files.append(
                {"split": name, "path": str(path), "rows": n, "bytes": path.stat().st_size}
            )
            counts[name or "all"] = n
    if not any(counts.values()):
        raise UserError(
            f"No row of {ds['name']} can be written as {dst}; nothing useful was exported."
        )
    card_path = target.with_name(target.stem + ".README.md") if single else target / "README.md"
    history = lib.history(ds["id"])
    atomic_write_text(
        card_path, dataset_card(ds, ver, history, dst=dst, kind=kind, files=files, failed=failed)
    )
    ctx.progress(1.0, "Exported")
    return {
        "dataset": ds,
        "version": ver["version"],
        "format": dst,
        "file_format": kind,
        "files": files,
        "card": str(card_path),
        "rows": sum(counts.values()),
        "skipped": failed,
    }


def _ext(kind: str) -> str:
    return "jsonl" if kind == "jsonl" else "parquet"


def _tmp(path: Path) -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)


def _write_jsonl(path: Path, rows: Any) -> int:
    fd, tmp = _tmp(path)
    n = 0
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
            for row in rows:
                fh.write(dumps(row) + b"\n")
                n += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def _write_parquet(path: Path, rows: Any) -> int:
    """Two passes: the first finds one schema that fits every row (types unified, missing keys
    null), the second writes batches with it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    batch: list[dict[str, Any]] = []
    schema = None

    def unify(current: Any, rows_: list[dict[str, Any]]) -> Any:
        found = pa.Table.from_pylist(rows_).schema
        if current is None:
            return found
        return pa.unify_schemas([current, found], promote_options="permissive")

    try:
        for row in rows():
            batch.append(row)
            if len(batch) == 4096:
                schema = unify(schema, batch)
                batch = []
        if batch:
            schema = unify(schema, batch)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise UserError(
            f"The rows do not fit one Parquet schema ({exc}); export as JSONL instead."
        ) from None
    if schema is None:
        schema = pa.schema([])
    fd, tmp = _tmp(path)
    os.close(fd)
    n = 0
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            batch = []
            for row in rows():
                batch.append(row)
                if len(batch) == 4096:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                    n += len(batch)
                    batch = []
            if batch:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                n += len(batch)
        os.replace(tmp, path)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"Could not write Parquet ({exc}); export as JSONL instead.") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def dataset_card(
    ds: dict[str, Any],
    ver: dict[str, Any],
    history: dict[str, Any],
    *,
    dst: str,
    kind: str,
    files: list[dict[str, Any]],
    failed: int,
) -> str:
    """README.md for an exported dataset."""
    from engine import __version__ as engine_version

    chain = _chain(history["versions"], ver["version"])
    source = ds.get("source") or {}
    total = sum(f["rows"] for f in files)
    lines = [
        "---",
        f"pretty_name: {json.dumps(ds['name'])}",
        f"size_categories: {_size_category(total)}",
        "configs:",
        "- config_name: default",
        "  data_files:",
    ]
    for f in files:
        lines.append(f"  - split: {f['split'] or 'train'}")
        lines.append(f"    path: {json.dumps(Path(f['path']).name)}")
    lines += ["---", "", f"# {ds['name']}", ""]
    lines.append(
        f"Exported by Hearth {engine_version} on {time.strftime('%Y-%m-%d %H:%M', time.localtime())} "
        f"from version {ver['version']} of the dataset."
    )
    lines += ["", "## Source", ""]
    if source.get("kind") == "conversations":
        lines.append("Hearth chat conversations.")
    elif source:
        where = source.get("path", "?")
        extra = f", split {source['split']}" if source.get("split") else ""
        enc = f", encoding {source['encoding']}" if source.get("encoding") else ""
        lines.append(f"`{where}` ({source.get('kind', '?')}{extra}{enc}).")
    else:
        lines.append("Unknown.")
    lines += ["", "## Format", ""]
    lines.append(
        f"- Format: **{dst}**"
        + (f" (converted from {ver['format']})" if dst != ver["format"] else "")
    )
    lines.append(f"- File type: {kind}")
    lines.append(f"- Fields: {', '.join(f'`{f}`' for f in ver['fields']) or '-'}")
    lines += ["", "## Rows", "", "| split | rows | file |", "|---|---:|---|"]
    for f in files:
        lines.append(f"| {f['split'] or 'all'} | {f['rows']:,} | `{Path(f['path']).name}` |")
    lines.append(f"| **total** | **{total:,}** | |")
    if failed:
        lines.append(f"\n{failed:,} rows could not be written as {dst} and were left out.")
    lines += ["", "## Processing history", ""]
    for v in chain:
        desc = (v.get("summary") or {}).get("description") or v["operation"]
        lines.append(f"{v['version']}. `{v['operation']}` -- {desc}")
    filters = [
        v
        for v in chain
        if v["operation"] in ("filter", "dedup", "scrub_pii", "decontaminate", "remove", "edit")
    ]
    lines += ["", "## Filters applied", ""]
    if filters:
        for v in filters:
            params = {
                k: p for k, p in (v.get("params") or {}).items() if p not in (None, False, [])
            }
            lines.append(f"- {v['operation']}: {json.dumps(params, ensure_ascii=False)}")
    else:
        lines.append("None.")
    lines.append("")
    return "\n".join(lines)


def _chain(versions: list[dict[str, Any]], current: int) -> list[dict[str, Any]]:
    by_version = {v["version"]: v for v in versions}
    out = []
    v = by_version.get(current)
    while v is not None:
        out.append(v)
        v = by_version.get(v["parent"]) if v["parent"] is not None else None
    return list(reversed(out))


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):  # fmt: skip
        if n < limit:
            return label
    return "n>10M"
