"""``dedup``: exact duplicates of normalised text, or near duplicates (MinHash + LSH)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import TYPE_CHECKING, Any

from engine.datasets import formats
from engine.datasets.clean.common import SAMPLE, as_text, nothing_left
from engine.datasets.library import DatasetLibrary
from engine.datasets.step_options import DedupOptions

if TYPE_CHECKING:
    from engine.services import Services


_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def check_dedup_params(params: dict[str, Any]) -> DedupOptions:
    return DedupOptions.from_dict(params)


def dedup(services: Services, ref: str, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    opts = DedupOptions.from_params(params)
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    fmt = ver["format"]
    near, field = opts.near, opts.field

    def text_of(row: dict[str, Any]) -> str:
        return formats.row_text(row, fmt) if not field else as_text(formats.field_value(row, field))

    with lib.reader(ds["id"], ver["version"]) as reader:
        total = max(1, len(reader))
        if near:
            clusters = _near_clusters(reader, text_of, opts, ctx, total)
        else:
            clusters = _exact_clusters(reader, text_of, ctx, total)
    remove = {i for c in clusters for i in c["remove"]}
    rows_before = ver["rows"]
    out: dict[str, Any] = {
        "rows_before": rows_before,
        "rows_after": rows_before - len(remove),
        "removed": len(remove),
        "clusters": clusters,
        "near": near,
        "threshold": opts.threshold if near else 1.0,
        "dry_run": opts.dry_run,
        "dataset": ds,
        "version": None,
    }
    if opts.dry_run or not remove:
        return out
    kind = f"near-duplicate (Jaccard >= {out['threshold']})" if near else "exact duplicate"
    result = lib.subset(
        ds,
        ver,
        lambda pos: pos not in remove,
        operation="dedup",
        params={k: v for k, v in params.items() if k != "dry_run" and v is not None},
        summary={
            "description": f"Removed {len(remove):,} {kind} rows in {len(clusters):,} clusters.",
            "removed": len(remove),
            "clusters": len(clusters),
            "removed_sample": sorted(remove)[:SAMPLE],
        },
        empty_message=nothing_left(rows_before, "dedup"),
        check_cancelled=ctx.check_cancelled,
    )
    out.update(result)
    return out


def _exact_clusters(reader: Any, text_of: Any, ctx: Any, total: int) -> list[dict[str, Any]]:
    import json

    first: dict[bytes, int] = {}
    groups: dict[int, list[int]] = {}
    for pos, _entry, raw in reader.iter_raw():
        if pos % 8192 == 0:
            ctx.check_cancelled()
            ctx.progress(pos / total, "Hashing rows")
        key = hashlib.blake2b(
            normalize(text_of(json.loads(raw))).encode("utf-8"), digest_size=16
        ).digest()
        keep = first.setdefault(key, pos)
        if keep != pos:
            groups.setdefault(keep, [keep]).append(pos)
    return [
        {"keep": k, "remove": rows[1:], "rows": rows, "similarity": 1.0}
        for k, rows in sorted(groups.items())
    ]


def _near_clusters(
    reader: Any, text_of: Any, opts: DedupOptions, ctx: Any, total: int
) -> list[dict[str, Any]]:
    from engine.datasets.minhash import NearDupFinder

    finder = NearDupFinder(
        threshold=opts.threshold, num_perm=opts.num_perm, ngram=opts.ngram, seed=opts.seed
    )
    batch: list[str] = []
    import json

    for pos, _entry, raw in reader.iter_raw():
        batch.append(text_of(json.loads(raw)))
        if len(batch) == 8192:
            ctx.check_cancelled()
            finder.add(batch)
            batch = []
            ctx.progress(0.85 * (pos + 1) / total, f"MinHash signatures: {pos + 1:,} rows")
    if batch:
        finder.add(batch)
    ctx.progress(0.9, "Comparing candidates")
    return finder.clusters(lambda i: text_of(reader.row(i)), check_cancelled=ctx.check_cancelled)
