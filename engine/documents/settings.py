"""A collection's settings and a search's options, as dataclasses whose fields carry help text.

``CollectionSettings`` is stored as JSON with the collection; ``SearchOptions`` is what one search
asks for, with defaults taken from the collection. Both check their values with ``from_dict`` and
answer a ``UserError`` naming the field, and ``describe()`` lists fields for GUI forms and CLI help.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from engine.core.errors import UserError

MODES = ("hybrid", "dense", "bm25")


@dataclass
class CollectionSettings:
    chunk_tokens: int = field(
        default=200,
        metadata={"help": "most embedder tokens in one chunk", "range": (32, 2048)},
    )
    overlap_tokens: int = field(
        default=32,
        metadata={
            "help": "tokens of the previous chunk repeated at the start of the next",
            "range": (0, 512),
        },
    )
    batch_size: int = field(
        default=32, metadata={"help": "chunks embedded per batch", "range": (1, 1024)}
    )
    k: int = field(default=5, metadata={"help": "chunks returned by a search", "range": (1, 100)})
    mode: str = field(
        default="hybrid", metadata={"help": "retrieval: hybrid (dense + BM25), dense or bm25"}
    )
    min_score: float = field(
        default=0.2,
        metadata={
            "help": "dense similarity below which a chunk counts as unrelated (unless it matches "
            "a rare keyword); 0 turns the threshold off",
            "range": (0.0, 1.0),
        },
    )
    mmr: bool = field(
        default=False, metadata={"help": "diversify results (maximal marginal relevance)"}
    )
    mmr_lambda: float = field(
        default=0.6,
        metadata={"help": "MMR balance: 1 = relevance only, 0 = diversity only", "range": (0, 1)},
    )
    cache_similarity: float = field(
        default=0.95,
        metadata={
            "help": "a question at least this similar to an earlier one reuses its retrieval "
            "(1 turns the semantic cache off)",
            "range": (0.5, 1.0),
        },
    )

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, *, base: Any = None) -> CollectionSettings:
        return _from_dict(cls, values, base)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        return _describe(cls)

    def chunking_key(self) -> str:
        """What must match for an indexed file to count as up to date."""
        return f"t{self.chunk_tokens}-o{self.overlap_tokens}"


@dataclass
class SearchOptions:
    k: int = field(default=5, metadata={"help": "chunks to return", "range": (1, 100)})
    mode: str = field(default="hybrid", metadata={"help": "hybrid, dense or bm25"})
    min_score: float = field(
        default=0.2, metadata={"help": "relevance threshold (0 = off)", "range": (0.0, 1.0)}
    )
    mmr: bool = field(default=False, metadata={"help": "diversify results"})
    mmr_lambda: float = field(default=0.6, metadata={"help": "MMR balance", "range": (0, 1)})
    files: list[str] | None = field(
        default=None, metadata={"help": "only these files (absolute paths or file names)"}
    )
    types: list[str] | None = field(
        default=None, metadata={"help": "only these types (pdf, docx, pptx, md, html, txt, csv)"}
    )
    cache: bool = field(default=True, metadata={"help": "allow the semantic cache"})

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, *, base: Any = None) -> SearchOptions:
        return _from_dict(cls, values, base)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cache_key(self) -> str:
        """The options that change a result (everything but ``cache``), as a stable string."""
        import json

        d = self.to_dict()
        d.pop("cache")
        for name in ("files", "types"):
            if d[name] is not None:
                d[name] = sorted(d[name])
        return json.dumps(d, sort_keys=True)

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        return _describe(cls)


def _from_dict(cls: Any, values: dict[str, Any] | None, base: Any) -> Any:
    """``cls`` from ``values`` (None = default), starting from ``base``'s matching fields."""
    known = {f.name: f for f in fields(cls)}
    start: dict[str, Any] = {}
    if base is not None:
        base_dict = base if isinstance(base, dict) else asdict(base)
        start = {k: v for k, v in base_dict.items() if k in known}
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise UserError("Settings must be an object of name: value pairs.")
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UserError(
            f"Unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}."
        )
    out = dict(start)
    for name, value in values.items():
        if value is None:
            out.pop(name, None)
            continue
        out[name] = _check(name, value, known[name])
    obj = cls(**out)
    if getattr(obj, "mode", "hybrid") not in MODES:
        raise UserError(f"mode must be one of {', '.join(MODES)}, not {obj.mode!r}.")
    if isinstance(obj, CollectionSettings) and obj.overlap_tokens * 2 > obj.chunk_tokens:
        raise UserError(
            f"overlap_tokens ({obj.overlap_tokens}) must be at most half of chunk_tokens "
            f"({obj.chunk_tokens})."
        )
    return obj


def _check(name: str, value: Any, spec: Any) -> Any:
    default = spec.default if spec.default is not MISSING else None
    kind = type(default) if default is not None else None
    if name in ("files", "types"):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise UserError(f"{name} must be a list of strings.")
        return [v.lower().lstrip(".") for v in value] if name == "types" else value
    if kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"{name} must be true or false.")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{name} must be a whole number.")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{name} must be a number.")
        value = float(value)
    elif kind is str and not isinstance(value, str):
        raise UserError(f"{name} must be text.")
    low_high = spec.metadata.get("range")
    if low_high is not None and not (low_high[0] <= value <= low_high[1]):
        raise UserError(f"{name} must be between {low_high[0]} and {low_high[1]}, not {value}.")
    return value


def _describe(cls: Any) -> list[dict[str, Any]]:
    out = []
    for f in fields(cls):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        out.append(
            {
                "name": f.name,
                "default": default,
                "help": f.metadata.get("help", ""),
                "range": f.metadata.get("range"),
            }
        )
    return out
