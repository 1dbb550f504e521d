"""Free space in the data folder: checked before work that writes, and the one message a full
disk gets wherever it surfaces.

The embedded Qdrant writes its segments through memory maps: on a full disk a write into a map
is not an error that can be caught but SIGBUS, which ends the process. So work that writes
checks first, with a margin (``MARGIN_BYTES``) for the store's own growth, and ingestion checks
again before each batch it stores. Everywhere else an ``ENOSPC``/``EDQUOT`` that still happens is
turned into the same message (``is_disk_full`` + ``full_message``), never a traceback.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

from engine.core.errors import UserError
from hearth_common.units import human_bytes

MARGIN_BYTES = 64 * 1024 * 1024
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")


class DiskFull(UserError):
    """The data folder's disk has too little room for the work asked for."""


def _existing(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def mount_point(path: Path) -> Path:
    path = _existing(path)
    while not os.path.ismount(path) and path.parent != path:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    return int(shutil.disk_usage(_existing(path)).free)


def full_message(path: Path, need: int | None = None) -> str:
    """ "The data folder on /mnt/x is full: ...; free N or move it" (with what is free now)."""
    free = free_bytes(path)
    short = max(0, (need or 0) + MARGIN_BYTES - free) if need is not None else MARGIN_BYTES
    return (
        f"The data folder on {mount_point(path)} is full ({human_bytes(free)} free"
        + (f", this needs about {human_bytes(need + MARGIN_BYTES)}" if need is not None else "")
        + f"): free {human_bytes(max(short, 1024 * 1024))} or more there, or move the data folder "
        "(HEARTH_HOME) to a disk with room, then try again."
    )


def require_free(path: Path, need: int = 0) -> None:
    """Raise ``DiskFull`` unless ``need`` bytes plus the margin are free where ``path`` lives."""
    if free_bytes(path) < need + MARGIN_BYTES:
        raise DiskFull(full_message(path, need))


def is_disk_full(exc: BaseException) -> bool:
    """An ENOSPC/EDQUOT/EFBIG, or a short write that lost its errno on the way (numpy's
    ``tofile``, which the GGUF writer uses, says only "8192 requested and 6624 written")."""
    if not isinstance(exc, OSError):
        return False
    if exc.errno is None and _SHORT_WRITE.search(str(exc)):
        return True
    return exc.errno in FULL_ERRNOS


def as_user_error(exc: OSError, path: Path | None = None) -> DiskFull:
    """The ``DiskFull`` for an ``ENOSPC`` raised while writing ``path`` (or the file it names)."""
    where = path or (Path(exc.filename) if isinstance(exc.filename, str) else Path.cwd())
    return DiskFull(full_message(where))
