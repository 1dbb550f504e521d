"""A real full disk: a small tmpfs as the data folder (where the platform lets the test mount
one). Every command that writes says the disk is full and exits 2 -- never SIGBUS from the
embedded store's memory maps, never an internal error -- and an ingest stopped by a disk that
filled part-way finishes after room is made, with no chunk missing or twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

pytestmark = pytest.mark.faults


@pytest.fixture
def tiny_disk(tmp_path):
    """Mount a tmpfs; yields ``(path, resize)``; unmounted after."""
    where = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    where.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(where)],
                              capture_output=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is None or done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root on Linux)")

    def resize(mb: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={mb}m", str(where)], check=True, timeout=30)

    try:
        yield where, resize
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def hearth(home, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HEARTH_SKIP_BUNDLED"}
    env["HEARTH_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip


def test_commands_on_a_full_data_folder_say_so(tiny_disk, tmp_path):
    home, _resize = tiny_disk
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"instruction": f"q{i}", "output": "a" * 2000}) + "\n" for i in range(300)))  # fmt: skip
    note = tmp_path / "note.txt"
    note.write_text("Lanterns light the harbor at night.\n", encoding="utf-8")
    for args in (("docs", "create", "C"), ("data", "import", str(rows)),
                 ("chat", "Hello there")):  # fmt: skip
        done = hearth(home, *args)
        assert done.returncode == 2, (args, done.returncode, done.stderr[-500:])
        assert "is full" in done.stderr and "move the data folder" in done.stderr, (args, done.stderr)  # fmt: skip
        assert "Internal error" not in done.stderr
    import sqlite3

    with sqlite3.connect(home / "hearth.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_an_ingest_the_disk_stops_finishes_after_room_is_made(tiny_disk, tmp_path):
    home, resize = tiny_disk
    resize(72)  # room for the store, then full (below the 64 MB margin) after the first batches
    words = ["lantern", "harbor", "falcon", "meadow", "copper", "river", "mountain", "orchard"]
    text = "\n\n".join(" ".join(f"{words[(i * 7 + j) % 8]}{i}" for j in range(50)) + "." for i in range(700))  # fmt: skip
    source = tmp_path / "long.txt"
    source.write_text(text, encoding="utf-8")
    assert hearth(home, "docs", "create", "C").returncode == 0
    stopped = hearth(home, "docs", "ingest", "C", str(source))
    assert stopped.returncode == 2 and "is full" in stopped.stderr, stopped.stderr[-500:]
    resize(160)
    finished = hearth(home, "docs", "ingest", "C", "--json")
    assert finished.returncode == 0, finished.stderr[-500:]
    result = json.loads(finished.stdout)
    preview = json.loads(hearth(home, "docs", "preview", str(source), "--collection", "C", "--json").stdout)  # fmt: skip
    assert result["chunks"] == preview["total"]  # none missing, none twice
