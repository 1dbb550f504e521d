"""``contamination``: training rows sharing word n-grams with an evaluation set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.datasets import formats
from engine.datasets.clean.common import SAMPLE, nothing_left
from engine.datasets.library import DatasetLibrary
from engine.datasets.step_options import ContaminationOptions
from engine.datasets.versions import split_range

if TYPE_CHECKING:
    from engine.services import Services


def contamination(services: Services, ref: str, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Training rows that share word n-grams with the evaluation rows."""
    import numpy as np

    from engine.datasets.minhash import NearDupFinder

    opts = ContaminationOptions.from_params(params)
    n, min_overlap = opts.ngram, opts.min_overlap
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    eval_ref = opts.eval_id or ds["id"]
    eds, ever = lib.version_of(eval_ref)
    split, eval_split = opts.split, opts.eval_split
    if eds["id"] == ds["id"]:
        names = [s["name"] for s in ver.get("splits") or []]
        if not names:
            raise UserError(
                "Choose an evaluation dataset (eval_id), or split this dataset first to compare "
                "its training rows with its test rows."
            )
        split = split or ("train" if "train" in names else names[0])
        if eval_split == split:
            raise UserError("The training and evaluation splits must differ.")
    lo, hi = split_range(ver, split)
    finder = NearDupFinder(ngram=n)  # only its shingles are used: the same word ids on both sides
    with lib.reader(eds["id"], ever["version"]) as reader:
        ranges = (
            [split_range(ever, eval_split)]
            if eval_split
            else [
                (s["start"], s["start"] + s["rows"])
                for s in ever.get("splits") or []
                if s["name"] != split
            ]
            if eds["id"] == ds["id"]
            else [(0, ever["rows"])]
        )
        eval_hashes, eval_rows = [], []
        for a, b in ranges:
            for start in range(a, b, 8192):
                ctx.check_cancelled()
                rows = reader.rows(start, min(b, start + 8192))
                h, starts = finder.shingles(formats.row_text(r, ever["format"]) for r in rows)
                eval_hashes.append(h)
                eval_rows.append(np.repeat(np.arange(start, start + len(rows)), np.diff(starts)))
    if not eval_hashes:
        raise UserError("The evaluation set has no rows.")
    eh = np.concatenate(eval_hashes)
    er = np.concatenate(eval_rows)
    order = np.argsort(eh, kind="stable")
    eh, er = eh[order], er[order]
    leaking: list[dict[str, Any]] = []
    checked = 0
    with lib.reader(ds["id"], ver["version"]) as reader:
        for start in range(lo, hi, 8192):
            ctx.check_cancelled()
            ctx.progress((start - lo) / max(1, hi - lo), "Comparing n-grams")
            rows = reader.rows(start, min(hi, start + 8192))
            checked += len(rows)
            h, starts = finder.shingles(formats.row_text(r, ver["format"]) for r in rows)
            if not len(h):
                continue
            at = np.searchsorted(eh, h)
            hit = (at < len(eh)) & (eh[np.minimum(at, len(eh) - 1)] == h)
            counts = np.diff(starts)
            shared = np.add.reduceat(hit.astype(np.int64), starts[:-1]) if len(h) else np.zeros(0)
            shared = np.where(counts > 0, shared, 0)
            for i in np.flatnonzero(shared > 0):
                overlap = float(shared[i] / counts[i])
                if overlap < min_overlap:
                    continue
                first_hit = starts[i] + int(np.argmax(hit[starts[i] : starts[i + 1]]))
                leaking.append(
                    {
                        "index": start + int(i) - lo,
                        "position": start + int(i),
                        "overlap": round(overlap, 4),
                        "shared_ngrams": int(shared[i]),
                        "eval_index": int(er[min(at[first_hit], len(er) - 1)]),
                        "text": formats.row_text(rows[i], ver["format"])[:300],
                    }
                )
    out: dict[str, Any] = {
        "leaking": leaking,
        "leaking_count": len(leaking),
        "checked_rows": checked,
        "eval_rows": len(np.unique(er)),
        "ngram": n,
        "split": split,
        "eval_id": eds["id"],
        "dataset": ds,
        "version": None,
    }
    if opts.remove and leaking:
        drop = {item["position"] for item in leaking}
        result = lib.subset(
            ds,
            ver,
            lambda pos: pos not in drop,
            operation="decontaminate",
            params={k: v for k, v in params.items() if k != "remove"},
            summary={
                "description": f"Removed {len(drop):,} rows sharing {n}-grams with {eds['name']}"
                + (f" ({eval_split or 'other splits'})" if eds["id"] == ds["id"] else "")
                + ".",
                "removed": len(drop),
                "removed_sample": sorted(drop)[:SAMPLE],
            },
            empty_message=nothing_left(ver["rows"], "the contamination check"),
            check_cancelled=ctx.check_cancelled,
        )
        out.update(result)
    return out
