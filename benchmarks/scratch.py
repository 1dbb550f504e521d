"""Scratch folders for the benchmarks: a fresh one per run, removed when the benchmark exits.

A benchmark's data folder holds converted models, runs and collections (a gigabyte or more), so
leaving one behind per run fills a disk quickly. Set ``HEARTH_BENCH_KEEP=1`` to keep them for a
look afterwards; a folder passed with ``--home`` is never removed."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path


def scratch_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if not os.environ.get("HEARTH_BENCH_KEEP"):
        atexit.register(shutil.rmtree, path, True)
    return path
