"""Where Hearth's data folder is, for the app and the engine alike.

``$HEARTH_HOME`` when set (portable installs, tests); else the folder the user chose in the
desktop app's Preferences, remembered in ``data-folder.txt`` in the OS's per-user config folder
(outside the data folder, which it names); else the OS's per-user data folder. The choice takes
effect at the next start of the app and for every later command. Settings files (the window's,
the local API's) live in ``settings_folder()``: ``$HEARTH_HOME/config`` when that is set, else the
same OS config folder.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_NAME = "data-folder.txt"
APP = "Hearth"


def os_config_dir() -> Path:
    """The OS's per-user config folder for Hearth (where the chosen data folder is remembered)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def os_data_dir() -> Path:
    """The OS's per-user data folder for Hearth: the data folder unless another is chosen."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def settings_folder() -> Path:
    """Where settings files live (not created): inside the data folder in portable mode
    (``$HEARTH_HOME``), else the OS config folder."""
    env = os.environ.get("HEARTH_HOME")
    return Path(env).expanduser() / "config" if env else os_config_dir()


def choice_file(config_dir: Path) -> Path:
    return Path(config_dir) / FILE_NAME


def chosen_folder(config_dir: Path) -> Path | None:
    """The folder chosen in Preferences, if any (an unreadable choice is no choice)."""
    try:
        text = choice_file(config_dir).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return Path(text).expanduser() if text else None


def choose_folder(config_dir: Path, folder: Path | None) -> None:
    """Remember ``folder`` as the data folder (None: back to the default)."""
    target = choice_file(config_dir)
    if folder is None:
        target.unlink(missing_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(str(Path(folder).expanduser().absolute()) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def data_folder(config_dir: Path, default: Path) -> Path:
    env = os.environ.get("HEARTH_HOME")
    if env:
        return Path(env).expanduser()
    return chosen_folder(config_dir) or Path(default)


def current_folder() -> Path:
    """The data folder in effect now (``HEARTH_HOME``, the chosen one, or the OS's)."""
    return data_folder(os_config_dir(), os_data_dir())


def unwritable(folder: Path) -> str | None:
    """Why Hearth cannot keep its data in ``folder`` (created if missing), or None if it can."""
    probe = Path(folder) / ".write-test"
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        return f"Hearth cannot write to its data folder {folder} ({exc.strerror or exc})"
    return None


def env_folder() -> bool:
    """True when ``HEARTH_HOME`` decides the data folder (no choice in the app applies)."""
    return bool(os.environ.get("HEARTH_HOME"))
