"""The trim step on a folder shaped like a bundle: shared libraries lose their symbol tables and
still load, one that ``strip`` would make unloadable is kept as it was, identical copies become
links, and what Hearth never loads goes."""

from __future__ import annotations

import ctypes
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

TRIM = Path(__file__).resolve().parents[2] / "installer" / "pyinstaller" / "trim.py"
spec = importlib.util.spec_from_file_location("hearth_trim", TRIM)
trim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(trim)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not shutil.which("strip") or not shutil.which("cc"),
    reason="Linux with binutils and a C compiler",
)
SOURCE = """
const char table[100000] = {1};  /* big enough for the copies to be worth linking */
static int hidden_helper_with_a_long_name(int x) { return x * 3; }
int triple(int x) { return hidden_helper_with_a_long_name(x); }
"""


def openblas() -> Path:
    """numpy's OpenBLAS: auditwheel-patched, so ``strip`` misaligns its load segments."""
    libs = Path(numpy.__file__).resolve().parent.parent / "numpy.libs"
    found = sorted(libs.glob("libscipy_openblas*.so"))
    if not found:
        pytest.skip("this numpy has no bundled OpenBLAS")
    return found[0]


@pytest.fixture
def folder(tmp_path):
    """``Hearth/`` with an engine, a library built here with symbols, two copies of it under
    versioned names, numpy's OpenBLAS with its libraries and a pyarrow Flight library."""
    root = tmp_path / "Hearth"
    lib = root / "_internal" / "mylib"
    lib.mkdir(parents=True)
    (root / "hearth-engine").write_text("#!/bin/sh\n")
    (tmp_path / "triple.c").write_text(SOURCE)
    subprocess.run(["cc", "-shared", "-fPIC", "-g", "-o", str(lib / "libtriple.so.1.2"),
                    str(tmp_path / "triple.c")], check=True)  # fmt: skip
    for name in ("libtriple.so", "libtriple.so.1"):
        shutil.copy2(lib / "libtriple.so.1.2", lib / name)
    shutil.copytree(openblas().parent, root / "_internal" / "numpy.libs")
    arrow = root / "_internal" / "pyarrow"
    arrow.mkdir()
    (arrow / "libarrow_flight.so.2600").write_bytes(b"\0" * 100)
    (arrow / "libarrow.so.2600").write_bytes(b"\1" * 100)
    return root


def loads(path: Path) -> bool:
    """Whether a fresh process can load the library (a failed load must not take this one)."""
    code = f"import ctypes; ctypes.CDLL({str(path)!r})"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_strip_misaligns_openblas_and_the_check_sees_it(tmp_path):
    stripped = tmp_path / "stripped.so"
    subprocess.run(["strip", "--strip-unneeded", "-o", str(stripped), str(openblas())], check=True)
    assert trim.loadable(openblas()) and loads(openblas())
    assert not trim.loadable(stripped) and not loads(stripped)


def test_trimming_shrinks_libraries_that_still_load(folder):
    lib = folder / "_internal" / "mylib"
    before = (lib / "libtriple.so.1.2").stat().st_size
    blas = folder / "_internal" / "numpy.libs" / openblas().name
    original = blas.read_bytes()
    assert trim.main([str(folder), "--json"]) == 0

    real = lib / "libtriple.so.1.2"
    assert not real.is_symlink() and real.stat().st_size < before
    assert ctypes.CDLL(str(real)).triple(5) == 15
    for name in ("libtriple.so", "libtriple.so.1"):  # identical copies now point at one file
        link = lib / name
        assert link.is_symlink() and link.resolve() == real.resolve() and loads(link)
    assert blas.read_bytes() == original and loads(blas)
    assert not (folder / "_internal/pyarrow/libarrow_flight.so.2600").exists()
    assert (folder / "_internal/pyarrow/libarrow.so.2600").exists()


def test_a_folder_without_the_engine_is_refused(tmp_path, capsys):
    assert trim.main([str(tmp_path)]) == 2
    assert "not a built Hearth folder" in capsys.readouterr().err
