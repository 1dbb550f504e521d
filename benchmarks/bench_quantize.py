"""Quantization quality: every type Hearth writes, its size and perplexity beside the f16 GGUF it
was quantized from, on real text, measured in one run.

The bundled Gemma 3 270M is converted to torch, added to the library, and written as an f16 GGUF
with ``hearth-engine models quantize ID --quant f16``; that f16 file is then quantized to q8_0,
q6_k, q5_k_m and q4_k_m by the same command (llama.cpp's quantizer). Each file's perplexity is
measured by ``hearth-engine eval perplexity`` (llama.cpp, the same windows for all) on the
``howto`` sources of Debian's ``python3.11-doc`` (nothing is calibrated on them). The bundled
Q4_K_M file the weights came from is measured beside them.

Note: the only weights on this machine are the bundled Q4_K_M ones, so the f16 file holds weights
that were 4-bit once; the q4_k_m row measures re-rounding them, which loses less than quantizing
weights that never were 4-bit would.

Target: q8_0 within 1% of f16's perplexity.

    .venv/bin/python benchmarks/bench_quantize.py [--home DIR] [--max-tokens 8192] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_cli import engine_json
from python_docs import ensure_docs, read_dir
from scratch import scratch_dir

Q8_TARGET = 1.01
TYPES = ("q8_0", "q6_k", "q5_k_m", "q4_k_m")


def torch_model(home: Path) -> tuple[str, str]:
    """(bundled GGUF id, library id of its torch conversion), converting once."""
    os.environ["HEARTH_HOME"] = str(home)
    from engine.core.errors import UserError
    from engine.models import gguf_to_torch
    from engine.services import Services

    services = Services(home)
    gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
    folder = gguf_to_torch.convert(gemma["id"], services)["torch_path"]
    try:
        made = services.library.import_model(folder, mode="reference", name="Gemma 3 270M (torch)")
    except UserError:  # added by an earlier run
        made = next(m for m in services.library.list() if m["path"] == str(folder))
    services.close()
    return gemma["id"], made["id"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", help="data folder (keeps the converted model between runs)")
    ap.add_argument("--max-tokens", type=int, default=8192)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    ensure_docs()
    home = Path(args.home) if args.home else scratch_dir(prefix="hearth-bench-quantize-")
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HEARTH_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    gemma_id, torch_id = torch_model(home)
    text = home / "howto.txt"
    text.write_text(read_dir("howto"), encoding="utf-8")

    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    f16 = engine_json(["models", "quantize", torch_id, "--quant", "f16"], env)
    rows.append({"quant": "f16", **f16, "seconds": round(time.perf_counter() - t0, 1)})
    for quant in TYPES:
        t0 = time.perf_counter()
        made = engine_json(["models", "quantize", f16["model_id"], "--quant", quant], env)
        rows.append({"quant": quant, **made, "seconds": round(time.perf_counter() - t0, 1)})
    bundled = engine_json(["models", "list"], env)
    bundled_size = next(m["size_bytes"] for m in bundled if m["id"] == gemma_id)
    rows.append({"quant": "bundled Q4_K_M", "model_id": gemma_id, "size_bytes": bundled_size,
                 "seconds": None})  # fmt: skip

    models = [a for r in rows for a in ("--model", r["model_id"])]
    measured = engine_json(["eval", "perplexity", *models, "--file", str(text),
                       "--max-tokens", str(args.max_tokens), "--seq-len", str(args.seq_len)], env)  # fmt: skip
    ppl = {r["model_id"]: r["ppl"] for r in measured["results"]}
    base_ppl, base_size = ppl[f16["model_id"]], f16["size_bytes"]
    for r in rows:
        r["perplexity"] = round(ppl[r["model_id"]], 3)
        r["ppl_ratio"] = round(ppl[r["model_id"]] / base_ppl, 4)
        r["size_ratio"] = round(r["size_bytes"] / base_size, 3)
    q8 = next(r for r in rows if r["quant"] == "q8_0")
    ok = q8["ppl_ratio"] <= Q8_TARGET
    if args.json:
        print(json.dumps({"rows": rows, "text": "python3.11-doc howto", "ok": ok,
                          "tokens": measured["results"][0]["tokens"]}))  # fmt: skip
    else:
        print(f"{'type':<16}{'size':>10}{'x f16':>8}{'perplexity':>12}{'x f16':>8}{'seconds':>9}")
        for r in rows:
            secs = "" if r["seconds"] is None else f"{r['seconds']:.1f}"
            print(f"{r['quant']:<16}{r['size_bytes'] / 2**20:>8.1f}MB{r['size_ratio']:>8.3f}"
                  f"{r['perplexity']:>12.3f}{r['ppl_ratio']:>8.4f}{secs:>9}")  # fmt: skip
        print(f"q8_0 perplexity {q8['ppl_ratio']:.4f}x f16 (target <= {Q8_TARGET}): "
              + ("met" if ok else "NOT met"))  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
