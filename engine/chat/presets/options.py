"""What a preset is made of: its kinds, and each kind's options as ``engine.core.options`` classes
(the GUI builds its option forms and the CLI its help from their ``describe()``).

- ``plain``: a saved system prompt and generation settings, nothing more
- ``sql``: "SQL from questions" -- the SQLite file, row cap, time limit, sample rows in the prompt
- ``moderated``: "Moderated reply" -- the policy and the reviewing model
- ``guarded``: "Guarded assistant" -- the canary token written into the system prompt
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from engine.core.errors import UserError
from engine.core.options import Options, option

KIND_LABELS = {
    "plain": "System prompt and settings",
    "sql": "SQL from questions",
    "moderated": "Moderated reply",
    "guarded": "Guarded assistant",
}
KINDS = tuple(KIND_LABELS)


@dataclass
class PlainOptions(Options):
    pass


@dataclass
class SqlOptions(Options):
    database: str | None = option(None, "the SQLite file the questions are about (read-only)")
    max_rows: int = option(200, "most rows a query returns", range=(1, 10_000))
    timeout_s: float = option(5.0, "a query running longer is stopped (seconds)",
                              range=(0.1, 120.0))  # fmt: skip
    sample_rows: int = option(3, "sample rows per table shown to the model", range=(0, 20))


@dataclass
class ModeratedOptions(Options):
    policy: str = option("", "what the reviewer passes, rewrites or blocks (plain text)")
    reviewer_model: str | None = option(
        None, "model that reviews the draft (default: the one that wrote it)"
    )


@dataclass
class GuardedOptions(Options):
    canary: str | None = option(
        None, "secret token in the system prompt; a reply containing it leaked"
    )


OPTION_TYPES: dict[str, type[Options]] = {
    "plain": PlainOptions,
    "sql": SqlOptions,
    "moderated": ModeratedOptions,
    "guarded": GuardedOptions,
}


def check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise UserError(f"A preset's kind is one of {', '.join(KINDS)}, not {kind!r}.")
    return kind


def check_options(kind: str, values: dict[str, Any] | None, *, base: dict | None = None) -> dict:
    """``base`` updated with ``values``, every key known to ``kind`` and in range."""
    return OPTION_TYPES[check_kind(kind)].from_dict(values, base=base).to_dict()


def describe(kind: str) -> list[dict[str, Any]]:
    """The options of ``kind`` with defaults and help (for forms)."""
    return OPTION_TYPES[check_kind(kind)].describe()


for _kind, _cls in OPTION_TYPES.items():
    _cls.WHAT = "preset option"
    _names = ", ".join(f.name for f in fields(_cls)) or "no options"
    _cls.HINT = f"a {KIND_LABELS[_kind]} preset takes {_names}"
