"""Conversation search: the FTS5 trigram index against the LIKE scan, on one generated history.

Builds N conversations of M messages (random words, about 500 characters each) in a fresh data
root, then times ``ChatStore.search`` for a few queries (a rare word, a common word, a phrase, a
miss) with the index and with the scan (a store that never built it), median of R runs each, and
prints the ratio. Both must return the same conversations.

    .venv/bin/python benchmarks/bench_chat_search.py [--conversations 2000] [--messages 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import scratch_dir

WORDS = ["river", "light", "stone", "garden", "quiet", "market", "ancient", "signal", "orange", "winter", "careful", "question", "answer", "model", "simple", "bridge", "travel", "number", "paper", "music", "window", "forest", "engine", "yellow"]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import os

    home = scratch_dir(prefix="hearth-bench-search-")
    os.environ["HEARTH_HOME"] = str(home)
    from engine.chat.store import ChatStore
    from engine.services import Services

    rng = random.Random(0)
    services = Services(home)
    store = services.chats
    db = services.db()
    t0 = time.perf_counter()
    db.execute("BEGIN")
    for c in range(args.conversations):
        conv = store.create(title=f"Conversation {c}")
        for m in range(args.messages):
            text = " ".join(rng.choice(WORDS) for _ in range(70))
            if c == args.conversations // 2 and m == 3:
                text += " the platypus incident"
            db.execute(
                "INSERT INTO messages (id, conversation_id, parent_id, role, content, state,"
                " metadata, created_at, updated_at) VALUES (?, ?, NULL, ?, ?, 'complete', '{}',"
                " ?, ?)",
                (f"m-{c}-{m}", conv["id"], "user" if m % 2 == 0 else "assistant", text, m, m),
            )
    db.execute("COMMIT")
    build_s = time.perf_counter() - t0
    scan = ChatStore(services)
    queries = {"rare word": "platypus", "common word": "garden", "phrase": "platypus incident",
               "miss": "zebra crossing"}  # fmt: skip
    report: dict = {"messages": args.conversations * args.messages, "build_s": round(build_s, 1),
                    "fts": store.fts, "queries": {}}  # fmt: skip
    for label, query in queries.items():
        timings = {}
        results = {}
        for name, s in (("index", store), ("scan", scan)):
            runs = []
            for _ in range(args.runs):
                t = time.perf_counter()
                results[name] = [r["conversation"]["id"] for r in s.search(query)]
                runs.append(time.perf_counter() - t)
            timings[name] = statistics.median(runs) * 1000
        assert results["index"] == results["scan"], label
        report["queries"][label] = {
            "index_ms": round(timings["index"], 2),
            "scan_ms": round(timings["scan"], 2),
            "speedup": round(timings["scan"] / max(timings["index"], 1e-6), 1),
            "hits": len(results["index"]),
        }
    services.close()
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['messages']:,} messages (built in {report['build_s']} s), fts={store.fts}")
        for label, r in report["queries"].items():
            print(f"  {label:12s} index {r['index_ms']:8.2f} ms  scan {r['scan_ms']:8.2f} ms  "
                  f"{r['speedup']}x  ({r['hits']} conversations)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
