"""Run ``hearth-engine`` as a user would, from a benchmark: one command, its ``--json`` answer."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def engine_json(args: list[str], env: dict[str, str]) -> Any:
    """``python -m engine ARGS --json`` with ``env``; its last stdout line, parsed. A failure
    ends the benchmark with the command's stderr."""
    cmd = [sys.executable, "-m", "engine", *args, "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
