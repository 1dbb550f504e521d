"""Remove from a built ``Hearth/`` folder what Hearth never loads, and report the sizes.

    python installer/pyinstaller/trim.py DIST/Hearth [--json]

What goes: C/C++ headers and static libraries (torch ships ~60 MB of them), CMake files, test
suites of the bundled packages, Qt translations other than English, Qt plugins for printing,
SQL drivers, QML debugging and multimedia, pyarrow's Flight and S3 parts and the Hugging Face
download accelerator (Hearth reads local files only), and byte-code caches. On Linux the shared
libraries then lose their symbol tables (``strip --strip-unneeded``: torch's CPU library alone
drops from 434 to 345 MB) and byte-identical copies of a library become links to one file.
A library whose stripped copy would not load (patchelf-edited ones, whose load segments strip
misaligns) is kept as it was. Everything the smoke test exercises stays;
``tests/installer/test_bundle.py`` checks the folder still does every smoke step after trimming.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

# (glob under the folder, why it can go)
GLOBS = [
    ("**/torch/include", "C++ headers for building extensions"),
    ("**/torch/share/cmake", "CMake files for building against libtorch"),
    ("**/torch/lib/*.a", "static libraries"),
    ("**/torch/test", "torch's tests"),
    ("**/torch/bin/*", "torch's test and tool executables"),
    ("**/torch/lib/lib*test*.so", "torch's test libraries"),
    ("**/torch/lib/libbackend_with_compiler.so", "torch's test libraries"),
    ("**/torch/utils/benchmark", "torch's benchmark tools"),
    ("**/*.a", "static libraries"),
    ("**/include/**/*.h", "C headers"),
    ("**/numpy/_core/tests", "numpy's tests"),
    ("**/numpy/*/tests", "numpy's tests"),
    ("**/pandas/tests", "pandas' tests"),
    ("**/scipy/**/tests", "scipy's tests"),
    ("**/sklearn/**/tests", "scikit-learn's tests"),
    ("**/pyarrow/tests", "pyarrow's tests"),
    ("**/pyarrow/include", "pyarrow's C++ headers"),
    ("**/matplotlib/tests", "matplotlib's tests"),
    ("**/matplotlib/mpl-data/sample_data", "matplotlib's sample data"),
    ("**/PySide6/Qt/translations/qtwebengine*", "WebEngine translations"),
    ("**/PySide6/Qt/plugins/printsupport", "printing"),
    ("**/PySide6/Qt/plugins/sqldrivers", "SQL drivers (Hearth uses Python's sqlite3)"),
    ("**/PySide6/Qt/plugins/qmltooling", "QML debugging"),
    ("**/PySide6/Qt/plugins/multimedia", "multimedia"),
    ("**/pyarrow/*flight*", "pyarrow's Flight RPC"),
    ("**/pyarrow/_s3fs*", "pyarrow's S3 file system"),
    ("**/pyarrow/libarrow_s3*", "pyarrow's S3 file system"),
    ("**/hf_xet", "Hugging Face download accelerator"),
    ("**/hf_xet-*.dist-info", "Hugging Face download accelerator"),
    ("**/__pycache__", "byte-code caches"),
]
KEEP_TRANSLATIONS = ("qtbase_en", "qt_en")
KEEP = {"torch_shm_manager"}  # torch runs it at import: without it `import torch` fails


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def trim(folder: Path) -> dict[str, int]:
    """Delete what ``GLOBS`` names (and non-English Qt translations); bytes freed per reason."""
    freed: dict[str, int] = {}
    for pattern, why in GLOBS:
        for path in sorted(folder.glob(pattern), key=lambda p: len(p.parts), reverse=True):
            if path.name in KEEP or (not path.exists() and not path.is_symlink()):
                continue
            size = folder_bytes(path) if path.is_dir() else path.lstat().st_size
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            freed[why] = freed.get(why, 0) + size
    for qm in folder.glob("**/PySide6/Qt/translations/*.qm"):
        if not qm.name.startswith(KEEP_TRANSLATIONS):
            freed["translations other than English"] = (
                freed.get("translations other than English", 0) + qm.stat().st_size
            )
            qm.unlink()
    return freed


def is_library(path: Path) -> bool:
    return (
        path.is_file()
        and not path.is_symlink()
        and (".so." in path.name or path.name.endswith(".so"))
    )


def loadable(path: Path, page: int = 4096) -> bool:
    """Whether the dynamic loader would map ``path``: every load segment's address and file
    offset agree modulo the page size (``strip`` breaks this on some patchelf-edited files,
    and the loader then refuses them with "ELF load command address/offset not page-aligned")."""
    with path.open("rb") as fh:
        head = fh.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return True  # not a 64-bit little-endian ELF file: nothing of ours to check
        (phoff,) = struct.unpack_from("<Q", head, 0x20)
        size, count = struct.unpack_from("<HH", head, 0x36)
        fh.seek(phoff)
        table = fh.read(size * count)
    for i in range(count):
        kind, _flags, offset, vaddr = struct.unpack_from("<IIQQ", table, i * size)
        if kind == 1 and (vaddr - offset) % page:
            return False
    return True


def strip_libraries(folder: Path, strip: str) -> int:
    """``strip --strip-unneeded`` every shared library into a copy beside it (so the swap is a
    rename on the same file system), kept only when it is smaller and still loadable; the bytes
    freed."""
    freed = 0
    for path in sorted(p for p in folder.rglob("*") if is_library(p)):
        out = path.with_name(path.name + ".stripped")
        done = subprocess.run([strip, "--strip-unneeded", "-o", str(out), str(path)], capture_output=True)  # fmt: skip
        gain = path.stat().st_size - out.stat().st_size if out.is_file() else 0
        if done.returncode == 0 and gain > 0 and loadable(out):
            shutil.copymode(path, out)
            os.replace(out, path)
            freed += gain
        out.unlink(missing_ok=True)
    return freed


def link_copies(folder: Path, least: int = 64 * 1024) -> int:
    """Byte-identical shared libraries (``libllama.so``, ``.so.0``, ``.so.0.5.0``; numpy's and
    scipy's copy of libgfortran) become relative links to one of them; the bytes freed."""
    groups: dict[int, list[Path]] = {}
    for path in folder.rglob("*"):
        if is_library(path) and path.stat().st_size >= least:
            groups.setdefault(path.stat().st_size, []).append(path)
    freed = 0
    for size, paths in groups.items():
        paths.sort(key=lambda p: (len(p.parts), str(p.parent), -len(p.name)))
        while len(paths) > 1:
            keep, rest = paths[0], paths[1:]
            same = [p for p in rest if filecmp.cmp(keep, p, shallow=False)]
            for copy in same:
                copy.unlink()
                copy.symlink_to(os.path.relpath(keep, copy.parent))
                freed += size
            paths = [p for p in rest if p not in same]
    return freed


def shrink_libraries(folder: Path) -> dict[str, int]:
    """Linux only: a stripped or linked Mach-O or DLL would need signing again or cannot link."""
    strip = shutil.which("strip")
    if not sys.platform.startswith("linux") or strip is None:
        return {}
    return {
        "symbol tables of shared libraries": strip_libraries(folder, strip),
        "copies of the same library (now links)": link_copies(folder),
    }


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    if not any(folder.glob("**/hearth-engine")) and not any(folder.glob("**/hearth-engine.exe")):
        print(f"{folder} is not a built Hearth folder (no hearth-engine in it)", file=sys.stderr)
        return 2
    before = folder_bytes(folder)
    freed = trim(folder)
    freed.update(shrink_libraries(folder))
    after = folder_bytes(folder)
    report = {"before_bytes": before, "after_bytes": after, "freed": freed}
    if "--json" in argv:
        print(json.dumps(report))
    else:
        for why, size in sorted(freed.items(), key=lambda kv: -kv[1]):
            print(f"{size / 2**20:8.1f} MB  {why}")
        print(f"{before / 2**20:.0f} MB -> {after / 2**20:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
