"""Generation parameters of a chat request: sampling, template, JSON mode.

``ChatParams`` extends the runtimes' ``SamplingParams``; each field's metadata carries its help
text (and ``ChatParams.describe()`` lists them with defaults) so the GUI's sampling controls and the
CLI's flags come from one place. ``ChatParams.from_dict`` checks a request's ``params`` object and
answers a ``UserError`` naming the field for anything out of range.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from engine.core.errors import UserError
from engine.runtimes.base import SamplingParams

# name -> (low, high) for numeric fields
_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 5.0),
    "top_p": (0.0, 1.0),
    "top_k": (0, 100_000),
    "min_p": (0.0, 1.0),
    "repeat_penalty": (0.1, 5.0),
    "max_tokens": (1, 1_000_000),
    "seed": (0, 2**32 - 1),
    "json_retries": (0, 10),
}


@dataclass
class ChatParams(SamplingParams):
    template: str | None = field(
        default=None,
        metadata={"help": "chat template for this request (default: the model's setting)"},
    )
    json_schema: dict[str, Any] | None = field(
        default=None, metadata={"help": "JSON Schema the reply must match (JSON mode)"}
    )
    json_retries: int = field(
        default=2,
        metadata={
            "help": "JSON mode without grammar support: extra attempts when a reply does not validate"
        },
    )

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> ChatParams:
        if values is None:
            return cls()
        if isinstance(values, ChatParams):
            return values
        if not isinstance(values, dict):
            raise UserError("params must be an object of generation settings.")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UserError(
                f"Unknown generation setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}."
            )
        out: dict[str, Any] = {}
        for name, value in values.items():
            if value is None:
                continue  # None means "the default"
            out[name] = _check(name, value, known[name])
        return cls(**out)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """Every field with its default and help text (for forms and ``--help``)."""
        out = []
        for f in fields(cls):
            default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
            out.append(
                {
                    "name": f.name,
                    "default": default,
                    "help": f.metadata.get("help", ""),
                    "range": _RANGES.get(f.name),
                }
            )
        return out


def _check(name: str, value: Any, spec: Any) -> Any:
    if name == "stop":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise UserError("stop must be a string or a list of strings.")
        if len(value) > 16:
            raise UserError("stop takes at most 16 strings.")
        return [s for s in value if s]
    if name == "template":
        from engine.chat.templates import check_choice

        return check_choice(value)
    if name == "json_schema":
        from engine.chat.schema import check_schema

        return check_schema(value)
    if name in ("ignore_eos", "cache_prompt"):
        if not isinstance(value, bool):
            raise UserError(f"{name} must be true or false.")
        return value
    low, high = _RANGES[name]
    integral = (
        isinstance(spec.default, int) and not isinstance(spec.default, bool)
    ) or name == "seed"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{name} must be a number, not {value!r}.")
    if integral and not float(value).is_integer():
        raise UserError(f"{name} must be a whole number, not {value!r}.")
    if not low <= value <= high:
        raise UserError(f"{name} must be between {low:g} and {high:g}, not {value!r}.")
    return int(value) if integral else float(value)
