"""Near-duplicate removal benchmark: MinHash + LSH on 100k rows of about 200 tokens.

Builds a synthetic corpus in a temporary data root: ``--rows`` documents of ``--words`` words drawn
from a Zipf-distributed vocabulary (so common words recur as in real text), of which ``--planted``
are near-copies of earlier documents with a few words replaced, inserted or deleted (Jaccard
similarity of their 3-gram shingles about 0.85-0.95). The corpus is imported as a dataset, then
``data.dedup`` runs with ``near=True`` at ``--threshold`` (the same code path as the GUI and the
CLI), and the rows it would remove are compared with the planted copies.

Reported: seconds for the dedup step (reading rows, signatures, LSH, exact check of candidates),
rows per second, candidate pairs, and precision / recall on the planted near-duplicates.
Targets on the 2-core reference machine: <= 60 s, precision and recall >= 0.95.

Baseline, in the same run on the same rows: ``datasketch`` (MinHash with the same 128
permutations and word 3-gram shingles, ``MinHashLSH`` at the same threshold; each row queried
against the rows before it, a hit removes the later row), installed beside the benchmark
(``reference_env``). Its time counts signatures and LSH only -- no reading from the dataset store
and no exact check -- and the ratio ``hearth_s / datasketch_s`` is printed; Hearth's hand-written
MinHash is kept only while that ratio stays below 1 at equal or better precision and recall.

    .venv/bin/python benchmarks/bench_data_neardup.py [--rows 100000] [--planted 5000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import scratch_dir

DATASKETCH = "datasketch==1.10.0"
SECONDS_TARGET = 60.0
QUALITY_TARGET = 0.95


def build_corpus(path: Path, rows: int, planted: int, words: int, seed: int) -> set[int]:
    """Write the JSONL corpus; returns the row indexes of the planted near-copies."""
    import numpy as np

    rng = np.random.default_rng(seed)
    vocab_size = 30_000
    ranks = np.arange(1, vocab_size + 1)
    probs = 1.0 / ranks**1.05
    probs /= probs.sum()
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(2, 7, size=vocab_size)  # short words: about one token each
    vocab = np.array(["".join(rng.choice(letters, size=n)) for n in lengths])
    originals = rows - planted
    ids = rng.choice(vocab_size, size=(originals, words), p=probs)
    docs = [" ".join(vocab[row]) for row in ids]
    py = random.Random(seed)
    copies = set()
    for _ in range(planted):
        src = py.randrange(originals)
        tokens = docs[src].split()
        for _edit in range(py.randint(2, 4)):  # a few word-level edits: typos, rewordings
            kind = py.random()
            at = py.randrange(len(tokens))
            if kind < 0.5:
                tokens[at] = vocab[py.randrange(vocab_size)]
            elif kind < 0.75:
                tokens.insert(at, vocab[py.randrange(vocab_size)])
            elif len(tokens) > 10:
                del tokens[at]
        copies.add(len(docs))
        docs.append(" ".join(tokens))
    with open(path, "w", encoding="utf-8") as fh:
        for text in docs:
            fh.write(json.dumps({"text": text}) + "\n")
    return copies


def datasketch_dedup(path: Path, threshold: float, num_perm: int = 128) -> tuple[set[int], float]:
    """The rows datasketch would remove (later members of near-duplicate pairs), and seconds."""
    from datasketch import MinHash, MinHashLSH

    texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    removed: set[int] = set()
    for i, text in enumerate(texts):
        words = text.split()
        grams = [" ".join(words[k : k + 3]).encode() for k in range(max(1, len(words) - 2))]
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch(grams)
        if lsh.query(m):
            removed.add(i)
        lsh.insert(i, m, check_duplication=False)
    return removed, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--planted", type=int, default=5_000)
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-baseline", action="store_true", help="skip the datasketch run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    home = scratch_dir(prefix="hearth-bench-neardup-")
    os.environ["HEARTH_HOME"] = str(home)
    try:
        from engine.datasets.clean import dedup
        from engine.datasets.importer import run_import
        from engine.jobs.registry import SimpleContext
        from engine.services import Services

        t0 = time.perf_counter()
        corpus = home / "corpus.jsonl"
        planted = build_corpus(corpus, args.rows, args.planted, args.words, args.seed)
        t_build = time.perf_counter() - t0
        services = Services(home)
        ctx = SimpleContext(services=services)
        t0 = time.perf_counter()
        imported = run_import(services, {"path": str(corpus), "name": "corpus"}, ctx)
        t_import = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = dedup(
            services, "corpus", {"near": True, "threshold": args.threshold, "dry_run": True}, ctx
        )
        t_dedup = time.perf_counter() - t0
        removed = {r for c in result["clusters"] for r in c["remove"]}
        hits = len(removed & planted)
        precision = hits / len(removed) if removed else 0.0
        recall = hits / len(planted) if planted else 1.0
        tokens = imported["dataset"]["rows"]
        from engine.datasets.library import DatasetLibrary

        with DatasetLibrary(services).reader(imported["dataset"]["id"], 1) as reader:
            mean_tokens = sum(reader.tokens()) / max(1, tokens)
        figures = {
            "rows": args.rows,
            "planted": len(planted),
            "mean_tokens_per_row": round(mean_tokens, 1),
            "threshold": args.threshold,
            "build_s": round(t_build, 2),
            "import_s": round(t_import, 2),
            "dedup_s": round(t_dedup, 2),
            "rows_per_s": round(args.rows / t_dedup),
            "clusters": len(result["clusters"]),
            "removed": len(removed),
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "target_seconds": SECONDS_TARGET,
            "time_vs_target": round(t_dedup / SECONDS_TARGET, 3),
            "meets_targets": t_dedup <= SECONDS_TARGET
            and precision >= QUALITY_TARGET
            and recall >= QUALITY_TARGET,
        }
        if not args.no_baseline:
            import reference_env

            reference_env.ensure(DATASKETCH, "datasketch")
            ds_removed, ds_s = datasketch_dedup(corpus, args.threshold)
            ds_hits = len(ds_removed & planted)
            figures.update(
                datasketch_s=round(ds_s, 2),
                datasketch_precision=round(ds_hits / len(ds_removed), 4) if ds_removed else 0.0,
                datasketch_recall=round(ds_hits / len(planted), 4) if planted else 1.0,
                ratio_vs_datasketch=round(t_dedup / ds_s, 3),
            )
        services.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"corpus: {figures['rows']:,} rows, ~{figures['mean_tokens_per_row']} tokens each, "
          f"{figures['planted']:,} planted near-copies (built in {figures['build_s']} s, "
          f"imported in {figures['import_s']} s)")  # fmt: skip
    print(f"near-dup (threshold {args.threshold}): {figures['dedup_s']} s "
          f"({figures['rows_per_s']:,} rows/s; {figures['time_vs_target']}x of the "
          f"{SECONDS_TARGET:.0f} s target)")  # fmt: skip
    print(f"clusters {figures['clusters']:,}, rows removed {figures['removed']:,}")
    print(f"precision {figures['precision']:.4f}, recall {figures['recall']:.4f} "
          f"(target >= {QUALITY_TARGET})")  # fmt: skip
    if "datasketch_s" in figures:
        print(f"datasketch {DATASKETCH.split('==')[1]}: {figures['datasketch_s']} s, precision "
              f"{figures['datasketch_precision']:.4f}, recall {figures['datasketch_recall']:.4f}; "
              f"Hearth / datasketch time ratio {figures['ratio_vs_datasketch']}")  # fmt: skip
    print("targets met" if figures["meets_targets"] else "TARGETS MISSED")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
