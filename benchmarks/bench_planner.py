"""The training memory planner against measured peaks, preset by preset, on the bundled model.

For each preset (and the defaults, no preset), ``hearth-engine train plan`` gives the planner's
estimate for the bundled Gemma 3 270M, and ``hearth-engine train lora`` runs that configuration
for ``--steps`` optimizer steps on rows that fill every batch to ``seq_len`` (the case the planner
plans for: real data with shorter rows needs less). The measured figure is the run's peak RSS
(``peak_rss_mb`` in its summary: VmHWM of the process that trained, so loading, training, the
final evaluation and saving all count).

Rows are cut from the licence texts Debian ships in ``/usr/share/common-licenses`` (real text:
a short passage as the prompt, the passage after it as the answer, long enough to be cut at any
preset's ``seq_len``).

Targets: every estimate within 25% of its measured peak; every preset's estimate and measured
peak within 8 GB (a laptop with 8 GB).

    .venv/bin/python benchmarks/bench_planner.py [--steps 2] [--presets quick,balanced,...]
        [--home DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_cli import engine_json
from scratch import scratch_dir

TOLERANCE = 0.25
LAPTOP_BYTES = 8 * 2**30
LICENCES = Path("/usr/share/common-licenses")
PROMPT_WORDS, ANSWER_WORDS = 120, 1100


def licence_rows(n: int) -> list[dict[str, str]]:
    """``n`` rows: a passage of the licence texts and the words that follow it."""
    words: list[str] = []
    for name in ("GPL-3", "GPL-2", "Apache-2.0", "GFDL-1.3", "MPL-2.0", "LGPL-2.1"):
        path = LICENCES / name
        if path.is_file():
            words += path.read_text(encoding="utf-8", errors="replace").split()
    span = PROMPT_WORDS + ANSWER_WORDS
    if len(words) < span + n:
        raise SystemExit(f"too little text in {LICENCES} ({len(words)} words); install base-files")
    stride = (len(words) - span) // n
    rows = []
    for i in range(n):
        at = i * stride
        prompt = " ".join(words[at : at + PROMPT_WORDS])
        answer = " ".join(words[at + PROMPT_WORDS : at + span])
        rows.append({"instruction": "Continue this text.", "input": prompt, "output": answer})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--presets", default="quick,balanced,thorough,default")
    parser.add_argument("--home", help="data root to use (keeps the converted model between runs)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    home = Path(args.home) if args.home else scratch_dir(prefix="hearth-bench-planner-")
    env = dict(os.environ, HEARTH_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    models = engine_json(["models", "list"], env)
    model_id = next(m["id"] for m in models if m["role"] == "llm" and m.get("bundled"))
    rows_file = home / "planner-rows.jsonl"
    rows_file.write_text("".join(json.dumps(r) + "\n" for r in licence_rows(64)), "utf-8")

    results = []
    for preset in args.presets.split(","):
        chosen = [] if preset == "default" else ["--preset", preset]
        common = ["--model", model_id, *chosen]
        plan = engine_json(["train", "plan", *common], env)
        run = engine_json(["train", "lora", *common, "--dataset", str(rows_file),
                      "--max-steps", str(args.steps), "--save-every", "0", "--force"], env)  # fmt: skip
        measured = run["peak_rss_mb"] * 2**20
        estimate = plan["total_bytes"]
        results.append({
            "preset": preset, "estimate_bytes": estimate, "measured_bytes": int(measured),
            "ratio": round(estimate / measured, 3), "parts": plan["parts"],
            "within": abs(estimate / measured - 1) <= TOLERANCE,
            "fits_laptop": max(estimate, measured) <= LAPTOP_BYTES,
            "tokens_per_s": run["tokens_per_s"],
        })  # fmt: skip
        print(f"{preset}: estimate {estimate / 2**30:.2f} GB, measured {measured / 2**30:.2f} GB",
              file=sys.stderr)  # fmt: skip

    if args.json:
        print(json.dumps({"results": results, "tolerance": TOLERANCE}))
    else:
        print(f"{'preset':<10} {'estimate':>9} {'measured':>9} {'ratio':>6}  within 25%  fits 8 GB")
        for r in results:
            print(f"{r['preset']:<10} {r['estimate_bytes'] / 2**30:>7.2f}GB "
                  f"{r['measured_bytes'] / 2**30:>7.2f}GB {r['ratio']:>6.2f}  "
                  f"{'yes' if r['within'] else 'NO':<10}  {'yes' if r['fits_laptop'] else 'NO'}")  # fmt: skip
    return 0 if all(r["within"] and r["fits_laptop"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
