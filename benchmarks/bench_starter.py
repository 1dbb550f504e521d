"""The starter adapter against the bare bundled model on held-out document questions.

    python benchmarks/bench_starter.py [--json] [--seeds 3]

Twenty entries of the Free On-line Dictionary of Computing (Debian's ``dict-foldoc``, installed
with apt-get when missing; none of them, nor any entry naming their answers, is in the adapter's
instruction set) become twenty files in a collection; each entry's question
(``scripts/starter/heldout.py``) goes through the same code as ``hearth-engine docs ask`` with the
app's default settings (5 sources, 512-token cap, temperature 0.8), once per seed, for each model.
Per reply:

- **right span**: the answer contains the expected span (case-insensitive);
- **cited**: it cites at least one source it was given;
- **invented**: it cites a number that was not among its sources;
- **stopped**: it ended its turn before the token cap.

Targets for the starter adapter: right >= 50%, cited >= 80%, invented <= 2%, stopped >= 95%.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from scratch import scratch_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scripts" / "starter"), str(ROOT)]

TARGETS = {"right": (0.50, ">="), "cited": (0.80, ">="), "invented": (0.02, "<="), "stopped": (0.95, ">=")}  # fmt: skip
_CITE = re.compile(r"\[(\d{1,3})\]")


def ensure_foldoc() -> None:
    if not Path("/usr/share/dictd/foldoc.dict.dz").exists():
        print("installing dict-foldoc (apt-get)...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", "dict-foldoc"], check=True)


def score(reply: dict, given: int, span: str) -> dict:
    text = reply["text"]
    numbers = [int(n) for n in _CITE.findall(text)]
    return {
        "right": span.lower() in text.lower(),
        "cited": any(1 <= n <= given for n in numbers),
        "invented": any(n < 1 or n > given for n in numbers),
        "stopped": reply.get("finish_reason") != "length",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", help="data folder (default: a temporary one)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--show", action="store_true", help="print every reply")
    args = ap.parse_args()
    ensure_foldoc()
    import foldoc
    import heldout

    home = Path(args.home or str(scratch_dir(prefix="hearth-bench-starter-")))
    os.environ["HEARTH_HOME"] = str(home)
    files = home / "foldoc"
    files.mkdir(parents=True, exist_ok=True)
    entries = {head.lower(): e for e in foldoc.read() for head in e.heads}
    for term, _, _ in heldout.QUESTIONS:
        entry = entries[term.lower()]
        slug = re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-")
        (files / f"{slug}.txt").write_text(f"{entry.term}\n\n{entry.text}\n", encoding="utf-8")

    from engine.documents.answer import ask
    from engine.models.bundled import starter_model
    from engine.services import Services

    services = Services(home)
    try:
        models = services.library.ensure_bundled()
        base = next(m for m in models if m["role"] == "llm")
        adapter = starter_model(services.library)
        if "foldoc" not in {c["name"] for c in services.docs.catalog.list()}:
            engine = [sys.executable, "-m", "engine"]
            env = {**os.environ, "HEARTH_HOME": str(home)}
            subprocess.run([*engine, "docs", "create", "foldoc"], check=True, env=env, capture_output=True)  # fmt: skip
            subprocess.run([*engine, "docs", "ingest", "foldoc", str(files)], check=True, env=env, capture_output=True)  # fmt: skip
        out: dict = {}
        for label, model in (("base", base), ("starter", adapter)):
            if model is None:
                print(f"{label}: not in the library", file=sys.stderr)
                continue
            rows = []
            for seed in range(args.seeds):
                for _term, question, span in heldout.QUESTIONS:
                    reply = ask(services, question, ["foldoc"], model_id=model["id"], params={"seed": seed})  # fmt: skip
                    rows.append(score(reply, len(reply["citations"]), span))
                    if args.show:
                        print(f"[{label} {seed}] {question}\n    {reply['text'][:300]!r} ({reply.get('finish_reason')})")  # fmt: skip
            rates = {k: sum(r[k] for r in rows) / len(rows) for k in TARGETS}
            out[label] = {"replies": len(rows), **rates}
        if "starter" in out:
            got = out["starter"]
            out["targets_met"] = {k: (got[k] >= t if op == ">=" else got[k] <= t) for k, (t, op) in TARGETS.items()}  # fmt: skip
    finally:
        services.close()
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{'':10}{'right':>8}{'cited':>8}{'invented':>10}{'stopped':>9}")
        for label in ("base", "starter"):
            if label in out:
                r = out[label]
                print(f"{label:10}{r['right']:>8.0%}{r['cited']:>8.0%}{r['invented']:>10.0%}{r['stopped']:>9.0%}")  # fmt: skip
        if "targets_met" in out:
            print("targets: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in out["targets_met"].items()))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
