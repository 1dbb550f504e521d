"""``installer/setup.sh`` run against a stand-in Python that records what it is asked to do: the
steps it shows, which torch build it picks, llama.cpp's build progress, and the closing hint."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A stand-in for .venv/bin/python: logs its arguments; "pip install torch==...+cpu" without an
# index fails when FAIL_PLAIN_CPU is set (a plain index has no CPU build); "pip wheel" prints
# ninja-style steps for a while, then leaves a wheel.
FAKE_PYTHON = r"""#!/usr/bin/env bash
echo "$*" >> "$CALLS"
if [[ "$1" == "-c" ]]; then echo "      torch 2.13.0+cpu, CPU build"; exit 0; fi
if [[ "$*" == *"torch=="*"+cpu"* && "$*" != *"--index-url"* && -n "${FAIL_PLAIN_CPU:-}" ]]; then exit 1; fi
if [[ "$*" == *" wheel "* ]]; then
  for i in 1 2 3; do echo "[$i/3] Building CXX object ggml.cpp.o"; sleep 1; done
  for a in "$@"; do [[ "$prev" == "-w" ]] && touch "$a/llama_cpp_python-0.3.36-cp311-linux_x86_64.whl"; prev=$a; done
fi
exit 0
"""


def _run(tmp_path: Path, *args: str, gpu: bool = False, **env: str) -> tuple[str, list[str]]:
    tree = tmp_path / "checkout"
    (tree / "installer").mkdir(parents=True)
    shutil.copy(ROOT / "installer" / "setup.sh", tree / "installer" / "setup.sh")
    python = tree / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if gpu:
        smi = bin_dir / "nvidia-smi"
        smi.write_text("#!/bin/sh\nexit 0\n")
        smi.chmod(0o755)
    calls = tmp_path / "calls.txt"
    full_env = {
        **{k: v for k, v in os.environ.items() if k != "HEARTH_TORCH_SPEC"},
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "HEARTH_WHEEL_CACHE": str(tmp_path / "wheels"),
        "HEARTH_PROGRESS_EVERY": "1",
        **env,
    }
    done = subprocess.run(["bash", str(tree / "installer" / "setup.sh"), *args], env=full_env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, calls.read_text().splitlines()


@pytest.mark.skipif(os.uname().sysname != "Linux", reason="the Linux path of the script")
def test_cpu_torch_progress_and_the_test_command(tmp_path):
    out, calls = _run(tmp_path, "--dev", FAIL_PLAIN_CPU="1")
    assert [line[:5] for line in out.splitlines() if line.startswith("[")] == [
        "[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"
    ]  # fmt: skip
    torch = [c for c in calls if "torch" in c and "install" in c]
    assert torch[0].endswith("torch==2.13.0+cpu")  # the configured index first
    assert torch[1].endswith("torch==2.13.0+cpu --index-url https://download.pytorch.org/whl/cpu")
    assert "compiling llama.cpp [" in out  # the build's own step count, while it runs
    assert any(c.startswith("-m pip install --quiet -e .[dev]") for c in calls)
    assert out.rstrip().endswith("Run the tests with: .venv/bin/python -m pytest")


@pytest.mark.skipif(os.uname().sysname != "Linux", reason="the Linux path of the script")
def test_a_gpu_machine_and_a_chosen_spec(tmp_path):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "llama_cpp_python-0.3.36-cp311-linux_x86_64.whl").touch()
    out, calls = _run(tmp_path, gpu=True)
    assert [c for c in calls if "torch==" in c] == ["-m pip install --quiet torch==2.13.0"]
    assert "compiling" not in out and "Run the tests" not in out  # a cached wheel; no --dev
    chosen = tmp_path / "again"
    chosen.mkdir()
    _out, calls = _run(chosen, HEARTH_TORCH_SPEC="torch==2.12.0")
    assert [c for c in calls if "torch" in c and "install" in c] == ["-m pip install --quiet torch==2.12.0"]  # fmt: skip
