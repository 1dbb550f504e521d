"""The data root and how files in it are written.

Everything Hearth keeps lives under one folder: ``platformdirs.user_data_dir("Hearth")``,
the folder the user chose in the app's Preferences, or ``$HEARTH_HOME`` when set (portable
installs and tests). Writes that matter go through
``atomic_write_*`` or ``atomic_copy`` so a crash or a full disk never leaves a half file
under the final name.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.core.errors import Cancelled, UserError
from hearth_common import location
from hearth_common.location import os_config_dir

SUBDIRS = ("models", "collections", "datasets", "runs", "exports", "logs", "cache")
_COPY_CHUNK = 8 * 1024 * 1024


def data_root_path() -> Path:
    """Where the data root is (``HEARTH_HOME``, else the folder chosen in the app's Preferences,
    else the OS's per-user data folder: ``hearth_common.location``); not created."""
    return location.data_folder(os_config_dir(), location.os_data_dir())


def data_root() -> Path:
    """The data root, created with its standard sub-folders if missing."""
    env = os.environ.get("HEARTH_HOME")
    root = data_root_path()
    try:
        root.mkdir(parents=True, exist_ok=True)
        for name in SUBDIRS:
            (root / name).mkdir(exist_ok=True)
        probe = root / ".write-test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        from engine.core.space import full_message, is_disk_full

        if is_disk_full(exc):
            raise UserError(full_message(root)) from exc
        hint = (
            "set HEARTH_HOME to a folder you can write to"
            if env
            else "check the folder's permissions, or choose another data folder (the app's "
            "Preferences, or HEARTH_HOME)"
        )
        raise UserError(
            f"Hearth cannot write to its data folder {root} ({exc.strerror or exc}); {hint}."
        ) from exc
    return root


def config_dir() -> Path:
    """Where settings live: inside the data root in portable mode, else the OS config folder."""
    path = location.settings_folder()
    path.mkdir(parents=True, exist_ok=True)
    return path


def describe_os_error(exc: OSError, what: str) -> str:
    """A one-line, actionable message for an OSError that happened while doing ``what``."""
    from engine.core.space import full_message, is_disk_full

    if is_disk_full(exc):
        where = Path(exc.filename) if isinstance(exc.filename, str) else data_root_path()
        return f"While {what}: {full_message(where)}"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Permission denied while {what} ({exc.filename or ''}); choose a folder you can write to."
    if exc.errno == errno.ENOENT:
        return f"File not found while {what}: {exc.filename}."
    return f"Failed while {what}: {exc.strerror or exc}."


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (a no-op where directories cannot be
    opened, i.e. not POSIX)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(
    src: Path,
    dst: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> None:
    """Copy ``src`` to ``dst`` through a temp file; on any failure nothing is left behind.

    ``progress(done, total)`` is called after each chunk; ``cancelled()`` is polled between
    chunks and raises ``Cancelled`` when true.
    """
    src, dst = Path(src), Path(dst)
    total = src.stat().st_size
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".partial", dir=dst.parent)
    try:
        with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            done = 0
            while True:
                if cancelled is not None and cancelled():
                    raise Cancelled({"copied_bytes": done, "total_bytes": total})
                chunk = fin.read(_COPY_CHUNK)
                if not chunk:
                    break
                write_chunk(fout, chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            fout.flush()
            os.fsync(fout.fileno())
        shutil.copystat(src, tmp)
        os.replace(tmp, dst)
        fsync_dir(dst.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_chunk(fh, chunk: bytes) -> None:
    """One write of a copy; a seam so tests can make the disk 'fill up' mid-copy."""
    fh.write(chunk)


def copy_reporter(
    ctx: Any, rel: Path, before: int, total: int
) -> Callable[[int, int], None] | None:
    """A progress callback for one file of a multi-file copy, reporting over the whole copy to a
    job context (``None`` without one)."""
    if ctx is None:
        return None

    def report(copied: int, _file_total: int) -> None:
        done = before + copied
        ctx.progress(
            done / max(total, 1), f"Copying {rel} ({size_text(done)} of {size_text(total)})"
        )

    return report


def size_text(nbytes: int) -> str:
    return f"{nbytes / 1e9:.2f} GB" if nbytes >= 1e8 else f"{nbytes / 1e6:.1f} MB"
