"""JSON mode: check a user's JSON Schema, and check a reply against it.

Both are done by ``jsonschema`` (Draft 2020-12, which also reads the older drafts' keywords that
structured output uses). What is written here is only what it does not do for us: messages a user
can act on, and ``$ref``: only references inside the schema (``#/$defs/...``) are accepted, each
resolved up front so a dangling one is reported before generating, and nothing is ever fetched.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from engine.core.errors import UserError

TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
_BASE = "urn:hearth:schema"


def check_schema(schema: Any) -> dict[str, Any]:
    """Return ``schema`` if it is a usable JSON Schema, else raise ``UserError`` saying where not."""
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError as exc:
            raise UserError(
                f"The JSON Schema is not valid JSON ({exc}); fix it and try again."
            ) from None
    if not isinstance(schema, dict):
        raise UserError('The JSON Schema must be a JSON object, like {"type": "object", ...}.')
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise _bad(_where(exc.path), _schema_problem(exc)) from None
    _check_refs(schema)
    return schema


def _bad(where: str, what: str) -> UserError:
    return UserError(f"Invalid JSON Schema at {where}: {what}. Fix the schema and try again.")


def _where(path: Any) -> str:
    return "#" + "".join(f"/{part}" for part in path)


def _schema_problem(exc: SchemaError) -> str:
    last = exc.path[-1] if exc.path else None
    if last == "type" and isinstance(exc.instance, (str, list)):
        return f"unknown type {exc.instance!r} (use one of {', '.join(TYPES)})"
    if exc.validator == "format" and exc.validator_value == "regex":
        return f"{exc.instance!r} is not a valid regular expression"
    return exc.message


def _check_refs(schema: dict[str, Any]) -> None:
    resolver = Registry().with_resource(_BASE, DRAFT202012.create_resource(schema)).resolver(_BASE)
    stack: list[tuple[Any, str]] = [(schema, "#")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if not ref.startswith("#"):
                    raise _bad(where, f"$ref {ref!r} is not inside this schema; Hearth does not "
                                      "fetch schemas, so put it under $defs and refer to it as #/$defs/NAME")  # fmt: skip
                try:
                    resolver.lookup(ref)
                except Unresolvable:
                    raise _bad(where, f"$ref {ref!r} points nowhere") from None
            stack.extend((v, f"{where}/{k}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}/{i}") for i, v in enumerate(node))


def validate(instance: Any, schema: dict[str, Any], *, limit: int = 5) -> list[str]:
    """Why ``instance`` does not match ``schema`` (empty when it does); at most ``limit`` reasons,
    the most relevant first."""
    validator = Draft202012Validator(schema)
    errors = list(validator.iter_errors(instance))
    if not errors:
        return []
    first = best_match(errors)
    ordered = [first, *(e for e in errors if e is not first)]
    return [f"{e.json_path}: {e.message}" for e in ordered[:limit]]


def parse_reply(text: str) -> Any:
    """The JSON value in a reply, tolerating a Markdown code fence around it."""
    body = text.strip()
    fence = re.match(r"^```[a-zA-Z]*\s*\n(.*?)\n?```\s*$", body, re.S)
    if fence:
        body = fence.group(1).strip()
    return json.loads(body)


def instruction(schema: dict[str, Any]) -> str:
    """A system-prompt line asking for JSON, for runtimes that cannot constrain sampling."""
    return (
        "Reply with one JSON value and nothing else. It must be valid against this JSON Schema:\n"
        + json.dumps(schema, ensure_ascii=False)
    )


def with_instruction(
    messages: list[dict[str, str]], schema: dict[str, Any]
) -> list[dict[str, str]]:
    """``messages`` with the JSON instruction for ``schema`` added to (or as) the system prompt,
    for runtimes that cannot sample under a grammar."""
    line = instruction(schema)
    if messages and messages[0]["role"] == "system":
        first = {"role": "system", "content": messages[0]["content"].rstrip() + "\n\n" + line}
        return [first, *messages[1:]]
    return [{"role": "system", "content": line}, *messages]


def check_reply(text: str, schema: dict[str, Any], attempt: int) -> dict[str, Any]:
    """The ``json`` report of a reply: ``{valid, value, error, attempts}``."""
    try:
        value = parse_reply(text)
    except ValueError as exc:
        return {"valid": False, "value": None, "error": f"not JSON: {exc}", "attempts": attempt}
    errors = validate(value, schema)
    return {
        "valid": not errors,
        "value": value,
        "error": "; ".join(errors) or None,
        "attempts": attempt,
    }
