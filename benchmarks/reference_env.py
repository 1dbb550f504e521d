"""Reference libraries for the benchmarks, installed beside them and never into Hearth's
environment: ``pip install --no-deps --target`` a folder of their own (their dependencies are
Hearth's already), put on ``sys.path`` for the reference side of one run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / ".reference"


def ensure(spec: str, module: str, folder: Path = FOLDER) -> None:
    """Make ``module`` importable, installing ``spec`` (e.g. ``datasketch==1.6.5``) if needed."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    if importlib.util.find_spec(module) is not None:
        return
    print(f"installing {spec} for the reference side...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(folder), spec], check=True)  # fmt: skip
    importlib.invalidate_caches()
