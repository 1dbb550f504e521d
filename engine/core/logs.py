"""Engine logging: a rotating log file in the data root and a crash file for native faults.

Python logging goes to ``logs/engine.log`` (rotated at 5 MB, 3 backups) and to stderr, which
the desktop app keeps as the log tail it shows after a crash. ``faulthandler`` writes native
crashes (segfaults in llama.cpp or torch) to ``logs/crash-<pid>.txt``; the path is reported in
``initialize`` so the app can show it.
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
import os
import sys
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_crash_file = None


def setup(
    root: Path, *, name: str = "engine", to_stderr: bool = True, level: int = logging.INFO
) -> dict[str, str]:
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_file = logs / f"{name}.log"
    handlers: list[logging.Handler] = []
    try:
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_file, maxBytes=5_000_000, backupCount=3, encoding="utf-8"
            )
        )
    except OSError:
        pass
    if to_stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    root_logger = logging.getLogger()
    for handler in list(root_logger.handlers):
        root_logger.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_FORMAT))
        root_logger.addHandler(handler)
    root_logger.setLevel(level)
    crash_path = logs / f"crash-{os.getpid()}.txt"
    global _crash_file
    try:
        _crash_file = open(crash_path, "w", encoding="utf-8")  # noqa: SIM115 - must stay open for faulthandler
        faulthandler.enable(file=_crash_file, all_threads=True)
    except OSError:
        crash_path = Path("")
    return {"log_file": str(log_file), "crash_file": str(crash_path)}


def cleanup_crash_file() -> None:
    """Remove this process's crash file on a clean exit, when nothing was written to it."""
    global _crash_file
    if _crash_file is None:
        return
    faulthandler.disable()
    path = Path(_crash_file.name)
    _crash_file.close()
    _crash_file = None
    try:
        if path.stat().st_size == 0:
            path.unlink()
    except OSError:
        pass
