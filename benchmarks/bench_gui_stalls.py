"""GUI stalls while a training run starts and runs: the longest the window could not respond.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui_stalls.py [--steps 12] [--json]

The real app -- MainWindow with the real engine, on a fresh data folder with the bundled Gemma --
and a 48-row dataset imported with ``hearth-engine data import``. The benchmark picks the model
and dataset in the Training panel's form and clicks *Start training*, as a user would, then
watches until the run has ended. A timer asks to run every 10 ms: how late it runs is how long
the GUI thread was blocked. A sampler thread notes the GUI thread's Python stack every 5 ms, so
each stall over the target is printed with the Hearth code it was in.

Phases: *start* (from the click to the first training step: the form, the job, the model's
conversion and loading, all while the window must stay live) and *run* (the steps). Target:
worst stall <= 50 ms in each.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from scratch import scratch_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_MS = 50
TICK_MS = 10


class Sampler(threading.Thread):
    """The GUI thread's innermost Hearth frames, every 5 ms, with the time they were seen."""

    def __init__(self, thread_id: int) -> None:
        super().__init__(daemon=True)
        self.thread_id = thread_id
        self.samples: collections.deque = collections.deque(maxlen=200_000)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.005):
            frame = sys._current_frames().get(self.thread_id)
            ours, inner = [], None
            while frame is not None:
                name = frame.f_code.co_filename
                if inner is None:
                    inner = f"{Path(name).name}:{frame.f_code.co_name}"
                if f"{os.sep}desktop{os.sep}" in name or f"{os.sep}engine{os.sep}" in name:
                    ours.append(f"{Path(name).parent.name}/{Path(name).name}:{frame.f_lineno} {frame.f_code.co_name}")  # fmt: skip
                frame = frame.f_back
            self.samples.append((time.perf_counter(), tuple(ours[:3]), inner))

    def during(self, start: float, end: float) -> list[tuple[tuple[str, ...], str | None, int]]:
        counts = collections.Counter(
            (s[1], s[2]) for s in list(self.samples) if start <= s[0] <= end
        )
        return [(ours, inner, n) for (ours, inner), n in counts.most_common(3)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    home = scratch_dir(prefix="hearth-bench-stalls-")
    os.environ["HEARTH_HOME"] = str(home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    rows = home / "stalls.jsonl"
    with rows.open("w", encoding="utf-8") as f:
        for i in range(48):
            f.write(json.dumps({"instruction": f"Count to {i % 7 + 2}.", "output": " ".join(str(n) for n in range(1, i % 7 + 3))}) + "\n")  # fmt: skip
    subprocess.run([sys.executable, "-m", "engine", "data", "import", str(rows), "--name", "stalls", "--json"],
                   check=True, capture_output=True)  # fmt: skip

    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.engine_client import EngineClient
    from desktop.main_window import MainWindow

    app = QApplication([sys.argv[0]])
    client = EngineClient(app)
    window = MainWindow(client)
    window.show()
    sampler = Sampler(threading.get_ident())
    sampler.start()
    phase = {"name": "idle"}
    stalls: list[dict] = []
    worst: dict[str, float] = collections.defaultdict(float)
    clock = QElapsedTimer()
    clock.start()
    tick = QTimer()
    tick.setInterval(TICK_MS)

    def on_tick() -> None:
        late = clock.restart() - TICK_MS
        worst[phase["name"]] = max(worst[phase["name"]], late)
        if late > TARGET_MS:
            now = time.perf_counter()
            stalls.append(
                {"phase": phase["name"], "ms": late, "start": now - late / 1000, "end": now}
            )

    tick.timeout.connect(on_tick)
    tick.start()

    def wait_until(done, seconds: float) -> bool:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            app.processEvents()
            if done():
                return True
            time.sleep(0.002)
        return False

    client.start()
    if not wait_until(lambda: client.init_reply is not None, 120):
        raise SystemExit("the engine did not start")
    window.show_panel("training")
    training = window.panels["training"]
    new = training.new_run
    training.tabs.setCurrentIndex(1)
    stalls_row = lambda: new.dataset_combo.findText("stalls", flags=Qt.MatchFlag.MatchStartsWith)  # noqa: E731
    wait_until(lambda: stalls_row() >= 0, 60)
    wait_until(
        lambda: new.model_combo.count() > 0 and new.model_combo.currentData() is not None, 60
    )
    new.dataset_combo.setCurrentIndex(stalls_row())
    new.form.editors["max_steps"].editor.setValue(args.steps)
    new.form.editors["batch_size"].editor.setValue(2)
    wait_until(lambda: False, 3)  # the plan settles
    phase["name"] = "start"
    clicked = time.perf_counter()
    new.start_button.click()
    if new.force_button.isVisible():
        new.force_button.click()
    first_step = {}
    client.sig_job_metrics.connect(lambda p: first_step.setdefault("t", time.perf_counter()))
    ended = {}
    client.sig_job_progress.connect(lambda p: p.get("job_kind") == "train.lora" and p.get("kind") == "end" and ended.setdefault("state", p.get("state")))  # fmt: skip
    wait_until(lambda: "t" in first_step or "state" in ended, 600)
    phase["name"] = "run"
    wait_until(lambda: "state" in ended, 900)
    wait_until(lambda: False, 2)  # the panel refreshes after the end
    tick.stop()
    sampler.stop.set()
    client.stop()
    out = {
        "state": ended.get("state"),
        "start_to_first_step_s": round(first_step.get("t", time.perf_counter()) - clicked, 1),
        "worst_ms": {k: int(v) for k, v in worst.items()},
        "stalls_over_target": collections.Counter(s["phase"] for s in stalls),
        "target_ms": TARGET_MS,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"run {out['state']}; click to first step {out['start_to_first_step_s']} s")
    for name in ("idle", "start", "run"):
        w = out["worst_ms"].get(name, 0)
        n = out["stalls_over_target"].get(name, 0)
        print(f"{name:6s} worst stall {w:5d} ms, {n} over {TARGET_MS} ms  (target <= {TARGET_MS} ms: {'met' if w <= TARGET_MS else 'NOT met'})")  # fmt: skip
    for stall in sorted(stalls, key=lambda s: -s["ms"])[:8]:
        print(f"\n{stall['phase']}: {stall['ms']} ms in")
        for ours, inner, n in sampler.during(stall["start"], stall["end"]):
            print(f"   {n:3d} samples  {' <- '.join(ours) or '(no Hearth frame)'}  [{inner}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
