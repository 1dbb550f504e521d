"""``hearth-engine docs`` as a user runs it: an ingest killed with SIGKILL part-way resumes with no
duplicate chunks, and the JSON shapes of ingest, search and eval.

The two ingests run as real subprocesses (the kill must be real); the quick commands run their
CLI functions in-process to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from engine.cli import build_parser
from engine.services import Services

WORDS = [
    "river",
    "mountain",
    "lantern",
    "harbor",
    "meadow",
    "falcon",
    "copper",
    "orchard",
    "glacier",
    "thunder",
    "velvet",
    "compass",
    "saffron",
    "quarry",
    "beacon",
    "timber",
    "willow",
    "cinder",
    "marble",
    "plume",
]


def cli(capsys, *args: str):
    """Run a ``hearth-engine`` command in-process; returns its parsed JSON output."""
    parsed = build_parser().parse_args(list(args))
    assert parsed.func(parsed) == 0
    return json.loads(capsys.readouterr().out)


def write_corpus(folder, n_files: int = 24) -> list[str]:
    folder.mkdir()
    paths = []
    for i in range(n_files):
        body = " ".join(
            f"Note {i} sentence {j} mentions {WORDS[(i + j) % len(WORDS)]} and {WORDS[(i * 7 + j) % len(WORDS)]}."
            for j in range(20)
        )
        path = folder / f"note-{i:02d}.txt"
        path.write_text(f"Document number {i}, codename ZX{i:03d}.\n\n{body}\n", encoding="utf-8")
        paths.append(str(path))
    return paths


def indexed_count(home) -> int:
    try:
        with sqlite3.connect(home / "hearth.db", timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM doc_files WHERE status = 'indexed'").fetchone()[
                0
            ]
    except sqlite3.OperationalError:
        return 0


def test_kill_during_ingest_then_resume_without_duplicates(hearth_home, tmp_path, capsys):
    made = cli(capsys, "docs", "create", "Notes", "--chunk-tokens", "48", "--overlap-tokens", "8",
               "--batch-size", "4", "--json")  # fmt: skip
    assert made["name"] == "Notes"
    files = write_corpus(tmp_path / "notes")

    cmd = [
        sys.executable,
        "-m",
        "engine",
        "docs",
        "ingest",
        "Notes",
        str(tmp_path / "notes"),
        "--json",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ)
    )
    deadline = time.monotonic() + 120
    while indexed_count(hearth_home) < 3:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "ingest never got going"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    before = indexed_count(hearth_home)
    assert 3 <= before < len(files), "killed part-way"

    out = subprocess.run(
        [sys.executable, "-m", "engine", "docs", "ingest", "Notes", "--json"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert {"indexed", "skipped", "failed"} <= set(summary) and summary["failed"] == [], summary
    unchanged = [s["file"] for s in summary["skipped"] if s["reason"] == "unchanged"]
    assert len(unchanged) >= before
    assert sorted(summary["indexed"] + unchanged) == sorted(files)

    services = Services(hearth_home)
    try:
        docs = services.docs
        collection = docs.catalog.get("Notes")
        rows = docs.catalog.files(collection["id"])
        assert {r["status"] for r in rows} == {"indexed"}
        store = docs.store(collection)
        assert store.file_counts() == {r["path"]: r["chunks"] for r in rows}
        assert store.count() == sum(r["chunks"] for r in rows), "no duplicate chunks"
    finally:
        services.docs.close()
        services.close()

    # the quick commands, in-process, on the same data root
    hits = cli(capsys, "docs", "search", "Notes", "codename ZX017", "--k", "3", "--json")
    assert isinstance(hits, list) and 1 <= len(hits) <= 3
    assert {"text", "score", "file", "page"} <= set(hits[0])
    assert hits[0]["file"].endswith("note-17.txt")
    dense = cli(capsys, "docs", "search", "Notes", "codename ZX017", "--mode", "dense", "--json")
    assert all("score" in h for h in dense)

    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        "\n".join(
            json.dumps({"question": f"codename ZX{i:03d}", "source": f"note-{i:02d}.txt"})
            for i in (3, 17, 21)
        ),
        encoding="utf-8",
    )
    report = cli(capsys, "docs", "eval", "Notes", "--qa", str(qa), "--json")
    assert report["questions"] == 3
    for mode in ("hybrid", "dense", "bm25"):
        assert set(report[mode]) == {"hit@1", "hit@3", "hit@5", "mrr"}
    assert report["hybrid"]["hit@5"] == 1.0

    listed = cli(capsys, "docs", "list", "--json")
    assert [c["name"] for c in listed] == ["Notes"] and listed[0]["files"]["indexed"] == len(files)
    assert cli(capsys, "docs", "remove", "Notes", "--json")["deleted"] == collection["id"]
    assert cli(capsys, "docs", "list", "--json") == []


def test_unknown_collection_is_a_one_line_error(hearth_home):
    out = subprocess.run(
        [sys.executable, "-m", "engine", "docs", "search", "Nope", "anything", "--json"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().startswith("hearth-engine: error: No collection 'Nope'")
    assert "Traceback" not in out.stderr


@pytest.fixture(autouse=True)
def _release(hearth_home):
    """In-process CLI calls leave their shards open; close them so the next test starts clean."""
    yield
    from engine.documents import manager

    for store in list(manager._EDGE_STORES.values()):
        store.close()
    manager._EDGE_STORES.clear()


def test_an_ingest_where_every_file_failed_exits_2(hearth_home, tmp_path, capsys):
    from engine.cli import main

    cli(capsys, "docs", "create", "Broken", "--json")
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4 this is not a real PDF at all")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04 not a real zip")
    assert main(["docs", "ingest", "Broken", str(folder)]) == 2
    captured = capsys.readouterr()
    assert "failed   " in captured.out and "None of the 2 files could be ingested" in captured.err
