"""What the training benchmarks share: the bundled Gemma registered in a data root and converted
to torch once, and one side of a comparison run in a fresh process of its own (so its peak RSS is
its own), answering one JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def prepare_gemma(home: Path) -> str:
    """The bundled Gemma's library id in ``home``, converted to torch (cached across runs)."""
    os.environ["HEARTH_HOME"] = str(home)
    from engine.models import gguf_to_torch
    from engine.services import Services

    services = Services(home)
    gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
    print(f"converting {gemma['name']} to torch (once)...", file=sys.stderr)
    gguf_to_torch.convert(gemma["id"], services)
    services.close()
    return gemma["id"]


def run_side(script: str, side: str, home: Path, flags: list[str]) -> dict[str, Any]:
    """``script --side SIDE --home HOME FLAGS`` offline; its last stdout line, parsed."""
    cmd = [sys.executable, script, "--side", side, "--home", str(home), *flags]
    env = dict(os.environ, HEARTH_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{side} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
