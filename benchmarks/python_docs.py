"""Real text for the quality benchmarks: the reStructuredText sources of Python's documentation
as Debian's ``python3.11-doc`` ships them (installed with apt-get when missing). Benchmarks
calibrate on one folder (``tutorial``) and measure on another (``howto``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DOCS = Path("/usr/share/doc/python3.11/html/_sources")


def ensure_docs() -> None:
    if (DOCS / "tutorial").is_dir() and (DOCS / "howto").is_dir():
        return
    print("installing python3.11-doc (apt-get)...", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", "python3.11-doc"], check=True)


def read_dir(name: str) -> str:
    """Every ``.txt`` source under ``DOCS/name``, in a fixed order, joined by blank lines."""
    files = sorted((DOCS / name).rglob("*.txt"))
    return "\n\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files)
