"""Train the starter adapter with Hearth's own CLI and put it in place.

    python scripts/starter/train.py [--home DIR]

Runs, in a data folder of its own (default: a temporary one):

    hearth-engine train lora --model <bundled Gemma> --dataset engine/models/starter/instructions.jsonl \\
        --name "Hearth starter" <the options of engine.models.starter.RECIPE> --json
    hearth-engine export gguf <run> --adapter --json

and copies the exported LoRA GGUF to ``engine/models/starter/hearth-starter.gguf``. About 25
minutes on two CPU cores. Then ``python benchmarks/bench_starter.py`` measures it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.models import starter  # noqa: E402


def hearth(home: Path, *args: str) -> Any:
    env = {**os.environ, "HEARTH_HOME": str(home)}
    done = subprocess.run([sys.executable, "-m", "engine", *args, "--json"], env=env,
                          check=True, stdout=subprocess.PIPE, text=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", help="data folder (default: a temporary one)")
    args = ap.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="hearth-starter-"))
    models = hearth(home, "models", "list")
    gemma = next(m for m in models if m["bundled"] and m["role"] == "llm")
    options = [f"--{key.replace('_', '-')}={value}" for key, value in starter.RECIPE.items()]
    run = hearth(home, "train", "lora", "--model", gemma["id"], "--dataset",
                 str(starter.INSTRUCTIONS), "--name", starter.NAME, *options)  # fmt: skip
    exported = hearth(home, "export", "gguf", run["run_id"], "--adapter")
    shutil.copyfile(exported["path"], starter.ADAPTER_FILE)
    size = starter.ADAPTER_FILE.stat().st_size
    print(json.dumps({"run": run, "adapter": str(starter.ADAPTER_FILE), "size_bytes": size}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
