"""Moving a 100k-chunk collection to a Qdrant server and back: chunks/s, time to the first search,
and the copy's speed against qdrant-client writing the same points itself.

The collection is ``bench_docs_search.py``'s (built once and cached under --cache: 100k chunks,
BM25 and MiniLM vectors, real payloads), copied to a scratch data folder for each run since a move
deletes the copy it leaves. No Qdrant server runs on this machine, so the "server" is
qdrant-client's local mode on disk (``QdrantClient(path=...)``): the same client calls a server
gets, without the network. Reported:

- hearth move:  ``docs.move`` to the server (copy page by page with a resume point after each,
                flush, checks: counts, chunks per file, 16 sample searches; switch; drop)
- reference:    the same pages read from the embedded shard and upserted with qdrant-client
                directly into a fresh collection (no resume points, no checks)
- first search: the first search on the moved collection, right after the switch
- back:         ``docs.move`` to the embedded store

    .venv/bin/python benchmarks/bench_docs_move.py [--chunks 100000] [--json]

One run (100,000 chunks, two cores): to the server 590 chunks/s (169 s), qdrant-client's own
upserts 589 chunks/s (1.002x), first search 668 ms (local mode searches by brute force); back to
the embedded store 3,238 chunks/s (31 s), first search 2.6 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_docs_search import build
from scratch import scratch_dir

URL = "http://bench.local:6333"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--embedded", type=int, default=5_000)
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "hearth-bench-docs-search"))  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    cache = Path(args.cache)
    built = cache / "built.json"
    if not built.is_file() or json.loads(built.read_text())["chunks"] != args.chunks:
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        os.environ["HEARTH_HOME"] = str(cache)
        build(cache, args.chunks, min(args.embedded, args.chunks))
    home = scratch_dir(prefix="hearth-bench-docs-move-")
    shutil.copytree(cache, home, dirs_exist_ok=True)
    os.environ["HEARTH_HOME"] = str(home)
    server_dir = home / "qdrant-server"

    from qdrant_client import QdrantClient
    from qdrant_client import models as m

    from engine.documents import move
    from engine.documents.store.base import DENSE, SPARSE
    from engine.documents.store.server import ServerStore
    from engine.jobs.registry import SimpleContext
    from engine.services import Services

    client = QdrantClient(path=str(server_dir))
    ServerStore.client = lambda self: client  # type: ignore[method-assign]
    ServerStore.close = lambda self: None  # type: ignore[method-assign]
    services = Services(home)
    docs = services.docs
    collection = docs.catalog.get("Bench")
    source = docs.store(collection)
    n = source.count()

    # the reference: the same pages, written by qdrant-client itself
    client.create_collection("reference", vectors_config={DENSE: m.VectorParams(size=384, distance=m.Distance.COSINE)},
                             sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)})  # fmt: skip
    t0 = time.perf_counter()
    offset = None
    while True:
        points, offset = source.scroll(offset, move.PAGE)
        client.upsert("reference", wait=True, points=[
            m.PointStruct(id=p.id, payload=p.payload, vector={
                DENSE: p.dense, SPARSE: m.SparseVector(indices=p.sparse.indices, values=p.sparse.values)})
            for p in points])  # fmt: skip
        if offset is None or not points:
            break
    reference_s = time.perf_counter() - t0
    client.delete_collection("reference")

    there = move.run_move(services, {"collection": collection["id"], "to": URL}, SimpleContext(services=services))  # fmt: skip
    back = move.run_move(services, {"collection": collection["id"], "to": None}, SimpleContext(services=services))  # fmt: skip
    docs.close()
    services.close()
    client.close()
    report = {
        "chunks": n,
        "server": "qdrant-client local mode on disk (no Qdrant server on this machine)",
        "to_server": there,
        "back": back,
        "reference_seconds": round(reference_s, 2),
        "reference_chunks_per_s": round(n / reference_s, 1),
        "copy_vs_reference": round(reference_s / there["copy_seconds"], 3),
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{n:,} chunks; the server is {report['server']}")
    print(f"to the server:   {there['chunks_per_s']:>9,.0f} chunks/s ({there['copy_seconds']} s), "
          f"checked on {there['verified']['searches']} searches; first search {there['first_search_ms']} ms")  # fmt: skip
    print(f"qdrant-client:   {report['reference_chunks_per_s']:>9,.0f} chunks/s ({report['reference_seconds']} s) "
          f"-> hearth's copy at {report['copy_vs_reference']}x the reference")  # fmt: skip
    print(f"back, embedded:  {back['chunks_per_s']:>9,.0f} chunks/s ({back['copy_seconds']} s); "
          f"first search {back['first_search_ms']} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
