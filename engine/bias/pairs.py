"""Prompt pair sets: the built-in one (``builtin.py``) and the user's, kept as JSONL files.

A pair is two prompts that differ only in the words naming a group (``a`` and ``b``), with its
``category`` and an optional ``note``. Every set is split into a *selection* part (used to choose
what to change, e.g. neurons to prune) and a *held-out* part (only ever measured). The built-in
set holds out one sentence template per category; a user set holds out the rows marked
``"heldout": true``, or, when none is marked, every fourth pair of each category.

User sets live in ``<data root>/bias/sets/<name>.jsonl``, one ``{"category", "a", "b",
"note"?, "heldout"?}`` object per line; import checks every line and names the first bad one.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.bias.builtin import CATEGORIES
from engine.core.errors import NotFoundError, UserError
from engine.core.paths import atomic_write_text

if TYPE_CHECKING:
    from engine.services import Services

BUILTIN = "hearth-builtin"
_NAME = re.compile(r"^[\w.-]{1,64}$")
MAX_PAIRS = 5000


@dataclass(frozen=True)
class Pair:
    category: str
    a: str
    b: str
    note: str = ""
    heldout: bool = False


@dataclass
class PairSet:
    name: str
    pairs: list[Pair]
    builtin: bool = False

    def selection(self) -> list[Pair]:
        return [p for p in self.pairs if not p.heldout]

    def heldout(self) -> list[Pair]:
        return [p for p in self.pairs if p.heldout]

    def categories(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.pairs:
            out[p.category] = out.get(p.category, 0) + 1
        return out

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "pairs": len(self.pairs), "categories": self.categories(),
                "heldout": len(self.heldout()), "builtin": self.builtin}  # fmt: skip


def builtin_set() -> PairSet:
    pairs = []
    for category, spec in CATEGORIES.items():
        templates = spec["templates"]
        for t, template in enumerate(templates):
            for a, b in spec["terms"]:
                pairs.append(
                    Pair(category, template.format(who=a), template.format(who=b),
                         note=f"{a} / {b}", heldout=t == len(templates) - 1)
                )  # fmt: skip
    return PairSet(BUILTIN, pairs, builtin=True)


def folder(services: Services) -> Path:
    return services.root / "bias" / "sets"


def list_sets(services: Services) -> list[PairSet]:
    sets = [builtin_set()]
    base = folder(services)
    if base.is_dir():
        for path in sorted(base.glob("*.jsonl")):
            try:
                sets.append(read_set(path))
            except UserError:
                continue  # a file edited by hand into something broken: `bias set show` says why
    return sets


def get_set(services: Services, name: str) -> PairSet:
    if name == BUILTIN:
        return builtin_set()
    path = folder(services) / f"{name}.jsonl"
    if not _NAME.match(name or "") or not path.is_file():
        known = ", ".join(s.name for s in list_sets(services))
        raise NotFoundError(f"No prompt pair set {name!r}; known sets: {known}.")
    return read_set(path)


def read_set(path: Path) -> PairSet:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path.name} is not UTF-8 text; save it as UTF-8 JSONL.") from None
    except OSError as exc:
        raise UserError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    return PairSet(path.stem, parse_lines(text.splitlines(), path.name))


def parse_lines(lines: list[str], source: str) -> list[Pair]:
    """Pairs from JSONL lines; a ``UserError`` names the first bad line and what is wrong."""
    pairs: list[Pair] = []
    marked = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{source} line {number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise UserError(f"{where} is not valid JSON ({exc.msg}); fix or remove it.") from None
        if not isinstance(row, dict):
            raise UserError(f'{where} must be an object like {{"category", "a", "b"}}.')
        unknown = sorted(set(row) - {"category", "a", "b", "note", "heldout"})
        if unknown:
            raise UserError(f"{where} has unknown field(s) {', '.join(unknown)}; a pair has "
                            "category, a, b and optionally note and heldout.")  # fmt: skip
        for key in ("category", "a", "b"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise UserError(f"{where} needs a non-empty text {key!r}.")
        a, b = row["a"].strip(), row["b"].strip()
        if a == b:
            raise UserError(f"{where}: the two prompts are identical, so there is nothing to "
                            "compare; change the words that name the group in one of them.")  # fmt: skip
        heldout = row.get("heldout", False)
        if not isinstance(heldout, bool):
            raise UserError(f"{where}: heldout must be true or false.")
        marked = marked or heldout
        pairs.append(Pair(row["category"].strip(), a, b, str(row.get("note") or ""), heldout))
        if len(pairs) > MAX_PAIRS:
            raise UserError(f"{source} has more than {MAX_PAIRS} pairs; split it into sets.")
    if not pairs:
        raise UserError(f"{source} has no pairs; a set needs at least one "
                        '{"category", "a", "b"} line.')  # fmt: skip
    if not marked:  # hold out every fourth pair of each category
        seen: dict[str, int] = {}
        out = []
        for p in pairs:
            seen[p.category] = seen.get(p.category, 0) + 1
            out.append(Pair(p.category, p.a, p.b, p.note, heldout=seen[p.category] % 4 == 0))
        pairs = out
    return pairs


def import_set(services: Services, path: str | Path, name: str | None = None) -> PairSet:
    """Copy a JSONL file into the library as a set (checked first; an existing name is refused)."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise UserError(f"No file at {source}; give the path of a JSONL file of pairs.")
    parsed = read_set(source)
    name = name or re.sub(r"[^\w.-]+", "-", source.stem).strip("-") or "pairs"
    if not _NAME.match(name) or name == BUILTIN:
        raise UserError(f"{name!r} cannot name a set: use letters, digits, '-', '_' or '.', at "
                        f"most 64, and not {BUILTIN!r}.")  # fmt: skip
    target = folder(services) / f"{name}.jsonl"
    if target.exists():
        raise UserError(f"A set named {name!r} exists; pick another name or delete it first.")
    target.parent.mkdir(parents=True, exist_ok=True)
    pairs = parsed.pairs
    atomic_write_text(target, to_jsonl(pairs))
    return PairSet(name, pairs)


def save_set(services: Services, name: str, pairs: list[Pair], *, replace: bool = False) -> PairSet:
    if not _NAME.match(name or "") or name == BUILTIN:
        raise UserError(f"{name!r} cannot name a set: use letters, digits, '-', '_' or '.'.")
    target = folder(services) / f"{name}.jsonl"
    if target.exists() and not replace:
        raise UserError(f"A set named {name!r} exists; pick another name.")
    checked = parse_lines(to_jsonl(pairs).splitlines(), name)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, to_jsonl(checked))
    return PairSet(name, checked)


def delete_set(services: Services, name: str) -> None:
    if name == BUILTIN:
        raise UserError("The built-in set cannot be deleted.")
    path = folder(services) / f"{name}.jsonl"
    if not _NAME.match(name or "") or not path.is_file():
        raise NotFoundError(f"No prompt pair set {name!r}.")
    path.unlink()


def to_jsonl(pairs: list[Pair]) -> str:
    rows = []
    for p in pairs:
        row = {k: v for k, v in asdict(p).items() if v not in ("", None)}
        row["heldout"] = p.heldout
        rows.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(rows) + "\n"
