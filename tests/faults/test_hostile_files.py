"""Hostile files (tests/faults/hostile.py) fed to ``docs ingest`` and ``data import`` as a user
would: every one is answered with a clear one-line reason -- never an internal error, never a
traceback -- within bounded memory (the peak resident size of the command's process), and
nothing half-made is left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.faults import hostile

pytestmark = pytest.mark.faults

# Peak resident memory of one command, in MB: the documents bound includes loading the
# embedder; the datasets bound a Parquet bomb read up to where it is caught (256 MB unpacked,
# with the rows the importer holds to detect the format).
DOCS_PEAK_MB = 1200
DATA_PEAK_MB = 600
_MEASURED = """
import sys
from engine.cli import main
code = main(sys.argv[1:])
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")]
print("PEAK_KB", peak[0].split()[1] if peak else 0, file=sys.stderr)
sys.exit(code)
"""


def run(home, *args: str) -> tuple[int, str, str, float]:
    env = dict(os.environ, HEARTH_HOME=str(home))
    done = subprocess.run([sys.executable, "-c", _MEASURED, *args], capture_output=True, text=True,
                          env=env, timeout=600)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    peak = int(lines.pop().split()[1]) / 1024 if lines and lines[-1].startswith("PEAK_KB") else 0.0
    return done.returncode, done.stdout, "\n".join(lines), peak


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="measures memory through /proc")
def test_hostile_documents_fail_with_reasons_in_bounded_memory(hearth_home, tmp_path):
    folder = tmp_path / "docs"
    must_fail = hostile.documents(folder)
    (folder / "good.txt").write_text("A good note about lanterns.\n", encoding="utf-8")
    assert run(hearth_home, "docs", "create", "C")[0] == 0
    code, out, err, peak = run(hearth_home, "docs", "ingest", "C", str(folder), "--json")
    assert code == 0, err[-800:]
    assert "Traceback" not in err and "internal error" not in err.lower()
    result = json.loads(out)
    failed = {item["file"].rsplit("/", 1)[-1]: item["reason"] for item in result["failed"]}
    assert set(must_fail) <= set(failed), sorted(set(must_fail) - set(failed))
    assert all(reason and "Internal" not in reason for reason in failed.values()), failed
    indexed = {path.rsplit("/", 1)[-1] for path in result["indexed"]}
    assert {"good.txt", "deep.html", "utf16-no-bom.txt", "one-huge-line.txt"} <= indexed
    print(f"docs ingest of {len(failed) + len(indexed)} files: peak {peak:.0f} MB")
    assert peak < DOCS_PEAK_MB


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="measures memory through /proc")
def test_hostile_dataset_files_are_refused_in_bounded_memory(hearth_home, tmp_path):
    files = hostile.datasets(tmp_path / "data")
    peaks = {}
    for name, word in files.items():
        code, _out, err, peaks[name] = run(hearth_home, "data", "import", str(tmp_path / "data" / name))  # fmt: skip
        assert code == 2, (name, code, err[-500:])
        last = err.strip().splitlines()[-1]
        assert last.startswith("hearth-engine: error: ") and "Internal" not in last, (name, last)
        assert word.lower() in last.lower(), (name, last)
        assert "Traceback" not in err, name
    print("data import peaks (MB):", {k: round(v) for k, v in peaks.items()})
    assert max(peaks.values()) < DATA_PEAK_MB, peaks
    datasets = hearth_home / "datasets"
    assert not [p for p in datasets.iterdir() if not p.name.startswith(".")] if datasets.is_dir() else True  # fmt: skip
