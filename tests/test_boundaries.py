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


# ---- import cycles ---------------------------------------------------------------------------
# Every import counts, including those inside functions (they are deferred, not absent), except
# the ones under ``if TYPE_CHECKING:``, which never run.


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph(folders: tuple[str, ...] = ("engine", "desktop")) -> dict[str, set[str]]:
    modules = {_module_name(p): p for f in folders for p in (REPO / f).rglob("*.py")}

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for stmt in node.body
            for inner in ast.walk(stmt)
        }
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets |= {t for a in node.names if (t := known(a.name))}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if (t := full if full in modules else known(base)) is not None:
                        targets.add(t)
        targets.discard(name)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_in_engine_or_desktop():
    # In particular none through engine.services: the modules whose objects Services builds
    # name it for type checkers only, and no panel module imports back the module importing it.
    assert _cycles(_import_graph()) == []


def test_the_cycle_scan_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_every_rpc_handler_has_resolvable_annotations():
    # The dispatcher type-checks params against get_type_hints(handler); a name imported only for
    # type checkers in a handler's signature would make that fail and silently skip the check.
    import typing

    from engine.rpc.registry import load_methods

    for name, entry in load_methods().items():
        try:
            typing.get_type_hints(entry.fn)
        except NameError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def test_hearth_common_imports_only_the_standard_library():
    # both processes import it, so it may not pull the engine, Qt or any third-party package in;
    # platformdirs (pure Python, a dependency of both) names the OS's folders in one place
    import sys

    for path in sorted((REPO / "hearth_common").rglob("*.py")):
        for lineno, name in _imports(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top in (
                "__future__",
                "hearth_common",
                "platformdirs",
            ), f"{path.relative_to(REPO)}:{lineno} imports {name}"
