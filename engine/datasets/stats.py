"""Dataset statistics as data, and as matplotlib plots rendered to PNG files in the engine.

``compute_stats`` returns token-length figures (min, max, mean, percentiles, a histogram), role and
turn counts for conversations, non-empty counts per field, and the rows too long for every model.
Token counts are the stored ones (estimates from import, or exact after a filter with a model), or
recounted with ``model_id``'s tokenizer and chat template. ``plots=True`` draws the token-length
histogram and the role counts with the Agg backend (no GUI toolkit) into
``datasets/<id>/plots/`` and returns their paths: large arrays travel as files, not JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.paths import atomic_write_text
from engine.datasets import formats, tokens
from engine.datasets.library import DatasetLibrary
from engine.datasets.versions import split_range

if TYPE_CHECKING:
    from engine.services import Services

_BINS = 30


def compute_stats(
    services: Services,
    ref: str,
    *,
    version: int | None = None,
    split: str | None = None,
    model_id: str | None = None,
    plots: bool = False,
    cancelled: Any = None,
) -> dict[str, Any]:
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref, version)
    fmt = ver["format"]
    lo, hi = split_range(ver, split)
    cache = (
        lib.folder(ds["id"])
        / "plots"
        / f"v{ver['version']}-{split or 'all'}-{model_id or 'est'}.json"
    )
    if cache.exists():  # versions never change: figures (and plots) computed once still hold
        try:
            cached = json.loads(cache.read_text("utf-8"))
            drawn = cached["plots"] and all(Path(p).exists() for p in cached["plots"].values())
            if not plots or drawn:
                return cached
        except (ValueError, KeyError):
            pass
    counter = tokens.RowCounter(services, model_id, fmt) if model_id else None
    roles: dict[str, int] = {}
    turns: dict[int, int] = {}
    fields: dict[str, int] = {}
    lengths: list[int] = []
    with lib.reader(ds["id"], ver["version"]) as reader:
        stored = reader.tokens(lo, hi)
        for pos, row in reader.iter_rows(lo, hi):
            if cancelled is not None and pos % 8192 == 0 and cancelled():
                from engine.core.errors import Cancelled

                raise Cancelled(None)
            if counter is not None:
                lengths.append(counter(row))
            for key, value in row.items():
                if value not in (None, "", [], {}):
                    fields[key] = fields.get(key, 0) + 1
            rs = formats.roles(row, fmt)
            for r in rs:
                roles[r] = roles.get(r, 0) + 1
            if rs:
                t = sum(1 for r in rs if r == "user") or 1
                turns[t] = turns.get(t, 0) + 1
    if counter is None:
        lengths = list(stored)
    limit = tokens.max_library_context(services)
    out = {
        "dataset_id": ds["id"],
        "name": ds["name"],
        "version": ver["version"],
        "split": split,
        "format": fmt,
        "rows": hi - lo,
        "splits": ver.get("splits"),
        "tokens": _describe(lengths),
        "tokenizer": counter.tok.name if counter else "estimate",
        "exact_tokens": bool(counter),
        "roles": dict(sorted(roles.items(), key=lambda kv: -kv[1])),
        "turns": {str(k): v for k, v in sorted(turns.items())},
        "fields": fields,
        "too_long": sum(1 for n in lengths if n > limit),
        "context_limit": limit,
        "plots": {},
    }
    if plots:
        out["plots"] = draw_plots(
            lib.folder(ds["id"]) / "plots", ver["version"], lengths, roles, ds["name"], out
        )
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache, json.dumps(out))
    return out


def _describe(lengths: list[int]) -> dict[str, Any]:
    if not lengths:
        return {"count": 0, "min": 0, "max": 0, "mean": 0.0, "median": 0, "p90": 0, "p95": 0,
                "p99": 0, "total": 0, "histogram": {"edges": [], "counts": []}}  # fmt: skip
    import numpy as np

    arr = np.asarray(lengths, dtype=np.int64)
    counts, edges = np.histogram(arr, bins=min(_BINS, max(1, int(arr.max() - arr.min()) + 1)))
    p = np.percentile(arr, [50, 90, 95, 99])
    return {
        "count": int(arr.size),
        "min": int(arr.min()),
        "max": int(arr.max()),
        "mean": round(float(arr.mean()), 2),
        "median": float(p[0]),
        "p90": float(p[1]),
        "p95": float(p[2]),
        "p99": float(p[3]),
        "total": int(arr.sum()),
        "histogram": {"edges": [round(float(e), 2) for e in edges], "counts": counts.tolist()},
    }


def draw_plots(
    folder: Path, version: int, lengths: list[int], roles: dict[str, int], name: str, stats: dict
) -> dict[str, str]:
    """Token-length histogram and role counts as PNG files; returns ``{plot name: path}``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if lengths:
        ax.hist(lengths, bins=_BINS, color="#d9822b", edgecolor="white")
        ax.axvline(stats["tokens"]["median"], color="#333333", linestyle="--", linewidth=1,
                   label=f"median {stats['tokens']['median']:.0f}")  # fmt: skip
        ax.legend()
    ax.set_xlabel("tokens per row" + ("" if stats["exact_tokens"] else " (estimated)"))
    ax.set_ylabel("rows")
    ax.set_title(f"{name}: token lengths ({len(lengths):,} rows)")
    fig.tight_layout()
    path = folder / f"v{version}-token_lengths.png"
    fig.savefig(path)
    paths["token_lengths"] = str(path)
    if roles:
        fig = Figure(figsize=(7, 4), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        names = list(roles)
        ax.bar(names, [roles[n] for n in names], color="#4a7ab5")
        ax.set_ylabel("messages")
        ax.set_title(f"{name}: messages per role")
        fig.tight_layout()
        path = folder / f"v{version}-roles.png"
        fig.savefig(path)
        paths["roles"] = str(path)
    return paths
