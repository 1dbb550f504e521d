"""Opening a 1M-row dataset: time to the first page of rows, and the memory it takes.

Builds a ``--rows`` chat dataset (messages format, two or three turns, ~80 tokens a row) in a
temporary data root with ``data.import`` -- the import time is reported too -- and then, in a fresh
engine process, does what the Datasets panel does when the user opens it: ``initialize``,
``data.list``, ``data.rows`` for the first page (50 rows), then a page in the middle and at the end
(scrolling), and a search that scans until its first match far down the table. Each request goes
through the JSON-RPC dispatcher.

Reported: seconds from the ``data.rows`` request to its answer (first page, middle, end), the
engine process's resident memory before opening the dataset and after the pages, and the dataset's
size on disk -- bounded memory means the growth stays a small fraction of that size, whatever the
row count. Target: first page in < 2 s.

    .venv/bin/python benchmarks/bench_data_open.py [--rows 1000000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import scratch_dir

REPO = Path(__file__).resolve().parent.parent

FIRST_PAGE_TARGET_S = 2.0
_CHILD = r"""
import json, sys, time, psutil
from engine.rpc.server import Dispatcher
from engine.services import Services
out = []
def call(method, params):
    n = len(out)
    t = time.perf_counter()
    d.handle_line(json.dumps({"jsonrpc": "2.0", "id": n, "method": method, "params": params}))
    while not any(isinstance(m, (bytes, str)) and json.loads(m).get("id") == n for m in out):
        time.sleep(0.0005)
    reply = next(json.loads(m) for m in out if json.loads(m).get("id") == n)
    return time.perf_counter() - t, reply
proc = psutil.Process()
d = Dispatcher(Services(), out.append)
call("initialize", {"protocol_version": 1})
rss0 = proc.memory_info().rss
t_list, listed = call("data.list", {})
ds = listed["result"]["datasets"][0]
t_first, first = call("data.rows", {"id": ds["id"], "offset": 0, "limit": 50})
n = first["result"]["total"]
t_mid, _ = call("data.rows", {"id": ds["id"], "offset": n // 2, "limit": 50})
t_end, _ = call("data.rows", {"id": ds["id"], "offset": n - 50, "limit": 50})
t_search, found = call("data.rows", {"id": ds["id"], "query": "NEEDLE-IN-THE-HAYSTACK", "limit": 1, "budget": n})
rss1 = proc.memory_info().rss
print(json.dumps({"rows": n, "list_s": t_list, "first_page_s": t_first, "middle_page_s": t_mid,
                  "end_page_s": t_end, "search_s": t_search,
                  "search_found": [r["index"] for r in found["result"]["rows"]],
                  "first_row": first["result"]["rows"][0]["row"],
                  "rss_before_bytes": rss0, "rss_after_bytes": rss1}))
d.close()
"""

_WORDS = [
    *[
        "the",
        "a",
        "model",
        "data",
        "token",
        "train",
        "answer",
        "question",
        "user",
        "assistant",
        "system",
        "prompt",
        "reply",
    ],
    *[
        "value",
        "number",
        "river",
        "city",
        "house",
        "garden",
        "lamp",
        "window",
        "paper",
        "music",
        "light",
        "storm",
        "keeper",
    ],
]


def build(path: Path, rows: int, seed: int, needle_at: int) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as fh:
        for i in range(rows):
            turns = [{"role": "user", "content": " ".join(rng.choices(_WORDS, k=rng.randint(8, 30)))},
                     {"role": "assistant", "content": " ".join(rng.choices(_WORDS, k=rng.randint(10, 50)))}]  # fmt: skip
            if i == needle_at:
                turns[1]["content"] += " NEEDLE-IN-THE-HAYSTACK"
            fh.write(json.dumps({"messages": turns, "id": i}) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    home = scratch_dir(prefix="hearth-bench-open-")
    os.environ["HEARTH_HOME"] = str(home)
    try:
        from engine.datasets.importer import run_import
        from engine.jobs.registry import SimpleContext
        from engine.services import Services

        source = home / "big.jsonl"
        t0 = time.perf_counter()
        build(source, args.rows, args.seed, needle_at=int(args.rows * 0.9))
        t_build = time.perf_counter() - t0
        services = Services(home)
        t0 = time.perf_counter()
        run_import(services, {"path": str(source), "name": "big"}, SimpleContext(services=services))
        t_import = time.perf_counter() - t0
        services.close()
        source_bytes = source.stat().st_size
        source.unlink()
        on_disk = sum(p.stat().st_size for p in (home / "datasets").rglob("*") if p.is_file())
        env = dict(os.environ, PYTHONPATH=str(REPO))
        child = subprocess.run(
            [sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, cwd=REPO, timeout=600
        )  # fmt: skip
        if child.returncode != 0:
            print(child.stderr[-3000:], file=sys.stderr)
            return 1
        m = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(home, ignore_errors=True)
    growth = m["rss_after_bytes"] - m["rss_before_bytes"]
    figures = {
        "rows": m["rows"],
        "source_bytes": source_bytes,
        "dataset_bytes_on_disk": on_disk,
        "build_s": round(t_build, 2),
        "import_s": round(t_import, 2),
        "import_rows_per_s": round(args.rows / t_import),
        "list_s": round(m["list_s"], 4),
        "first_page_s": round(m["first_page_s"], 4),
        "middle_page_s": round(m["middle_page_s"], 4),
        "end_page_s": round(m["end_page_s"], 4),
        "search_scan_s": round(m["search_s"], 3),
        "search_found": m["search_found"],
        "rss_before_mb": round(m["rss_before_bytes"] / 2**20, 1),
        "rss_after_mb": round(m["rss_after_bytes"] / 2**20, 1),
        "rss_growth_mb": round(growth / 2**20, 1),
        "rss_growth_vs_dataset": round(growth / max(1, on_disk), 4),
        "first_page_vs_target": round(m["first_page_s"] / FIRST_PAGE_TARGET_S, 4),
        "meets_target": m["first_page_s"] < FIRST_PAGE_TARGET_S,
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"dataset: {figures['rows']:,} rows, {on_disk / 2**20:.0f} MB on disk "
          f"(built in {figures['build_s']} s, imported in {figures['import_s']} s = "
          f"{figures['import_rows_per_s']:,} rows/s)")  # fmt: skip
    print(f"first page: {figures['first_page_s'] * 1000:.1f} ms "
          f"({figures['first_page_vs_target']}x of the {FIRST_PAGE_TARGET_S:.0f} s target); "
          f"middle {figures['middle_page_s'] * 1000:.1f} ms, end {figures['end_page_s'] * 1000:.1f} ms, "
          f"data.list {figures['list_s'] * 1000:.1f} ms")  # fmt: skip
    print(f"search scanning to row {figures['search_found']}: {figures['search_scan_s']} s")
    print(f"engine RSS {figures['rss_before_mb']} MB -> {figures['rss_after_mb']} MB "
          f"(+{figures['rss_growth_mb']} MB = {figures['rss_growth_vs_dataset']:.2%} of the dataset)")  # fmt: skip
    print("target met" if figures["meets_target"] else "TARGET MISSED")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
