"""Bias lab: capture speed against optipfair 0.4.2, redraw speed, and bias-targeted pruning
against its random control, on the bundled Gemma 3 270M, measured in one run.

1. Capture: a cold ``hearth-engine serve`` process (spawned for this), ``bias.run`` on 20 pairs
   of the built-in set (all 18 layers, 7 components, ``recompute``), then the overview
   (``bias.view``): wall time from spawning the engine to the overview's answer. Target < 15 s.
   Reference, same run, same torch model: optipfair's ``visualize_bias`` on one pair and three
   layers (its default ``first_middle_last``), which runs the forward passes and draws.
2. Redraw: ``bias.view`` for the overview, a pair, the top neurons and a PCA, 20 times each, from
   the stored capture: median milliseconds. Target < 100 ms.
3. Pruning: ``bias prune`` with ``--neurons`` per block (default 16) and weight 0.5: how much the
   bias metric falls on the *held-out* pairs, against a random-neuron control of the same size,
   and perplexity on held-out Python documentation. Targets: targeted fall >= 2x the control's,
   perplexity up by at most 5%. The in-sample figure is printed beside them.

optipfair and the packages its bias module imports (seaborn, pandas, pytz) are installed beside
the benchmark (``reference_env``), never into Hearth's environment. The Python documentation comes
from Debian's ``python3.11-doc`` (installed if missing).

    .venv/bin/python benchmarks/bench_bias.py [--home DIR] [--neurons 16] [--skip-prune] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference_env
from python_docs import ensure_docs
from scratch import scratch_dir

CAPTURE_TARGET_S = 15.0
REDRAW_TARGET_MS = 100.0
REFERENCE = [("optipfair==0.4.2", "optipfair"), ("seaborn==0.13.2", "seaborn"),
             ("pandas==2.2.3", "pandas"), ("pytz==2024.2", "pytz")]  # fmt: skip


class Engine:
    def __init__(self, home: str) -> None:
        env = dict(os.environ, HEARTH_HOME=home, HEARTH_SKIP_BUNDLED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            cwd=Path(__file__).resolve().parent.parent,
        )  # fmt: skip
        self.n = 0

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, until_job: bool = False
    ) -> Any:
        self.n += 1
        rid = f"b{self.n}"
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                                          "params": params or {}}).encode() + b"\n")  # fmt: skip
        self.proc.stdin.flush()
        answer, job_id = None, None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit("hearth-engine serve exited early")
            msg = json.loads(line)
            if msg.get("id") == rid and "method" not in msg:
                if "error" in msg:
                    raise SystemExit(f"{method} failed: {msg['error']['message']}")
                answer = msg["result"]
                if not until_job:
                    return answer
                job_id = answer["job"]["id"]
            p = msg.get("params") or {}
            if job_id and msg.get("method") == "job.progress" and p.get("job_id") == job_id and p.get("kind") == "end":  # fmt: skip
                if p.get("state") != "succeeded":
                    raise SystemExit(f"{method} job {p.get('state')}: {p.get('error')}")
                return p["result"]

    def close(self) -> None:
        try:
            self.call("shutdown")
            self.proc.wait(20)
        except Exception:
            self.proc.kill()


def reference_seconds(services: Any, gemma: dict[str, Any], pair: Any) -> float:
    for spec, module in REFERENCE:
        reference_env.ensure(spec, module)
    import matplotlib

    matplotlib.use("Agg")
    from optipfair.bias import visualize_bias

    from engine.jobs.registry import SimpleContext
    from engine.pruning.pipeline import load

    lm, tok = load(services, gemma, SimpleContext(services=services))
    out = scratch_dir(prefix="optipfair-bias-")
    t0 = time.perf_counter()
    visualize_bias(lm, tok, prompt_pairs=[(pair.a, pair.b)], visualization_types=["mean_diff", "heatmap", "pca"],
                   layers="first_middle_last", output_dir=str(out))  # fmt: skip
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", help="data root to use (keeps the converted model between runs)")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--neurons", type=int, default=16)
    parser.add_argument("--skip-prune", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    home = args.home or str(scratch_dir(prefix="hearth-bench-bias-"))
    os.environ["HEARTH_HOME"] = home
    from engine.bias.pairs import builtin_set
    from engine.jobs.registry import SimpleContext
    from engine.models.gguf_to_torch import convert
    from engine.services import Services

    services = Services(Path(home))
    gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
    convert(gemma["id"], services, SimpleContext(services=services))  # setup: once per data root
    report: dict[str, Any] = {"model": gemma["name"], "pairs": args.pairs}

    t0 = time.perf_counter()
    engine = Engine(home)
    engine.call("initialize", {"protocol_version": 1})
    summary = engine.call("bias.run", {"model_id": gemma["id"], "set": "hearth-builtin",
                                       "pairs": args.pairs, "recompute": True}, until_job=True)  # fmt: skip
    engine.call("bias.view", {"run_id": summary["run_id"], "view": "overview"})
    report["capture_s"] = round(time.perf_counter() - t0, 2)
    report["capture_job_s"] = summary["seconds"]
    report["layers"], report["components"] = summary["layers"], len(summary["components"])
    views = {
        "overview": {"view": "overview"},
        "pair": {"view": "pair", "pair": 0, "component": "up"},
        "neurons": {"view": "neurons", "layer": 9, "component": "gate", "k": 20},
        "pca": {"view": "pca", "pair": 0, "layer": 9},
    }
    redraw = {}
    for name, params in views.items():
        times = []
        for _ in range(20):
            s = time.perf_counter()
            engine.call("bias.view", {"run_id": summary["run_id"], **params})
            times.append((time.perf_counter() - s) * 1000)
        redraw[name] = round(statistics.median(times), 2)
    report["redraw_ms"] = redraw
    engine.close()

    ensure_docs()
    report["optipfair_s"] = round(reference_seconds(services, gemma, builtin_set().pairs[0]), 2)
    # work done: prompt-pairs x layers x components captured
    hearth_units = args.pairs * summary["layers"] * len(summary["components"])
    reference_units = 1 * 3 * 4  # one pair, three layers, its four default components
    report["throughput_ratio"] = round((hearth_units / report["capture_s"])
                                       / (reference_units / report["optipfair_s"]), 1)  # fmt: skip

    if not args.skip_prune:
        from engine.bias.prune import run as prune

        r = prune(services, {"model_id": gemma["id"], "set": "hearth-builtin",
                             "neurons": args.neurons, "weight": 0.5}, SimpleContext(services=services))  # fmt: skip
        fall = r["heldout_bias_before"] - r["heldout_bias_after"]
        control_fall = r["heldout_bias_before"] - r["control_bias_after"]
        report["prune"] = {**{k: r[k] for k in ("neurons", "heldout_bias_before", "heldout_bias_after",
                                                 "control_bias_after", "insample_bias_before",
                                                 "insample_bias_after", "ppl_before", "ppl_after",
                                                 "ppl_control", "heldout_residual_before",
                                                 "heldout_residual_after", "control_residual_after")},
                           "heldout_fall": round(fall, 6), "control_fall": round(control_fall, 6),
                           "fall_ratio": round(fall / control_fall, 2) if control_fall > 0 else None,
                           "ppl_change": round(r["ppl_after"] / r["ppl_before"] - 1, 4)}  # fmt: skip
    services.close()
    report["meets_capture"] = report["capture_s"] < CAPTURE_TARGET_S
    report["meets_redraw"] = max(redraw.values()) < REDRAW_TARGET_MS
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['model']}: capture of {args.pairs} pairs x {report['layers']} layers x "
          f"{report['components']} components, cold engine to overview: {report['capture_s']} s "
          f"(job {report['capture_job_s']} s; target < {CAPTURE_TARGET_S:.0f} s: "
          f"{'met' if report['meets_capture'] else 'MISSED'})")  # fmt: skip
    print(f"optipfair 0.4.2 visualize_bias, 1 pair x 3 layers: {report['optipfair_s']} s; pair-layer-"
          f"components per second, Hearth / optipfair: {report['throughput_ratio']}x")  # fmt: skip
    print("redraw from the stored capture (median of 20): " + ", ".join(f"{k} {v} ms" for k, v in redraw.items())
          + f" (target < {REDRAW_TARGET_MS:.0f} ms: {'met' if report['meets_redraw'] else 'MISSED'})")  # fmt: skip
    p = report.get("prune")
    if p:
        ratio = (
            "n/a (the control did not lower it)"
            if p["fall_ratio"] is None
            else f"{p['fall_ratio']}x"
        )
        print(f"bias pruning, {p['neurons']} neurons per block: held-out bias {p['heldout_bias_before']:.5f} -> "
              f"{p['heldout_bias_after']:.5f} (fall {p['heldout_fall']:+.5f}); random control -> "
              f"{p['control_bias_after']:.5f} (fall {p['control_fall']:+.5f}); targeted / control: {ratio}")  # fmt: skip
        print(f"  in-sample (selection pairs): {p['insample_bias_before']:.5f} -> {p['insample_bias_after']:.5f}; "
              f"residual stream, held out: {p['heldout_residual_before']:.4f} -> {p['heldout_residual_after']:.4f} "
              f"(control {p['control_residual_after']:.4f})")  # fmt: skip
        ok_fall = (p["fall_ratio"] is None and p["heldout_fall"] > 0) or (p["fall_ratio"] or 0) >= 2
        print(f"  perplexity {p['ppl_before']:.2f} -> {p['ppl_after']:.2f} ({p['ppl_change']:+.1%}; control "
              f"{p['ppl_control']:.2f}); targets: fall >= 2x control {'met' if ok_fall else 'MISSED'}, "
              f"perplexity <= +5% {'met' if p['ppl_change'] <= 0.05 else 'MISSED'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
