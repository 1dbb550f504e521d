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
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from scratch import scratch_dir

ROOT = Path(__file__).resolve().parent.parent


class PeakMemory:
    """Samples the resident memory of ``pid`` and all its descendants every 0.2 s (Linux /proc):
    the largest single process seen, and the largest sum at one moment."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.largest_kb = self.total_kb = 0
        self.largest_name = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        parents: dict[int, int] = {}
        rss: dict[int, tuple[int, str]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
            parents[int(entry)] = int(rest.split()[1])
            kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")), 0)  # fmt: skip
            rss[int(entry)] = (kb, name)
        total = 0
        for pid, (kb, name) in rss.items():
            ancestor = pid
            while ancestor not in (0, 1, self.pid) and ancestor in parents:
                ancestor = parents[ancestor]
            if ancestor != self.pid:
                continue
            total += kb
            if kb > self.largest_kb:
                self.largest_kb, self.largest_name = kb, name
        self.total_kb = max(self.total_kb, total)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="kill points drawn per test")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report_file = scratch_dir(prefix="hearth-faults-") / "report.xml"
    env = dict(os.environ, HEARTH_FAULT_TRIALS=str(args.trials), HEARTH_FAULT_SEED=str(args.seed))
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/faults", f"--junitxml={report_file}"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip
    peak = PeakMemory(proc.pid)
    output = proc.communicate()[0]
    peak.stop()
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
    report = {
        "trials_per_test": args.trials,
        "seed": args.seed,
        "trials_run": len(outcome["held"]) + len(outcome["broken"]),
        "invariants_held": len(outcome["held"]),
        "broken": outcome["broken"],
        "skipped": outcome["skipped"],
        "peak_process_rss_mb": round(peak.largest_kb / 1024, 1),
        "peak_process": peak.largest_name,
        "peak_total_rss_mb": round(peak.total_kb / 1024, 1),
        "seconds": round(seconds, 1),
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"fault suite, {args.trials} trial(s) per test, seed {args.seed}: "
              f"{report['trials_run']} trials run, {report['invariants_held']} held every invariant, "
              f"{len(outcome['broken'])} broke one, {len(outcome['skipped'])} skipped; "
              f"peak memory of one process {report['peak_process_rss_mb']} MB ({peak.largest_name}), "
              f"of all of them at once {report['peak_total_rss_mb']} MB; {report['seconds']} s")  # fmt: skip
        for name in outcome["broken"]:
            print(f"  BROKEN {name}")
        if outcome["broken"]:
            print(output[-4000:])
    return 1 if outcome["broken"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
