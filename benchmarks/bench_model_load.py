"""Model-load benchmark: loading the bundled Gemma as a torch model, first time vs second time.

The first load converts the GGUF with transformers (``gguf_file=``, dequantised) and writes the
safetensors cache; the second load reads the cache. Target: the second at least 10x faster.
Both are measured in this run, each in a fresh process so neither benefits from warm imports
of the other, in a fresh data root.

    .venv/bin/python benchmarks/bench_model_load.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from scratch import scratch_dir

TARGET_RATIO = 10.0

LOAD = """
import json, time
from engine.services import Services
from engine.models.gguf_to_torch import load_torch_model
import torch, transformers  # import cost is the same for both runs; keep it out of the timing
s = Services()
gemma = next(m for m in s.library.ensure_bundled() if m["role"] == "llm")
t0 = time.perf_counter()
model, tok = load_torch_model(gemma["id"], services=s)
elapsed = time.perf_counter() - t0
ids = tok("The capital of France is", return_tensors="pt").input_ids
with torch.no_grad():
    top = int(model(ids).logits[0, -1].argmax())
print(json.dumps({"seconds": elapsed, "top_token": top}))
"""


def run(env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", LOAD], capture_output=True, text=True, env=env, timeout=1800
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    env = dict(os.environ, HEARTH_HOME=str(scratch_dir(prefix="hearth-bench-load-")))
    env.setdefault("HF_HUB_OFFLINE", "1")
    first = run(env)
    second = run(env)
    ratio = first["seconds"] / second["seconds"]
    print(f"first load (GGUF -> torch conversion + cache write): {first['seconds']:.2f} s")
    print(f"second load (from the safetensors cache):            {second['seconds']:.2f} s")
    print(
        f"speed-up: {ratio:.1f}x (target {TARGET_RATIO:.0f}x: {'met' if ratio >= TARGET_RATIO else 'MISSED'})"
    )
    print(f"same next token from both loads: {first['top_token'] == second['top_token']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
