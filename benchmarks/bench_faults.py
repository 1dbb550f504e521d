"""Fault-injection benchmark: runs the fault suite (tests/faults) with more trials than CI does
and prints how many trials ran, how many invariants held, and the peak memory of any process the
suite started (engines, workers, CLI commands: the largest resident set among them).

Each test checks its invariants after a SIGKILL at a random point (training, streaming chat,
dataset import, ingestion), on a full disk (a real tmpfs, where the machine lets it mount one),
or on a generated corpus of hostile files; a trial is one test at one drawn kill point.

    .venv/bin/python benchmarks/bench_faults.py [--trials 5] [--seed 1234] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="kill points drawn per test")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report_file = Path(tempfile.mkdtemp(prefix="hearth-faults-")) / "report.xml"
    env = dict(os.environ, HEARTH_FAULT_TRIALS=str(args.trials), HEARTH_FAULT_SEED=str(args.seed))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/faults", f"--junitxml={report_file}"],
                          cwd=ROOT, env=env, capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - started
    cases = ET.parse(report_file).getroot().iter("testcase")
    outcome: dict[str, list[str]] = {"held": [], "broken": [], "skipped": []}
    for case in cases:
        name = f"{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome["broken"].append(name)
        elif case.find("skipped") is not None:
            outcome["skipped"].append(name)
        else:
            outcome["held"].append(name)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest descendant
    report = {
        "trials_per_test": args.trials,
        "seed": args.seed,
        "trials_run": len(outcome["held"]) + len(outcome["broken"]),
        "invariants_held": len(outcome["held"]),
        "broken": outcome["broken"],
        "skipped": outcome["skipped"],
        "peak_process_rss_mb": round(peak_kb / 1024, 1),
        "seconds": round(seconds, 1),
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"fault suite, {args.trials} trial(s) per test, seed {args.seed}: "
              f"{report['trials_run']} trials run, {report['invariants_held']} held every invariant, "
              f"{len(outcome['broken'])} broke one, {len(outcome['skipped'])} skipped; "
              f"peak memory of any process {report['peak_process_rss_mb']} MB; {report['seconds']} s")  # fmt: skip
        for name in outcome["broken"]:
            print(f"  BROKEN {name}")
        if outcome["broken"]:
            print(done.stdout[-4000:])
    return 1 if outcome["broken"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
