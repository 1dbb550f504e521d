"""docs/PROTOCOL.md and the engine agree: every registered JSON-RPC method is documented in a
method table, and every documented method exists."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md"


def documented() -> set[str]:
    return set(documented_params())


def test_every_method_is_documented_and_every_documented_one_exists():
    from engine.rpc.registry import load_methods

    # ping and shutdown are answered by the server's reader thread itself, not the registry
    registered = set(load_methods()) | {"ping", "shutdown"}
    docs = documented()
    assert len(docs) > 50  # the parser found the tables
    assert sorted(registered - docs) == [], "registered but not in docs/PROTOCOL.md"
    assert sorted(docs - registered) == [], "documented but not registered"


def documented_params() -> dict[str, str]:
    """Method name -> the text of its params cell (with the cells it refers to: "as `x` plus")."""
    rows: dict[str, str] = {}
    in_methods = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            in_methods = False
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if [c.lower() for c in cells[:3]] == ["method", "params", "result"]:
            in_methods = True
            continue
        if in_methods and len(cells) >= 2:
            for name in re.findall(r"`([a-z_$/][\w./$]*)`", cells[0]):
                rows[name] = cells[1]
    for name, cell in list(rows.items()):
        for other in re.findall(r"`([a-z_]+\.[\w.]+)`", cell):
            rows[name] = rows[name] + " " + rows.get(other, "")
    return rows


def test_every_documented_method_names_its_params():
    import inspect

    from engine.rpc.registry import load_methods

    cells = documented_params()
    missing = []
    for name, entry in sorted(load_methods().items()):
        params = list(inspect.signature(entry.fn).parameters.values())[1:]  # after ctx
        for p in params:
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            if not re.search(rf"(?<![\w.]){re.escape(p.name)}\b", cells.get(name, "")):
                missing.append(f"{name}: {p.name}")
    assert missing == [], "parameters missing from docs/PROTOCOL.md"
