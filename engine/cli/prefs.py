"""``hearth-engine prefs``: the preferences the desktop app's Preferences dialog also sets.

hearth-engine prefs [--json]                 show them
hearth-engine prefs set threads 4 [--json]   change one
hearth-engine prefs reset default_model      back to the engine's choice
"""

from __future__ import annotations

from typing import Any

from engine.cli.context import LocalContext
from engine.cli.output import emit_json
from engine.core.errors import UserError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("prefs", help="show or change preferences (default model, threads)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)
    psub = p.add_subparsers(dest="prefs_command", metavar="ACTION")
    a = psub.add_parser("set", help="change one preference")
    a.add_argument("name")
    a.add_argument("value")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_set)
    a = psub.add_parser("reset", help="give one preference back to the engine's choice")
    a.add_argument("name")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_reset)


def _show(answer: dict[str, Any], as_json: bool) -> int:
    if as_json:
        emit_json(answer["preferences"])
        return 0
    for d in answer["describe"]:
        value = answer["preferences"].get(d["name"])
        print(f"{d['name']:14s} {'(default)' if value is None else value}    {d['help']}")
    return 0


def _methods():
    from engine.rpc import core_methods

    return core_methods


def cmd_show(args: Any) -> int:
    return _show(_methods().prefs_get(LocalContext(progress=False)), args.json)


def _typed(name: str, text: str) -> Any:
    from engine.core.preferences import PreferenceValues

    kinds = {d["name"]: d["type"] for d in PreferenceValues.describe()}
    if name not in kinds:
        raise UserError(f"There is no preference {name!r}; there are: {', '.join(kinds)}.")
    if kinds[name].startswith("int"):
        try:
            return int(text)
        except ValueError:
            raise UserError(f"{name} takes a whole number, not {text!r}.") from None
    return text


def cmd_set(args: Any) -> int:
    ctx = LocalContext(progress=False)
    answer = _methods().prefs_set(ctx, values={args.name: _typed(args.name, args.value)})
    return _show(answer, args.json)


def cmd_reset(args: Any) -> int:
    _typed(args.name, "0")  # an unknown name is refused by name
    answer = _methods().prefs_set(LocalContext(progress=False), values={args.name: None})
    return _show(answer, args.json)
