"""The numbers behind every view of a bias run, drawn from its stored arrays (never the model).

- ``overview``: component x layer mean |a - b|, over the whole set, one category, the selection or
  held-out part, or one pair;
- ``pair``: aligned rows (tokens, differing ones marked) x layer for one component;
- ``neurons``: the top-k neurons of a layer and component by token-pooled |a - b|, with each
  one's score in every category;
- ``pca``: both prompts' tokens of one pair on a layer's first two principal components;
- ``compare``: the overview of two runs of the same set side by side and their difference.

A run's arrays are kept in memory after the first view (a few per process), so redrawing any
view is a slice of arrays already loaded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from engine.bias import store
from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services

_CACHE: OrderedDict[tuple[str, str], tuple[dict, dict]] = OrderedDict()
_LOCK = threading.Lock()
_KEEP = 4


def loaded(services: Services, run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(meta, arrays) of a run, from memory when it was read before and has not changed since."""
    meta = store.load_meta(services, run_id)
    key = (str(services.root), run_id)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0].get("created_at") == meta.get("created_at"):
            _CACHE.move_to_end(key)
            return hit
    arrays = store.load_arrays(services, run_id)
    with _LOCK:
        _CACHE[key] = (meta, arrays)
        while len(_CACHE) > _KEEP:
            _CACHE.popitem(last=False)
    return meta, arrays


def _pair_indexes(meta: dict[str, Any], *, pair: int | None, category: str | None,
                  part: str | None) -> list[int]:  # fmt: skip
    pairs = meta["pair_list"]
    if pair is not None:
        if not 0 <= pair < len(pairs):
            raise UserError(f"pair must be from 0 to {len(pairs) - 1}.")
        return [pair]
    chosen = list(range(len(pairs)))
    if category is not None:
        chosen = [i for i in chosen if pairs[i]["category"] == category]
        if not chosen:
            cats = sorted({p["category"] for p in pairs})
            raise UserError(f"No pairs of category {category!r} in this run; it has {', '.join(cats)}.")  # fmt: skip
    if part in ("selection", "heldout"):
        want = part == "heldout"
        chosen = [i for i in chosen if pairs[i]["heldout"] == want]
        if not chosen:
            raise UserError(f"This run has no {part} pairs{' in ' + category if category else ''}.")
    elif part not in (None, "all"):
        raise UserError("part must be all, selection or heldout.")
    return chosen


def _component(meta: dict[str, Any], component: str) -> str:
    if component not in meta["components"]:
        why = meta.get("missing", {}).get(component)
        raise UserError(
            f"This run has no {component!r} component" + (f": {why}." if why else ".")
            + f" It has {', '.join(meta['components'])}."
        )  # fmt: skip
    return component


def overview(services: Services, run_id: str, *, pair: int | None = None,
             category: str | None = None, part: str | None = None) -> dict[str, Any]:  # fmt: skip
    meta, arrays = loaded(services, run_id)
    idx = _pair_indexes(meta, pair=pair, category=category, part=part)
    matrix = [[float(v) for v in arrays[f"mean__{c}"][idx].mean(0)] for c in meta["components"]]
    return {"run_id": run_id, "components": meta["components"], "layers": meta["layers"],
            "pairs": idx, "matrix": matrix}  # fmt: skip


def pair_view(services: Services, run_id: str, *, pair: int, component: str) -> dict[str, Any]:
    meta, arrays = loaded(services, run_id)
    _pair_indexes(meta, pair=pair, category=None, part=None)
    _component(meta, component)
    lo, hi = int(arrays["row_offsets"][pair]), int(arrays["row_offsets"][pair + 1])
    al = meta["alignments"][pair]
    return {"run_id": run_id, "pair": meta["pair_list"][pair], "component": component,
            "labels": al["labels"], "differs": [r["differs"] for r in al["rows"]],
            "equal_length": al["equal_length"],
            "matrix": [[float(v) for v in row] for row in arrays[f"rows__{component}"][lo:hi]]}  # fmt: skip


def neurons(services: Services, run_id: str, *, layer: int, component: str, k: int = 20,
            part: str | None = None) -> dict[str, Any]:  # fmt: skip
    meta, arrays = loaded(services, run_id)
    _component(meta, component)
    if not 0 <= layer < meta["layers"]:
        raise UserError(f"layer must be from 0 to {meta['layers'] - 1}.")
    scores = arrays[f"neuron__{component}"][:, layer].astype("float32")  # [P, W]
    idx = _pair_indexes(meta, pair=None, category=None, part=part)
    overall = scores[idx].mean(0)
    k = max(1, min(int(k), overall.shape[0]))
    top = overall.argsort()[::-1][:k]
    cats = sorted({p["category"] for p in meta["pair_list"]})
    by_cat = {}
    for c in cats:
        members = [i for i in idx if meta["pair_list"][i]["category"] == c]
        if members:
            by_cat[c] = [float(v) for v in scores[members].mean(0)[top]]
    return {"run_id": run_id, "layer": layer, "component": component, "width": int(overall.shape[0]),
            "neurons": [int(i) for i in top], "scores": [float(overall[i]) for i in top],
            "by_category": by_cat}  # fmt: skip


def pca_view(services: Services, run_id: str, *, pair: int, layer: int,
             component: str = "residual") -> dict[str, Any]:  # fmt: skip
    meta, arrays = loaded(services, run_id)
    _pair_indexes(meta, pair=pair, category=None, part=None)
    if f"pca__{component}" not in arrays:
        raise UserError("PCA is kept for the residual stream, the attention output and the MLP output.")  # fmt: skip
    if not 0 <= layer < meta["layers"]:
        raise UserError(f"layer must be from 0 to {meta['layers'] - 1}.")
    lo, hi = int(arrays["token_offsets"][pair]), int(arrays["token_offsets"][pair + 1])
    coords = arrays[f"pca__{component}"][lo:hi, layer]
    al = meta["alignments"][pair]
    n_a = len(al["tokens_a"])
    return {"run_id": run_id, "pair": meta["pair_list"][pair], "layer": layer, "component": component,
            "tokens_a": al["tokens_a"], "tokens_b": al["tokens_b"],
            "a": [_point(x, y) for x, y in coords[:n_a]],
            "b": [_point(x, y) for x, y in coords[n_a:]],
            "rows": al["rows"],
            "explained": [float(v) for v in arrays[f"pcavar__{component}"][pair, layer]]}  # fmt: skip


def _point(x: float, y: float) -> list[float] | None:
    """A token's place, or None for one left out of the fit (a leading BOS)."""
    return None if x != x or y != y else [float(x), float(y)]


def compare(services: Services, run_a: str, run_b: str, *, part: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Two runs of the same pairs on two models with the same tokenizer: overviews and B - A."""
    meta_a, _ = loaded(services, run_a)
    meta_b, _ = loaded(services, run_b)
    if meta_a["pairs_hash"] != meta_b["pairs_hash"]:
        raise UserError(f"{run_a} and {run_b} were captured on different pairs; run both models "
                        "on the same set and number of pairs.")  # fmt: skip
    tokens_a = [a["tokens_a"] + a["tokens_b"] for a in meta_a["alignments"]]
    tokens_b = [a["tokens_a"] + a["tokens_b"] for a in meta_b["alignments"]]
    if tokens_a != tokens_b:
        raise UserError(f"{meta_a['model_name']} and {meta_b['model_name']} tokenize the prompts "
                        "differently, so their positions do not correspond; compare models that "
                        "share a tokenizer (a model and its pruned or fine-tuned versions).")  # fmt: skip
    if meta_a["layers"] != meta_b["layers"]:
        raise UserError(f"{meta_a['model_name']} has {meta_a['layers']} layers and "
                        f"{meta_b['model_name']} {meta_b['layers']}; the maps compare layer by "
                        "layer, so depth-pruned models cannot be compared this way.")  # fmt: skip
    a = overview(services, run_a, part=part)
    b = overview(services, run_b, part=part)
    common = [c for c in a["components"] if c in b["components"]]
    ma = [a["matrix"][a["components"].index(c)] for c in common]
    mb = [b["matrix"][b["components"].index(c)] for c in common]
    counted = [i for i, c in enumerate(common) if c != "residual"]
    mean_a = sum(sum(ma[i]) for i in counted) / max(1, len(counted) * a["layers"])
    mean_b = sum(sum(mb[i]) for i in counted) / max(1, len(counted) * b["layers"])
    return {"run_a": run_a, "run_b": run_b, "model_a": meta_a["model_id"],
            "model_b": meta_b["model_id"], "components": common, "layers": a["layers"],
            "a": ma, "b": mb, "difference": [[y - x for x, y in zip(ra, rb, strict=True)]
                                             for ra, rb in zip(ma, mb, strict=True)],
            "overall_a": round(mean_a, 6), "overall_b": round(mean_b, 6),
            "change": round((mean_b - mean_a) / mean_a, 4) if mean_a else None}  # fmt: skip
