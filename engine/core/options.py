"""One way to declare options: a dataclass whose fields say their help, range, choices and flags.

Chat parameters, a collection's settings, search options, preset options, a model's settings,
training options and the dataset steps are all declared with ``option(...)`` fields on an
``Options`` dataclass. From that one declaration come:

- ``from_dict(values, base=...)``: the values checked (type, range, choices, a field's own
  ``check``), unknown names refused, each problem a ``UserError`` that names the field and says
  what it takes; ``None`` means "the default";
- ``describe()``: every field with its type, default, help, range, choices, group and CLI flags,
  which the engine answers to the GUI (``chat.params``, ``train.options``, ``docs.settings``...)
  so forms take their defaults and limits from here instead of repeating them;
- ``add_arguments(parser)``: argparse flags for the CLI.

A class adds cross-field rules in ``validate()``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, asdict, field, fields
from functools import cache
from typing import Any, ClassVar, TypeVar

from engine.core.errors import UserError

T = TypeVar("T", bound="Options")


def option(
    default: Any = None,
    help: str = "",
    *,
    range: tuple[float, float] | None = None,
    choices: tuple[Any, ...] | None = None,
    group: str = "",
    cli: tuple[str, ...] = (),
    check: Callable[[Any], Any] | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A field of an ``Options`` dataclass. ``check(value)`` replaces the type check for values
    that need more than one (a template name, a JSON Schema) and returns the value to keep."""
    meta = {"help": help, "range": range, "choices": choices, "group": group, "cli": cli,
            "check": check}  # fmt: skip
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


class Options:
    """Base of option dataclasses (subclasses are ``@dataclass``)."""

    WHAT: ClassVar[str] = "setting"  # how messages name one option
    HINT: ClassVar[str] = ""  # appended to "unknown option" messages (where to look them up)

    @classmethod
    def from_dict(cls: type[T], values: Any = None, *, base: Any = None) -> T:
        """``base``'s values (an instance or a dict; default: the defaults) updated by
        ``values``; ``None`` for a value sets that option back to its default."""
        if isinstance(values, cls):
            return values
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise UserError(f"The {cls.WHAT}s must be an object of names and values.")
        known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - set(known))
        if unknown:
            hint = cls.HINT or f"known: {', '.join(sorted(known))}"
            raise UserError(f"Unknown {cls.WHAT}(s) {', '.join(unknown)}; {hint}.")
        out: dict[str, Any] = {}
        if base is not None:
            start = base if isinstance(base, dict) else asdict(base)
            out = {k: v for k, v in start.items() if k in known}
        for name, value in values.items():
            if value is None:
                out.pop(name, None)
            else:
                out[name] = cls.check_value(name, value)
        obj = cls(**out)
        obj.validate()
        return obj

    @classmethod
    def from_params(cls: type[T], params: dict[str, Any]) -> T:
        """The options among a wider dict (a job's params also name its dataset, its title...)."""
        names = _fields(cls)
        return cls.from_dict({k: v for k, v in params.items() if k in names})

    @classmethod
    def check_value(cls, name: str, value: Any) -> Any:
        """One option's value as it is kept, or ``UserError`` saying what ``name`` takes."""
        f = _fields(cls)[name]
        meta = f.metadata
        if meta.get("check") is not None:
            return meta["check"](value)
        kind = _type_of(cls, name)
        if kind is bool:
            if not isinstance(value, bool):
                raise UserError(f"{name} must be true or false, not {value!r}.")
            return value
        if kind is int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UserError(f"{name} must be a whole number, not {value!r}.")
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"{name} must be a number, not {value!r}.")
            if not math.isfinite(value):
                raise UserError(f"{name} must be a finite number, not {value!r}.")
            value = float(value)
        elif kind is str:
            if not isinstance(value, str):
                raise UserError(f"{name} must be text, not {value!r}.")
        elif typing.get_origin(kind) is list:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise UserError(f"{name} must be a list of text values.")
        choices = meta.get("choices")
        if choices and value not in choices:
            raise UserError(f"{name} must be one of {', '.join(map(str, choices))}, not {value!r}.")
        bounds = meta.get("range")
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            raise UserError(
                f"{name} must be from {_number(bounds[0])} to {_number(bounds[1])}, not {value!r}."
            )
        return value

    def validate(self) -> None:
        """Rules between options; raise ``UserError``. Nothing by default."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def help_of(cls, name: str) -> str:
        return _fields(cls)[name].metadata.get("help", "")

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {d["name"]: d["default"] for d in cls.describe()}

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """Every option for forms and ``--help``: name, type, default, help, range, choices,
        group, cli."""
        out = []
        for f in fields(cls):  # type: ignore[arg-type]
            meta = f.metadata
            default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
            out.append(
                {
                    "name": f.name,
                    "type": _type_name(_type_of(cls, f.name)),
                    "default": default,
                    "help": meta.get("help", ""),
                    "range": list(meta["range"]) if meta.get("range") else None,
                    "choices": list(meta["choices"]) if meta.get("choices") else None,
                    "group": meta.get("group") or "",
                    "cli": ["--" + f.name.replace("_", "-"), *meta.get("cli", ())],
                }
            )
        return out

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, *, skip: tuple[str, ...] = ()) -> None:
        """A flag per option (``--top-p``...); each defaults to None, meaning "not given"."""
        for d in cls.describe():
            if d["name"] in skip:
                continue
            kwargs: dict[str, Any] = {"dest": d["name"], "default": None, "help": d["help"]}
            if d["type"] == "bool":
                kwargs["action"] = argparse.BooleanOptionalAction
            elif d["type"] in ("int", "float"):
                kwargs["type"] = int if d["type"] == "int" else float
            elif d["type"] == "list":
                kwargs["action"] = "append"
            if d["choices"]:
                kwargs["choices"] = d["choices"]
            parser.add_argument(*d["cli"], **kwargs)

    @classmethod
    def values_from_args(cls, args: argparse.Namespace) -> dict[str, Any]:
        """The options given on the command line (flags left out are not in the dict)."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return {k: v for k, v in vars(args).items() if k in names and v is not None}


def _number(x: float) -> str:
    """A limit as people write it: 2048, 0.5, 1e-08 (not 2048.0 or 1e+07)."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def optional_int(value: Any, name: str) -> int | None:
    """A whole number or None, for RPC parameters that are not part of an options class."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{name} must be a whole number.")
    return value


@cache
def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in fields(cls)}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_of(cls: type, name: str) -> Any:
    hint = _hints(cls)[name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if args else hint
    return hint


def _type_name(kind: Any) -> str:
    if typing.get_origin(kind) is list:
        return "list"
    if typing.get_origin(kind) is dict or kind is dict:
        return "object"
    return getattr(kind, "__name__", "str")
