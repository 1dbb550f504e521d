"""Remove from a built ``Hearth/`` folder what Hearth never loads, and report the sizes.

    python installer/pyinstaller/trim.py DIST/Hearth [--json]

What goes: C/C++ headers and static libraries (torch ships ~60 MB of them), CMake files, test
suites of the bundled packages, Qt translations other than English, Qt plugins for input methods,
printing and platforms other than the ones a desktop uses, and byte-code caches. Everything the
smoke test exercises stays; ``tests/test_installer.py`` checks the folder still does every smoke
step after trimming.
"""

from __future__ import annotations

import json
import shutil
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


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    if not any(folder.glob("**/hearth-engine")) and not any(folder.glob("**/hearth-engine.exe")):
        print(f"{folder} is not a built Hearth folder (no hearth-engine in it)", file=sys.stderr)
        return 2
    before = folder_bytes(folder)
    freed = trim(folder)
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
