"""Importing a file (or Hearth's conversations) as a new dataset.

``inspect_source`` reads only the head of a file: its type, encoding, columns, a sample, the
candidate formats with their confidence and column mapping, and the malformed lines among the
first rows -- what the GUI's import and column-mapping dialogs show. ``run_import`` (the
``data.import`` job) streams the whole source into the first version of a new dataset:

- the format is the one asked for (with an optional explicit mapping), else the detected one;
- a row in another recognisable format (a mixed file) is converted to the dataset's format;
- a malformed line, or a row that fits no format, is an error with its line number: with
  ``on_error="skip"`` it is left out and listed, with ``"abort"`` (the default) the import stops
  and nothing is created;
- each row's token count is estimated, and rows longer than every model's context are counted.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import Cancelled, UserError
from engine.datasets import formats, readers, tokens
from engine.datasets.decoding import replaced_bytes
from engine.datasets.library import DatasetLibrary
from engine.datasets.rowstore import VersionWriter

if TYPE_CHECKING:
    from engine.services import Services

ON_ERROR = ("skip", "abort")
CONVERSATIONS = "conversations"
_HEAD_ROWS = 200
_MAX_ERRORS = 1000


def check_on_error(value: Any) -> str:
    if value not in ON_ERROR:
        raise UserError("on_error must be skip or abort.")
    return value


def open_items(
    services: Services, params: dict[str, Any]
) -> tuple[Iterator[readers.Item], Any, str]:
    """``(items, source or None, default name)`` for import params."""
    if params.get("source") == CONVERSATIONS:
        ids = params.get("conversation_ids") or None
        if ids is not None and (
            not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)
        ):
            raise UserError("conversation_ids must be a list of conversation ids.")
        return readers.conversation_items(services.db(), ids), None, "conversations"
    if params.get("source") not in (None, "file"):
        raise UserError("source must be 'file' or 'conversations'.")
    path = params.get("path")
    if not isinstance(path, str) or not path:
        raise UserError("Give the path of the file to import.")
    source = readers.open_source(
        path,
        kind=params.get("kind"),
        encoding=params.get("encoding"),
        split=params.get("split"),
        text_mode=params.get("text_mode") or "paragraph",
    )
    name = Path(path).expanduser().name
    for suffix in readers._EXTENSIONS:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    if source.split and source.splits and len(source.splits) > 1:
        name = f"{name}-{source.split}"
    return source.items(), source, name or "dataset"


def _head(items: Iterator[readers.Item]) -> list[readers.Item]:
    head: list[readers.Item] = []
    good = 0
    for item in items:
        head.append(item)
        good += item.row is not None
        if good >= _HEAD_ROWS or len(head) >= 5 * _HEAD_ROWS:
            break
    return head


def inspect_source(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    """What the import dialog shows before anything is imported."""
    items, source, name = open_items(services, params)
    head = _head(items)
    rows = [i.row for i in head if i.row is not None]
    columns: dict[str, None] = {}
    for row in rows:
        for key in row:
            columns.setdefault(str(key), None)
    candidates = formats.detect(rows)
    fmt = params.get("format")
    mapping = params.get("mapping")
    if fmt is not None:
        fmt = formats.check_format(fmt)
        mapping = formats.check_mapping(fmt, mapping) or _mapping_for(candidates, fmt)
    elif candidates:
        fmt, mapping = candidates[0].format, candidates[0].mapping
    preview, preview_errors = [], []
    if fmt:
        for item in head:
            if item.row is None or len(preview) >= 5:
                continue
            try:
                preview.append(_canonical(item.row, fmt, mapping or {})[0])
            except formats.RowError as exc:
                preview_errors.append({"line": item.line, "reason": str(exc)})
    return {
        "source": source.describe() if source else {"kind": CONVERSATIONS},
        "name": name,
        "columns": list(columns),
        "sample": rows[:20],
        "candidates": [c.to_dict() for c in candidates],
        "format": fmt,
        "mapping": mapping or {},
        "needs_mapping": formats.needs_mapping(candidates) and params.get("format") is None,
        "errors": [{"line": i.line, "reason": i.error} for i in head if i.error][:50],
        "preview": preview,
        "preview_errors": preview_errors[:20],
        "formats": list(formats.FORMATS),
        "fields": {f: [*formats.REQUIRED[f], *formats.OPTIONAL[f]] for f in formats.FORMATS},
        "required": {f: list(formats.REQUIRED[f]) for f in formats.FORMATS},
    }


def _mapping_for(candidates: list[formats.Candidate], fmt: str) -> dict[str, str]:
    for c in candidates:
        if c.format == fmt:
            return c.mapping
    return {}


def _canonical(
    raw: dict[str, Any], fmt: str, mapping: dict[str, str]
) -> tuple[dict[str, Any], str | None]:
    """``(row, converted_from)``: ``raw`` as ``fmt``, converting a row of another plain format."""
    try:
        return formats.to_canonical(raw, fmt, mapping), None
    except formats.RowError as exc:
        other = formats.row_format(raw)
        if other is None or other == fmt:
            raise formats.RowError(f"does not match {fmt}: {exc}") from None
        try:
            row, _lossy = formats.convert(formats.to_canonical(raw, other, {}), other, fmt)
        except formats.RowError as exc2:
            raise formats.RowError(f"is a {other} row, which cannot become {fmt}: {exc2}") from None
        return row, other


def run_import(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    on_error = check_on_error(params.get("on_error") or "abort")
    library = DatasetLibrary(services)
    replaced_bytes(reset=True)  # counted from the first byte read
    items, source, default_name = open_items(services, params)
    if source is not None:  # rows and their index take about twice the file's size
        from engine.core.space import require_free

        require_free(library.base, 2 * int(source.describe().get("size_bytes") or 0))
    head = _head(items)
    rows = [i.row for i in head if i.row is not None]
    candidates = formats.detect(rows)
    warnings: list[str] = []
    fmt = params.get("format")
    if fmt is not None:
        fmt = formats.check_format(fmt)
        mapping = formats.check_mapping(fmt, params.get("mapping")) or _mapping_for(candidates, fmt)
    else:
        if not rows:
            mapping = {}
        elif not candidates or candidates[0].confidence < 0.5:
            cols = sorted({str(k) for r in rows for k in r})
            raise UserError(
                "Could not tell which format this is (columns: "
                + ", ".join(cols[:12])
                + "); choose a format and map its fields to these columns.",
                data={"candidates": [c.to_dict() for c in candidates], "columns": cols},
            )
        else:
            fmt, mapping = candidates[0].format, candidates[0].mapping
            if formats.needs_mapping(candidates):
                warnings.append(
                    f"The format was guessed as {fmt} (confidence {candidates[0].confidence:.2f}) "
                    f"with mapping {mapping}; check the rows."
                )
    if (
        source is not None
        and source.encoding_note
        and source.encoding not in ("utf-8", "utf-8-sig")
    ):
        warnings.append(f"Read as {source.encoding_note}.")
    limit = tokens.max_library_context(services)
    dataset_id = library.new_id()
    folder = library.folder(dataset_id)
    errors: list[dict[str, Any]] = []
    errors_total = 0
    converted: dict[str, int] = {}
    too_long = 0
    label = source.path.name if source else "conversations"
    writer = VersionWriter(folder)
    n = 0
    try:
        for item in itertools.chain(head, items):
            n += 1
            if n % 2048 == 0:
                ctx.check_cancelled({"rows": writer.count})
                fraction = source.progress() if source else None
                ctx.progress(fraction, f"{writer.count:,} rows read")
            reason = item.error
            row = None
            if reason is None:
                if fmt is None:  # only errors so far and no rows to detect from
                    reason = "no rows to detect the format from"
                else:
                    try:
                        row, other = _canonical(item.row, fmt, mapping)
                        if other:
                            converted[other] = converted.get(other, 0) + 1
                    except formats.RowError as exc:
                        reason = str(exc)
            if reason is not None:
                errors_total += 1
                where = f"line {item.line}" if item.line is not None else "an item"
                if on_error == "abort":
                    raise UserError(
                        f"{label}: {where}: {reason}. Nothing was imported; fix the file, or "
                        "import with on_error=skip to leave such lines out.",
                        data={
                            "errors": [*errors, {"line": item.line, "reason": reason}][:_MAX_ERRORS]
                        },
                    )
                if len(errors) < _MAX_ERRORS:
                    errors.append({"line": item.line, "reason": reason})
                continue
            count = tokens.row_tokens(row, fmt)
            too_long += count > limit
            writer.add_row(row, count)
        if writer.count == 0:
            if errors_total:
                first = errors[0]
                raise UserError(
                    f"{label}: no row could be read ({errors_total} bad; line {first['line']}: "
                    f"{first['reason']}). Nothing was imported.",
                    data={"errors": errors},
                )
            raise UserError(f"{label} has no rows; there is nothing to import.")
        if converted:
            warnings.append(
                "Mixed formats: converted "
                + ", ".join(f"{v} {k} row{'s' * (v != 1)}" for k, v in converted.items())
                + f" to {fmt}."
            )
        bad_bytes = replaced_bytes()
        if bad_bytes:
            warnings.append(
                f"{bad_bytes} byte{'s' * (bad_bytes != 1)} of {label} could not be read as "
                f"{source.encoding if source else 'text'} and became U+FFFD (�): the file is "
                "probably in another encoding. Import it again with the right one (or leave the "
                "encoding to detection) to keep those characters."
            )
        if too_long:
            warnings.append(
                f"{too_long} row{'s are' if too_long != 1 else ' is'} longer than the context of "
                f"every model in the library ({limit} tokens); they are flagged too_long."
            )
        name = params.get("name")
        name = library.check_new_name(name) if name else default_name
        summary = {
            "description": f"Imported {writer.count:,} rows from {label} as {fmt}.",
            "rows": writer.count,
            "errors": errors,
            "errors_total": errors_total,
            "converted": converted,
            "too_long": too_long,
            "context_limit": limit,
            "warnings": warnings,
        }
        described = source.describe() if source else {"kind": CONVERSATIONS}
        ds = library.create(
            dataset_id,
            name,
            writer,
            fmt=fmt,
            source=described,
            operation="import",
            params={k: v for k, v in params.items() if k != "name"},
            summary=summary,
        )
    except BaseException as exc:
        writer.abort()
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, Cancelled):
            raise Cancelled({"rows_read": n}) from None
        raise
    ctx.progress(1.0, f"{ds['rows']:,} rows imported")
    return {
        "dataset": ds,
        "name": ds["name"],
        "format": fmt,
        "rows": ds["rows"],
        "errors": errors,
        "errors_total": errors_total,
        "converted": converted,
        "too_long": too_long,
        "warnings": warnings,
        "encoding": source.encoding if source else None,
    }
