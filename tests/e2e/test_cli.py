"""The ``hearth-engine`` command line as a user runs it, on the bundled models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest


def hearth(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )


def test_doctor_json(hearth_home):
    out = hearth("doctor", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert {"version", "data_root", "devices", "runtimes"} <= set(info)
    assert info["data_root"] == str(hearth_home)
    assert info["runtimes"]["llama_cpp"]["available"] is True
    assert info["build"] == {"frozen": False, "executable": sys.executable}  # a source install
    assert info["gpu_notice"] is None  # no GPU here, or torch can use it


def test_a_gpu_the_cpu_torch_cannot_use_is_said(monkeypatch):
    from engine.core import devices

    gpu = {"type": "cuda", "index": 0, "name": "NVIDIA RTX 4070", "memory_total_bytes": 12 << 30}
    monkeypatch.setattr(devices, "_static_devices", lambda: (gpu,))
    monkeypatch.setattr(devices, "torch_has_cuda", lambda: False)
    notice = devices.gpu_notice()
    assert "NVIDIA RTX 4070 is present" in notice and "HEARTH_TORCH_SPEC=torch" in notice
    monkeypatch.setattr(devices, "torch_has_cuda", lambda: True)
    assert devices.gpu_notice() is None
    monkeypatch.setattr(devices, "_static_devices", lambda: ())
    monkeypatch.setattr(devices, "torch_has_cuda", lambda: False)
    assert devices.gpu_notice() is None
    monkeypatch.undo()  # the real probe reads torch's library files without importing torch
    assert devices.torch_has_cuda() is False  # this machine's torch is the CPU build


@pytest.fixture(scope="module")
def bundled_home(tmp_path_factory):
    """One data root with the bundled models registered, shared by the tests below."""
    home = tmp_path_factory.mktemp("bundled")
    old = os.environ.get("HEARTH_HOME")
    os.environ["HEARTH_HOME"] = str(home)
    try:
        out = hearth("models", "list", "--json")
        assert out.returncode == 0, out.stderr
        yield home, json.loads(out.stdout)
    finally:
        if old is None:
            os.environ.pop("HEARTH_HOME", None)
        else:
            os.environ["HEARTH_HOME"] = old


def test_first_run_registers_bundled_models(bundled_home):
    home, models = bundled_home
    by_role = {m["role"]: m for m in models}
    gemma, minilm = by_role["llm"], by_role["embedding"]
    for m in models:
        assert {
            "id",
            "name",
            "format",
            "arch",
            "params",
            "quant",
            "context_length",
            "size_bytes",
            "path",
        } <= set(m)
        assert m["bundled"] is True
    assert gemma["format"] == "gguf" and gemma["arch"] == "gemma3" and gemma["quant"] == "Q4_K_M"
    assert 200e6 < gemma["params"] < 350e6 and gemma["context_length"] >= 8192
    assert (
        gemma["path"].startswith(str(home))
        and os.path.getsize(gemma["path"]) == gemma["size_bytes"]
    )
    assert gemma["capabilities"]["chat_llama_cpp"] and gemma["capabilities"]["convert"]
    assert minilm["format"] == "hf" and minilm["capabilities"]["embed"]
    again = hearth("models", "list", "--json")
    assert len(json.loads(again.stdout)) == len(models)  # idempotent: no duplicates


def test_inspect_rename_remove_and_human_list(bundled_home, tmp_path):
    home, models = bundled_home
    gemma = next(m for m in models if m["role"] == "llm")
    out = hearth("models", "inspect", gemma["id"], "--json")
    assert json.loads(out.stdout)["id"] == gemma["id"]
    assert hearth("models", "rename", gemma["id"], "My Gemma").returncode == 0
    listing = hearth("models", "list")
    assert "My Gemma" in listing.stdout and "bundled" in listing.stdout

    external = tmp_path / "elsewhere.gguf"
    shutil.copyfile(gemma["path"], external)
    referenced = hearth(
        "models", "import", str(external), "--reference", "--name", "Referenced", "--json"
    )
    assert referenced.returncode == 0, referenced.stderr
    ref = json.loads(referenced.stdout)
    assert ref["managed"] is False and ref["path"] == str(external)
    again = hearth("models", "import", str(external), "--reference")
    assert again.returncode == 2 and "already in your library" in again.stderr
    assert json.loads(hearth("models", "remove", ref["id"], "--json").stdout) == {
        "removed": ref["id"]
    }
    assert external.exists()  # a referenced file is never deleted

    copied = json.loads(
        hearth("models", "import", str(external), "--name", "Copied", "--json").stdout
    )
    assert copied["managed"] is True and copied["path"].startswith(str(home))
    assert os.path.getsize(copied["path"]) == external.stat().st_size
    hearth("models", "remove", copied["id"], "--delete-files")
    assert not os.path.exists(copied["path"]) and external.exists()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "GGUF"),
        (os.urandom(4096), "GGUF"),
    ],
)
def test_bad_gguf_is_one_clear_line(hearth_home, tmp_path, content, needle):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(content)
    out = hearth("models", "import", str(bad))
    assert out.returncode == 2
    assert (
        len(out.stderr.strip().splitlines()) == 1
        and needle in out.stderr
        and "Traceback" not in out.stderr
    )


def test_missing_path_and_unknown_ids(hearth_home, tmp_path):
    out = hearth("models", "import", str(tmp_path / "nope.gguf"))
    assert (
        out.returncode == 2
        and "nope.gguf" in out.stderr
        and len(out.stderr.strip().splitlines()) == 1
    )
    out = hearth("jobs", "show", "doesnotexist")
    assert out.returncode == 2 and "doesnotexist" in out.stderr
    out = hearth("models", "remove", "doesnotexist")
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_jobs_commands(bundled_home, tmp_path):
    home, models = bundled_home
    out = hearth("jobs", "list", "--json")
    jobs = json.loads(out.stdout)
    assert any(j["kind"] == "models.import" and j["state"] == "succeeded" for j in jobs)
    job = next(j for j in jobs if j["kind"] == "models.import")
    shown = json.loads(hearth("jobs", "show", job["id"], "--json").stdout)
    assert shown["id"] == job["id"] and isinstance(shown["log"], list)
    assert hearth("jobs", "list").returncode == 0


def test_unwritable_data_root_is_one_clear_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = dict(os.environ, HEARTH_HOME=str(blocker / "home"))
    out = subprocess.run(
        [sys.executable, "-m", "engine", "models", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2
    assert (
        len(out.stderr.strip().splitlines()) == 1
        and "HEARTH_HOME" in out.stderr
        and "Traceback" not in out.stderr
    )
