"""Start-up benchmark: time from launching ``hearth --smoke-test`` until the window is visible and
the engine has answered ``initialize``. Target: within 2 s on a 2-core machine.

Reference, measured in the same run: a bare Python that only imports QtWidgets and shows an
empty window — the floor any PySide6 app pays. Prints figures and ratios.

    .venv/bin/python benchmarks/bench_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from scratch import scratch_dir

TARGET_S = 2.0
BARE_QT = (
    "import sys; from PySide6.QtWidgets import QApplication, QMainWindow; "
    "app = QApplication(sys.argv); w = QMainWindow(); w.show(); app.processEvents()"
)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{cmd} failed: {out.stderr[-2000:]}")
    return elapsed, out.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    env["HEARTH_HOME"] = str(scratch_dir(prefix="hearth-bench-"))
    hearth = [sys.executable, "-m", "desktop", "--smoke-test"]
    timed(
        hearth, env
    )  # first run prepares the bundled models; not what a user waits for on later starts
    wall, inner, bare = [], [], []
    for _ in range(args.runs):
        elapsed, stdout = timed(hearth, env)
        wall.append(elapsed)
        inner.append(json.loads(stdout.strip().splitlines()[-1])["elapsed_s"])
        bare.append(timed([sys.executable, "-c", BARE_QT], env)[0])
    w, i, b = statistics.median(wall), statistics.median(inner), statistics.median(bare)
    print(
        f"hearth --smoke-test, process launch to window + initialize: median {w:.2f} s over {args.runs} runs"
    )
    print(f"  of which inside the app (QApplication to initialize reply): {i:.2f} s")
    print(f"reference, bare PySide6 window:                               {b:.2f} s")
    print(
        f"ratio hearth / bare Qt: {w / b:.2f}x;  ratio to the {TARGET_S:.0f} s target: {w / TARGET_S:.2f} ({'met' if w <= TARGET_S else 'MISSED'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
