"""One serving engine per data folder: ``engine serve`` holds an OS lock on ``<root>/engine.lock``.

Two engines on one folder would both write its database, collections and run folders. The lock
is the operating system's (``flock`` on Linux and macOS, ``msvcrt.locking`` on Windows), so it
goes away with the process however it ends -- a killed engine never leaves a stale lock. A new
engine waits a little for it (the app restarts a crashed engine while the old one may still be
exiting), then refuses with the holder's process id. The CLI's own commands do not take it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import IO

from engine.core.errors import UserError

LOCK_NAME = "engine.lock"
WAIT_S = 15.0
LOCK_OFFSET = 1 << 20  # Windows locks a byte range: one far past the text


def _try_lock(fh: IO[str]) -> bool:
    try:
        if sys.platform == "win32":
            import msvcrt

            fh.seek(LOCK_OFFSET)  # past the pid text, which a waiting engine reads
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def acquire(root: Path, *, wait_s: float = WAIT_S) -> IO[str]:
    """Hold the serving lock of ``root`` (keep the returned file open while serving)."""
    path = Path(root) / LOCK_NAME
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process's life
    deadline = time.monotonic() + wait_s
    while not _try_lock(fh):
        if time.monotonic() >= deadline:
            try:
                fh.seek(0)
                holder = fh.read(100).strip() or "another process"
            except OSError:
                holder = "another process"
            fh.close()
            raise UserError(
                f"Another Hearth engine ({holder}) is already serving the data folder {root}; "
                "close that Hearth window first, or choose another data folder."
            )
        time.sleep(0.2)
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}")
    fh.flush()
    return fh
