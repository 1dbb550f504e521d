"""JSON mode: check a user's JSON Schema, and check a reply against it.

Covers the part of JSON Schema that structured output uses (and llama.cpp's grammar converter
understands): ``type`` (one or a list), ``enum``, ``const``, ``properties``, ``required``,
``additionalProperties``, ``items``, ``prefixItems``, ``minItems``/``maxItems``,
``minLength``/``maxLength``, ``pattern``, ``minimum``/``maximum`` (and the exclusive forms),
``anyOf``/``oneOf``/``allOf``, and local ``$ref`` into ``$defs``/``definitions``. Other keywords
(``format``, ``description``, ``title``...) are accepted and not checked.
"""

from __future__ import annotations

import json
import re
from typing import Any

from engine.core.errors import UserError

TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "contains")
_COUNTS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
_NUMBERS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


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
    _check(schema, schema, "#")
    return schema


def _bad(where: str, what: str) -> UserError:
    return UserError(f"Invalid JSON Schema at {where}: {what}. Fix the schema and try again.")


def _check(node: Any, root: dict[str, Any], where: str) -> None:
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        raise _bad(where, "a schema must be an object or true/false")
    kind = node.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        for k in kinds:
            if k not in TYPES:
                raise _bad(where, f"unknown type {k!r} (use one of {', '.join(TYPES)})")
    for key in _SCHEMA_MAPS:
        if key in node:
            value = node[key]
            if not isinstance(value, dict):
                raise _bad(where, f"{key!r} must be an object of schemas")
            for name, sub in value.items():
                if key == "patternProperties":
                    _check_pattern(name, f"{where}/{key}")
                _check(sub, root, f"{where}/{key}/{name}")
    for key in _SCHEMA_LISTS:
        if key in node:
            value = node[key]
            if not isinstance(value, list) or not value:
                raise _bad(where, f"{key!r} must be a non-empty list of schemas")
            for i, sub in enumerate(value):
                _check(sub, root, f"{where}/{key}/{i}")
    for key in _SCHEMA_ONE:
        if key in node:
            _check(node[key], root, f"{where}/{key}")
    if "required" in node and (
        not isinstance(node["required"], list)
        or not all(isinstance(r, str) for r in node["required"])
    ):
        raise _bad(where, "'required' must be a list of property names")
    if "enum" in node and (not isinstance(node["enum"], list) or not node["enum"]):
        raise _bad(where, "'enum' must be a non-empty list")
    for key in _COUNTS:
        if key in node and (
            isinstance(node[key], bool) or not isinstance(node[key], int) or node[key] < 0
        ):
            raise _bad(where, f"{key!r} must be a whole number >= 0")
    for key in _NUMBERS:
        if key in node and (isinstance(node[key], bool) or not isinstance(node[key], (int, float))):
            raise _bad(where, f"{key!r} must be a number")
    if "pattern" in node:
        _check_pattern(node["pattern"], where)
    if "$ref" in node:
        _resolve(node["$ref"], root, where)


def _check_pattern(pattern: Any, where: str) -> None:
    if not isinstance(pattern, str):
        raise _bad(where, "'pattern' must be a string")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise _bad(
            where, f"the pattern {pattern!r} is not a valid regular expression ({exc})"
        ) from None


def _resolve(ref: Any, root: dict[str, Any], where: str) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise _bad(where, f"only local references like '#/$defs/Name' are supported, not {ref!r}")
    node: Any = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise _bad(where, f"the reference {ref!r} points nowhere")
        node = node[part]
    return node


# ---- validation ----------------------------------------------------------------------------
def validate(instance: Any, schema: dict[str, Any], *, limit: int = 5) -> list[str]:
    """Why ``instance`` does not match ``schema`` (empty when it does); at most ``limit`` reasons."""
    errors: list[str] = []
    _validate(instance, schema, schema, "$", errors)
    return errors[:limit]


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return kind == "number" or float(value).is_integer()


def _validate(value: Any, node: Any, root: dict[str, Any], path: str, errors: list[str]) -> None:
    if node is True or node == {}:
        return
    if node is False:
        errors.append(f"{path}: no value is allowed here")
        return
    if "$ref" in node:
        _validate(value, _resolve(node["$ref"], root, path), root, path, errors)
    kind = node.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_type_ok(value, k) for k in kinds):
            errors.append(f"{path}: expected {' or '.join(kinds)}, got {_json_type(value)}")
            return
    if "enum" in node and value not in node["enum"]:
        errors.append(f"{path}: {value!r} is not one of {node['enum']!r}")
    if "const" in node and value != node["const"]:
        errors.append(f"{path}: must be {node['const']!r}")
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            passing = 0
            for sub in node[key]:
                sub_errors: list[str] = []
                _validate(value, sub, root, path, sub_errors)
                passing += not sub_errors
                if key == "allOf":
                    errors.extend(sub_errors)
            if key == "anyOf" and not passing:
                errors.append(f"{path}: matches none of anyOf")
            if key == "oneOf" and passing != 1:
                errors.append(f"{path}: matches {passing} of oneOf, not exactly one")
    if isinstance(value, dict):
        _validate_object(value, node, root, path, errors)
    elif isinstance(value, list):
        _validate_array(value, node, root, path, errors)
    elif isinstance(value, str):
        if "minLength" in node and len(value) < node["minLength"]:
            errors.append(f"{path}: shorter than {node['minLength']} characters")
        if "maxLength" in node and len(value) > node["maxLength"]:
            errors.append(f"{path}: longer than {node['maxLength']} characters")
        if "pattern" in node and not re.search(node["pattern"], value):
            errors.append(f"{path}: does not match the pattern {node['pattern']!r}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in node and value < node["minimum"]:
            errors.append(f"{path}: less than {node['minimum']}")
        if "maximum" in node and value > node["maximum"]:
            errors.append(f"{path}: more than {node['maximum']}")
        if "exclusiveMinimum" in node and value <= node["exclusiveMinimum"]:
            errors.append(f"{path}: not more than {node['exclusiveMinimum']}")
        if "exclusiveMaximum" in node and value >= node["exclusiveMaximum"]:
            errors.append(f"{path}: not less than {node['exclusiveMaximum']}")


def _validate_object(value: dict, node: dict, root: dict, path: str, errors: list[str]) -> None:
    props = node.get("properties") or {}
    for name in node.get("required") or []:
        if name not in value:
            errors.append(f"{path}: missing required property {name!r}")
    extra = node.get("additionalProperties", True)
    patterns = node.get("patternProperties") or {}
    for name, item in value.items():
        if name in props:
            _validate(item, props[name], root, f"{path}.{name}", errors)
            continue
        matched = [s for p, s in patterns.items() if re.search(p, name)]
        for sub in matched:
            _validate(item, sub, root, f"{path}.{name}", errors)
        if matched:
            continue
        if extra is False:
            errors.append(f"{path}: unexpected property {name!r}")
        elif isinstance(extra, dict):
            _validate(item, extra, root, f"{path}.{name}", errors)
    if "minProperties" in node and len(value) < node["minProperties"]:
        errors.append(f"{path}: fewer than {node['minProperties']} properties")
    if "maxProperties" in node and len(value) > node["maxProperties"]:
        errors.append(f"{path}: more than {node['maxProperties']} properties")


def _validate_array(value: list, node: dict, root: dict, path: str, errors: list[str]) -> None:
    prefix = node.get("prefixItems") or []
    for i, item in enumerate(value):
        if i < len(prefix):
            _validate(item, prefix[i], root, f"{path}[{i}]", errors)
        elif "items" in node:
            _validate(item, node["items"], root, f"{path}[{i}]", errors)
    if "minItems" in node and len(value) < node["minItems"]:
        errors.append(f"{path}: fewer than {node['minItems']} items")
    if "maxItems" in node and len(value) > node["maxItems"]:
        errors.append(f"{path}: more than {node['maxItems']} items")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


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
