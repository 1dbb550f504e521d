"""Bias runs on disk: ``<data root>/bias/runs/<run id>/`` holds ``meta.json`` and ``arrays.npz``.

A run is keyed by model, pair set and number of pairs. ``meta.json`` records what it was made
from -- the model file's size and modification time, and a hash of the set's pairs -- so a run
made from an older model file or an edited set is recomputed, never reused. Arrays are written
with ``numpy.savez`` and read with ``allow_pickle=False``: nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.bias.capture import Captured
from engine.bias.pairs import Pair, to_jsonl
from engine.core.errors import NotFoundError, UserError
from engine.core.names import slugify
from engine.core.paths import atomic_write_text

if TYPE_CHECKING:
    from engine.services import Services

FORMAT = 2  # 2: a leading BOS is left out of the PCA


def runs_folder(services: Services) -> Path:
    return services.root / "bias" / "runs"


def run_id(model_id: str, set_name: str, n_pairs: int) -> str:
    return f"{slugify(model_id, limit=48)}--{slugify(set_name, limit=48)}--{n_pairs}"


def fingerprint(model: dict[str, Any]) -> dict[str, Any]:
    """What identifies the model's weights on disk (a file or a folder)."""
    path = Path(model["path"])
    try:
        if path.is_dir():
            files = [p for p in path.rglob("*") if p.is_file()]
            return {"path": str(path), "bytes": sum(p.stat().st_size for p in files),
                    "mtime": max((p.stat().st_mtime for p in files), default=0.0)}  # fmt: skip
        stat = path.stat()
        return {"path": str(path), "bytes": stat.st_size, "mtime": stat.st_mtime}
    except OSError as exc:
        raise UserError(f"Cannot read the model at {path}: {exc.strerror or exc}.") from None


def pairs_hash(pairs: list[Pair]) -> str:
    return hashlib.sha256(to_jsonl(pairs).encode("utf-8")).hexdigest()[:16]


def find_fresh(services: Services, model: dict[str, Any], set_name: str,
               pairs: list[Pair]) -> dict[str, Any] | None:  # fmt: skip
    """The stored run for these inputs if it is still valid, else None (and it is removed)."""
    folder = runs_folder(services) / run_id(model["id"], set_name, len(pairs))
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    fresh = (meta.get("format") == FORMAT and meta.get("fingerprint") == fingerprint(model)
             and meta.get("pairs_hash") == pairs_hash(pairs)
             and (folder / "arrays.npz").is_file())  # fmt: skip
    if not fresh:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return meta


def save(services: Services, model: dict[str, Any], set_name: str, pairs: list[Pair],
         cap: Captured) -> dict[str, Any]:  # fmt: skip
    import numpy as np

    rid = run_id(model["id"], set_name, len(pairs))
    final = runs_folder(services) / rid
    tmp = final.with_name(f".{rid}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    arrays: dict[str, Any] = {}
    for c in cap.components:
        arrays[f"mean__{c}"] = cap.mean[c]
        arrays[f"rows__{c}"] = np.concatenate(cap.rows[c], 0)
        arrays[f"neuron__{c}"] = cap.neuron[c]
    arrays["row_offsets"] = np.cumsum([0] + [len(a.rows) for a in cap.alignments])
    arrays["token_offsets"] = np.cumsum(
        [0] + [len(a.tokens_a) + len(a.tokens_b) for a in cap.alignments]
    )
    for c in cap.pca:
        arrays[f"pca__{c}"] = np.concatenate(cap.pca[c], 0)
        arrays[f"pcavar__{c}"] = cap.pca_var[c]
    try:
        np.savez(tmp / "arrays.npz", **arrays)
        by_component = {
            c: [round(float(x), 6) for x in cap.mean[c].mean(0)] for c in cap.components
        }
        overall, _residual = cap.overall()
        meta = {
            "format": FORMAT, "run_id": rid, "model_id": model["id"], "model_name": model.get("name"),
            "set": set_name, "pairs": len(pairs), "layers": cap.layers,
            "components": cap.components, "missing": cap.missing,
            "seconds": round(cap.seconds, 2), "created_at": time.time(),
            "fingerprint": fingerprint(model), "pairs_hash": pairs_hash(pairs),
            "overall_mean_diff": round(overall, 6), "by_component": by_component,
            "pair_list": [{"category": p.category, "a": p.a, "b": p.b, "note": p.note,
                           "heldout": p.heldout} for p in pairs],
            "alignments": [a.to_dict() for a in cap.alignments],
        }  # fmt: skip
        atomic_write_text(tmp / "meta.json", json.dumps(meta, ensure_ascii=False))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"Cannot save the bias run in {final.parent}: {exc.strerror or exc}. "
                        "Free some disk space and run it again.") from None  # fmt: skip
    return meta


def load_meta(services: Services, rid: str) -> dict[str, Any]:
    path = runs_folder(services) / rid / "meta.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise NotFoundError(f"No bias run {rid!r}; `hearth-engine bias runs` lists them.") from None
    except ValueError:
        raise UserError(f"The bias run {rid!r} is damaged; run it again.") from None


def load_arrays(services: Services, rid: str) -> dict[str, Any]:
    import numpy as np

    path = runs_folder(services) / rid / "arrays.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise UserError(f"The bias run {rid!r} cannot be read ({exc}); run it again.") from None


def list_runs(services: Services) -> list[dict[str, Any]]:
    base = runs_folder(services)
    out = []
    if base.is_dir():
        for folder in sorted(base.iterdir()):
            if folder.name.startswith("."):
                continue
            try:
                meta = load_meta(services, folder.name)
            except UserError:
                continue
            out.append({k: meta[k] for k in ("run_id", "model_id", "model_name", "set", "pairs",
                                             "layers", "overall_mean_diff", "created_at")})  # fmt: skip
    return out


def summary(meta: dict[str, Any], path: Path) -> dict[str, Any]:
    """What ``bias run --json`` prints."""
    keys = ("run_id", "model_id", "pairs", "layers", "components", "seconds",
            "overall_mean_diff", "by_component")  # fmt: skip
    return {**{k: meta[k] for k in keys}, "arrays": str(path / "arrays.npz")}
