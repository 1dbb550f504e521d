"""Checkpoints of a training run, written atomically, read without unpickling anything.

A checkpoint is a folder ``checkpoints/step-00000040/`` holding

    trainable.safetensors   the trained weights (LoRA matrices, or every weight for full tuning)
    optimizer.safetensors   AdamW's moment tensors and step counts, keyed "<param index>.<name>"
    rng.safetensors         torch's CPU (and CUDA) random-number state, for identical dropout
    state.json              step, optimizer hyper-parameters, elapsed time -- written last

It is built under a temp name, every file fsynced, then renamed into place, and only then does
``latest.json`` (itself written atomically) point at it. A crash or a full disk at any moment
leaves the previous checkpoint as the latest; a half-written folder is ignored and removed.
Older checkpoints beyond ``keep`` are deleted after a new one is in place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from engine.core.paths import atomic_write_text, fsync_dir

_NAME = re.compile(r"^step-(\d{8})$")
STATE = "state.json"


def folder(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def write_bytes(path: Path, data: bytes) -> None:
    """Write and fsync one file of a checkpoint (a seam: tests make the disk 'fill up' here)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _save_tensors(path: Path, tensors: dict[str, Any], meta: dict[str, str] | None = None) -> None:
    from safetensors.torch import save

    clean = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    write_bytes(path, save(clean, metadata=meta))


def _load_tensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path))


def optimizer_tensors(state_dict: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An optimizer ``state_dict`` as (tensors, JSON-able rest)."""
    import torch

    tensors: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    for index, state in state_dict["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def optimizer_state_dict(tensors: dict[str, Any], rest: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in [*tensors.items(), *rest.get("scalars", {}).items()]:
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    groups = []
    for group in rest["param_groups"]:
        group = dict(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    return {"state": state, "param_groups": groups}


def rng_state() -> dict[str, Any]:
    import torch

    out = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        out["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    return out


def set_rng_state(tensors: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(tensors["cpu"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(tensors["cuda"]))


def save(
    run_dir: Path,
    step: int,
    *,
    trainable: dict[str, Any],
    optimizer: dict[str, Any],
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write the checkpoint of ``step``; returns its folder. Raises OSError (e.g. disk full)."""
    root = folder(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".step-{step:08d}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        _save_tensors(tmp / "trainable.safetensors", trainable)
        opt_tensors, opt_rest = optimizer_tensors(optimizer)
        _save_tensors(tmp / "optimizer.safetensors", opt_tensors)
        _save_tensors(tmp / "rng.safetensors", rng_state())
        body = {**state, "step": step, "optimizer": opt_rest, "saved_at": time.time()}
        write_bytes(tmp / STATE, json.dumps(body, default=_json_default).encode())
        fsync_dir(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(root)
        atomic_write_text(root / "latest.json", json.dumps({"step": step, "path": final.name}))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(root, keep)
    return final


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _complete(path: Path) -> bool:
    return (path / STATE).is_file() and (path / "trainable.safetensors").is_file()


def _prune(root: Path, keep: int) -> None:
    steps = sorted(p for p in root.iterdir() if _NAME.match(p.name) and _complete(p))
    for old in steps[: max(0, len(steps) - keep)]:
        shutil.rmtree(old, ignore_errors=True)
    for junk in root.glob(".step-*.partial-*"):
        if not _pid_alive(junk.name.rsplit("-", 1)[-1]):
            shutil.rmtree(junk, ignore_errors=True)


def _pid_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return int(pid) != os.getpid()  # our own leftovers are from a save that failed


def latest(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    root = folder(run_dir)
    try:
        pointer = json.loads((root / "latest.json").read_text(encoding="utf-8"))
        path = root / pointer["path"]
        if _complete(path):
            return path
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if not root.is_dir():
        return None
    found = sorted(p for p in root.iterdir() if _NAME.match(p.name) and _complete(p))
    return found[-1] if found else None


def load(path: Path) -> dict[str, Any]:
    """A checkpoint's parts: trainable, optimizer (a state_dict), rng, state."""
    state = json.loads((path / STATE).read_text(encoding="utf-8"))
    opt_tensors = _load_tensors(path / "optimizer.safetensors")
    return {
        "trainable": _load_tensors(path / "trainable.safetensors"),
        "optimizer": optimizer_state_dict(opt_tensors, state.pop("optimizer")),
        "rng": _load_tensors(path / "rng.safetensors"),
        "state": state,
    }
