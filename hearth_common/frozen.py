"""How Hearth starts its own processes, from a source install or from a packaged (frozen) bundle.

A source install runs the engine and its job workers as ``python -m engine ...``. A bundle made by
PyInstaller has no Python to run modules with: ``sys.executable`` is the program itself, so the
GUI starts the bundle's ``hearth-engine`` executable (beside its own) and the engine starts its
workers as ``hearth-engine worker`` -- never the GUI again. On Linux the two programs are one
file (``hearth-engine`` links to ``hearth``: one copy of the Python archive, ~100 MB, instead of
two); what it runs is chosen by the name it was started under (``runs_engine``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ENGINE = "hearth-engine"


def is_frozen() -> bool:
    """True inside a packaged bundle (PyInstaller sets ``sys.frozen``)."""
    return bool(getattr(sys, "frozen", False))


def runs_engine(argv0: str) -> bool:
    """Whether the bundle's program was started as ``hearth-engine`` (a path, a link to it or
    the Windows ``hearth-engine.exe``), not as ``hearth``."""
    name = argv0.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return name == ENGINE or name.startswith(ENGINE + ".")


def bundle_dir() -> Path:
    """The folder of the bundle's executables (a source install: this Python's folder)."""
    return Path(sys.executable).resolve().parent


def engine_executable() -> Path:
    """The bundle's ``hearth-engine`` program, beside the running one."""
    name = ENGINE + (".exe" if sys.platform == "win32" else "")
    return bundle_dir() / name


def engine_command(*args: str) -> list[str]:
    """The command that runs ``hearth-engine ARGS``: the bundle's program, or this Python."""
    if is_frozen():
        return [str(engine_executable()), *args]
    return [sys.executable, "-m", "engine", *args]


def worker_command() -> list[str]:
    """The command that runs one job worker (``engine.jobs.worker``)."""
    if is_frozen():
        return [str(engine_executable()), "worker"]
    return [sys.executable, "-m", "engine.jobs.worker"]


CREATE_NO_WINDOW = 0x08000000  # Windows process creation flag: no console window


def no_console_flags() -> int:
    """``creationflags`` for a console child of a windowed program (0 outside Windows)."""
    return CREATE_NO_WINDOW if sys.platform == "win32" else 0


def hide_console(process: object) -> None:
    """Start a ``QProcess`` without a console window on Windows (where PySide6 has the hook)."""
    modifier = getattr(process, "setCreateProcessArgumentsModifier", None)
    if sys.platform == "win32" and modifier is not None:

        def flags(args: object) -> None:
            args.flags |= CREATE_NO_WINDOW  # type: ignore[attr-defined]

        modifier(flags)
