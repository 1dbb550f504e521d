"""What a preset is made of: its kinds, and each kind's options as dataclasses whose fields carry
help text (the GUI builds its option forms and the CLI its help from them).

- ``plain``: a saved system prompt and generation settings, nothing more
- ``sql``: "SQL from questions" -- the SQLite file, row cap, time limit, sample rows in the prompt
- ``moderated``: "Moderated reply" -- the policy and the reviewing model
- ``guarded``: "Guarded assistant" -- the canary token written into the system prompt
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from engine.core.errors import UserError

KIND_LABELS = {
    "plain": "System prompt and settings",
    "sql": "SQL from questions",
    "moderated": "Moderated reply",
    "guarded": "Guarded assistant",
}
KINDS = tuple(KIND_LABELS)


@dataclass
class PlainOptions:
    pass


@dataclass
class SqlOptions:
    database: str | None = field(
        default=None, metadata={"help": "the SQLite file the questions are about (read-only)"}
    )
    max_rows: int = field(
        default=200, metadata={"help": "most rows a query returns", "range": (1, 10_000)}
    )
    timeout_s: float = field(
        default=5.0,
        metadata={"help": "a query running longer is stopped (seconds)", "range": (0.1, 120.0)},
    )
    sample_rows: int = field(
        default=3,
        metadata={"help": "sample rows per table shown to the model", "range": (0, 20)},
    )


@dataclass
class ModeratedOptions:
    policy: str = field(
        default="", metadata={"help": "what the reviewer passes, rewrites or blocks (plain text)"}
    )
    reviewer_model: str | None = field(
        default=None,
        metadata={"help": "model that reviews the draft (default: the one that wrote it)"},
    )


@dataclass
class GuardedOptions:
    canary: str | None = field(
        default=None,
        metadata={"help": "secret token in the system prompt; a reply containing it leaked"},
    )


OPTION_TYPES: dict[str, type] = {
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
    cls = OPTION_TYPES[check_kind(kind)]
    if values is not None and not isinstance(values, dict):
        raise UserError("A preset's options must be an object.")
    known = {f.name: f for f in fields(cls)}
    out = asdict(cls())
    out.update({k: v for k, v in (base or {}).items() if k in known})
    unknown = sorted(set(values or {}) - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise UserError(
            f"Unknown option(s) {', '.join(unknown)} for a {KIND_LABELS[kind]} preset; "
            f"known: {allowed}."
        )
    for name, value in (values or {}).items():
        spec = known[name]
        if value is None:
            out[name] = spec.default if spec.default is not MISSING else None
            continue
        default = spec.default
        rng = spec.metadata.get("range")
        if rng is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"Option {name} must be a number, not {value!r}.")
            if not rng[0] <= value <= rng[1]:
                raise UserError(f"Option {name} must be between {rng[0]:g} and {rng[1]:g}.")
            value = int(value) if isinstance(default, int) else float(value)
        elif not isinstance(value, str):
            raise UserError(f"Option {name} must be text, not {value!r}.")
        out[name] = value
    return out


def describe(kind: str) -> list[dict[str, Any]]:
    """The options of ``kind`` with defaults and help (for forms)."""
    return [
        {
            "name": f.name,
            "default": f.default if f.default is not MISSING else None,
            "help": f.metadata.get("help", ""),
            "range": f.metadata.get("range"),
        }
        for f in fields(OPTION_TYPES[check_kind(kind)])
    ]
