"""The architecture's import rules, checked on the source: the GUI never imports the heavy engine
libraries, and the engine never imports Qt (see DESIGN.md §1)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENGINE_ONLY = {
    "torch",
    "transformers",
    "llama_cpp",
    "peft",
    "qdrant_client",
    "qdrant_edge",
    "sentence_transformers",
    "bitsandbytes",
    "accelerate",
    "gguf",
    "safetensors",
}
GUI_ONLY = {"PySide6", "shiboken6", "matplotlib.backends.backend_qtagg", "pytestqt"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            found.append((node.lineno, node.args[0].value))
    return found


def _is_dynamic_import(node: ast.Call) -> bool:
    name = getattr(node.func, "attr", getattr(node.func, "id", ""))
    first = node.args[0] if node.args else None
    return (
        name in ("import_module", "__import__")
        and isinstance(first, ast.Constant)
        and isinstance(first.value, str)
    )


def _violations(folder: str, banned: set[str]) -> list[str]:
    bad = []
    for path in sorted((REPO / folder).rglob("*.py")):
        for lineno, name in _imports(path):
            if name in banned or name.split(".")[0] in banned:
                bad.append(f"{path.relative_to(REPO)}:{lineno} imports {name}")
    return bad


def test_desktop_never_imports_engine_libraries():
    assert _violations("desktop", ENGINE_ONLY) == []


def test_engine_never_imports_qt():
    assert _violations("engine", GUI_ONLY) == []


def test_desktop_reaches_the_engine_only_through_the_protocol():
    # desktop/ may not import engine/ code either: everything goes through EngineClient.
    assert _violations("desktop", {"engine"}) == []


def test_the_scan_catches_a_violation(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import os\nfrom torch import nn\nimportlib.import_module('llama_cpp')\n")
    assert [n for _, n in _imports(sample)] == ["os", "torch", "llama_cpp"]
