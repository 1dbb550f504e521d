"""Training-data formats: what each row looks like, how to recognise it, how to convert between them.

Canonical rows (extra columns ride along unchanged):

    alpaca      {"instruction", "input", "output", "system"?, "history"?: [[user, assistant], ...]}
    sharegpt    {"conversations": [{"from": "system"|"human"|"gpt"|..., "value"}]}
    messages    {"messages": [{"role": "system"|"user"|"assistant"|"tool", "content"}]}
    preference  {"prompt", "chosen", "rejected", "system"?}
    text        {"text"}

``detect(rows)`` scores every format on a sample and returns candidates with a confidence and the
column mapping it assumed; ``needs_mapping`` tells the caller to ask the user (the GUI's
column-mapping dialog) -- who answers with an explicit ``{"format", "mapping"}``.
``to_canonical(raw, format, mapping)`` applies a mapping to one raw row and ``convert(row, src, dst)``
moves a canonical row between formats. Alpaca, ShareGPT and messages hold the same conversations
(an alpaca ``input`` becomes part of the user turn); preference rows keep their chosen reply
when converted to a conversation; conversations become plain text through a chat template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from engine.core.errors import UserError

FORMATS = ("alpaca", "sharegpt", "messages", "preference", "text")
REQUIRED = {
    "alpaca": ("instruction", "output"),
    "sharegpt": ("conversations",),
    "messages": ("messages",),
    "preference": ("prompt", "chosen", "rejected"),
    "text": ("text",),
}
OPTIONAL = {
    "alpaca": ("input", "system", "history"),
    "sharegpt": (),
    "messages": (),
    "preference": ("system",),
    "text": (),
}
FIELD_ORDER = {
    "alpaca": ("system", "instruction", "input", "output", "history"),
    "sharegpt": ("conversations",),
    "messages": ("messages",),
    "preference": ("system", "prompt", "chosen", "rejected"),
    "text": ("text",),
}
# canonical field -> column names that usually hold it, best first (the first is the canonical one)
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "alpaca": {
        "instruction": ("instruction", "prompt", "question", "query", "instructions", "task"),
        "input": ("input", "context", "input_text"),
        "output": ("output", "response", "answer", "completion", "target", "reply"),
        "system": ("system", "system_prompt"),
        "history": ("history",),
    },
    "sharegpt": {"conversations": ("conversations", "conversation", "dialog", "dialogue")},
    "messages": {"messages": ("messages", "conversation", "chat", "dialog")},
    "preference": {
        "prompt": ("prompt", "question", "instruction", "query"),
        "chosen": ("chosen", "response_chosen", "chosen_response", "response_j", "better"),
        "rejected": ("rejected", "response_rejected", "rejected_response", "response_k", "worse"),
        "system": ("system",),
    },
    "text": {"text": ("text", "content", "document", "body", "passage", "story", "sentence")},
}
SHAREGPT_TO_ROLE = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "bot": "assistant",
    "system": "system",
    "observation": "tool",
    "tool": "tool",
    "function_call": "function_call",
}
ROLE_TO_SHAREGPT = {
    "user": "human",
    "assistant": "gpt",
    "system": "system",
    "tool": "observation",
    "function_call": "function_call",
}
CONFIDENT = 0.9


class RowError(ValueError):
    """One row that cannot be read as (or converted to) the wanted format; str() is the reason."""


@dataclass
class Candidate:
    format: str
    confidence: float
    mapping: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "confidence": round(self.confidence, 3),
            "mapping": dict(self.mapping),
        }


def check_format(name: Any) -> str:
    if name not in FORMATS:
        raise UserError(f"Unknown dataset format {name!r}; choose one of {', '.join(FORMATS)}.")
    return name


# -- detection ------------------------------------------------------------------------------


def _is_turn_list(value: Any, keys: tuple[str, str]) -> bool:
    value = _maybe_json(value)
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, dict) and keys[0] in t and keys[1] in t for t in value[:8])
    )


def _maybe_json(value: Any) -> Any:
    """CSV cells and text columns may hold JSON (a list of turns); parse it when they do."""
    if isinstance(value, str) and value[:1] in "[{" and value.rstrip()[-1:] in "]}":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _find(row: dict[str, Any], names: tuple[str, ...]) -> tuple[str | None, float]:
    """The column of ``row`` for a field: exact canonical name 1.0, a synonym 0.75, a case variant 0.7."""
    lower = {str(k).lower(): k for k in row}
    for i, name in enumerate(names):
        if name in row:
            return name, 1.0 if i == 0 else 0.75
        if name in lower:
            return lower[name], 0.7
    return None, 0.0


def _score_row(row: dict[str, Any], fmt: str) -> tuple[float, dict[str, str]]:
    syn = SYNONYMS[fmt]
    if fmt in ("sharegpt", "messages"):
        keys = ("from", "value") if fmt == "sharegpt" else ("role", "content")
        for i, name in enumerate(syn[REQUIRED[fmt][0]]):
            for col in (c for c in row if str(c).lower() == name):
                if _is_turn_list(row[col], keys):
                    exact = i == 0 and col == name
                    return (1.0 if exact else 0.8), {REQUIRED[fmt][0]: col}
        # ShareGPT turns under a "messages" column (or the reverse): recognisable, less sure
        other = ("role", "content") if fmt == "sharegpt" else ("from", "value")
        for col, value in row.items():
            if _is_turn_list(value, keys) and not _is_turn_list(value, other):
                return 0.6, {REQUIRED[fmt][0]: col}
        return 0.0, {}
    mapping: dict[str, str] = {}
    scores = []
    used: set[str] = set()
    for field in REQUIRED[fmt]:
        col, score = _find({k: v for k, v in row.items() if k not in used}, syn[field])
        if col is None or not isinstance(row[col], (str, int, float, list)):
            if fmt == "text" and len(row) == 1:  # a lone column is text whatever its name
                (col,) = row
                if isinstance(row[col], str):
                    return 0.55, {"text": col}
            return 0.0, {}
        mapping[field] = col
        used.add(col)
        scores.append(score)
    for field in OPTIONAL[fmt]:
        col, _score = _find({k: v for k, v in row.items() if k not in used}, syn[field])
        if col is not None:
            mapping[field] = col
            used.add(col)
    score = min(scores)
    if fmt == "text":
        others = [k for k in row if k not in used and isinstance(row[k], str) and row[k]]
        if others:  # other text columns: this may be something else with a text column
            score *= 0.6
    return score, mapping


def detect(rows: list[dict[str, Any]]) -> list[Candidate]:
    """Candidate formats for a sample of raw rows, most likely first."""
    if not rows:
        return []
    out = []
    for fmt in FORMATS:
        total = 0.0
        votes: dict[tuple[tuple[str, str], ...], int] = {}
        for row in rows:
            score, mapping = _score_row(row, fmt)
            total += score
            if score:
                key = tuple(sorted(mapping.items()))
                votes[key] = votes.get(key, 0) + 1
        if not votes:
            continue
        best = max(votes.items(), key=lambda kv: kv[1])[0]
        out.append(Candidate(fmt, total / len(rows), dict(best)))
    # a preference row also looks like alpaca (prompt/question); prefer the richer reading
    out.sort(key=lambda c: (c.confidence, len(c.mapping)), reverse=True)
    return out


def needs_mapping(candidates: list[Candidate]) -> bool:
    if not candidates or candidates[0].confidence < CONFIDENT:
        return True
    return len(candidates) > 1 and candidates[1].confidence >= candidates[0].confidence - 0.05


def check_mapping(fmt: str, mapping: Any) -> dict[str, str]:
    """Validate a user's mapping ``{canonical field: column}``."""
    check_format(fmt)
    if mapping is None:
        return {}
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise UserError(
            'mapping must be an object of field names to column names, e.g. {"output": "answer"}.'
        )
    known = set(REQUIRED[fmt]) | set(OPTIONAL[fmt])
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise UserError(
            f"{fmt} has no field {', '.join(unknown)}; its fields are {', '.join(sorted(known))}."
        )
    return dict(mapping)


# -- raw -> canonical -----------------------------------------------------------------------


def _text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    raise RowError(f"{field} is a {type(value).__name__}, not text")


def _turns(value: Any, keys: tuple[str, str], field: str) -> list[dict[str, str]]:
    value = _maybe_json(value)
    if not isinstance(value, list) or not value:
        raise RowError(f"{field} is not a list of turns")
    out = []
    for i, turn in enumerate(value):
        if not isinstance(turn, dict) or keys[0] not in turn:
            raise RowError(f"turn {i + 1} of {field} has no {keys[0]!r}")
        out.append(
            {keys[0]: _text(turn[keys[0]], keys[0]), keys[1]: _text(turn.get(keys[1]), keys[1])}
        )
    return out


def to_canonical(raw: dict[str, Any], fmt: str, mapping: dict[str, str]) -> dict[str, Any]:
    """``raw`` read as ``fmt`` through ``mapping`` (field -> column); unmapped fields by their
    own names. Unused columns are kept. Raises ``RowError``."""
    row = dict(raw)
    out: dict[str, Any] = {}
    for field in (*REQUIRED[fmt], *OPTIONAL[fmt]):
        col = mapping.get(field, field)
        if col not in row:
            if field in REQUIRED[fmt]:
                raise RowError(
                    f"missing {field!r}" + (f" (column {col!r})" if col != field else "")
                )
            continue
        value = row.pop(col)
        if fmt == "sharegpt":
            turns = _turns(value, ("from", "value"), field)
            out[field] = [{"from": _canon_from(t["from"]), "value": t["value"]} for t in turns]
        elif fmt == "messages":
            out[field] = _turns(value, ("role", "content"), field)
        elif field == "history":
            out[field] = _history(value)
        elif fmt == "preference" and field in ("chosen", "rejected") and isinstance(value, list):
            out[field] = _last_reply(value, field)
        else:
            out[field] = _text(value, field)
    if fmt == "alpaca":
        out.setdefault("input", "")
        if not out.get("history"):
            out.pop("history", None)
        if not out.get("system"):
            out.pop("system", None)
    if fmt == "preference" and not out.get("system"):
        out.pop("system", None)
    ordered = {k: out[k] for k in FIELD_ORDER[fmt] if k in out}
    ordered.update(row)  # extra columns ride along
    return ordered


def _canon_from(who: str) -> str:
    role = SHAREGPT_TO_ROLE.get(who.lower())
    return ROLE_TO_SHAREGPT[role] if role else who


def _history(value: Any) -> list[list[str]]:
    value = _maybe_json(value)
    if value in (None, "", []):
        return []
    if not isinstance(value, list) or not all(
        isinstance(p, (list, tuple)) and len(p) == 2 for p in value
    ):
        raise RowError("history is not a list of [user, assistant] pairs")
    return [[_text(a, "history"), _text(b, "history")] for a, b in value]


def _last_reply(turns: list[Any], field: str) -> str:
    for turn in reversed(turns):
        if isinstance(turn, dict) and turn.get("role") == "assistant":
            return _text(turn.get("content"), field)
    raise RowError(f"{field} has no assistant message")


def row_format(raw: dict[str, Any]) -> str | None:
    """The format one raw row plainly is (canonical column names only), for mixed files."""
    for fmt in ("messages", "sharegpt", "preference", "alpaca", "text"):
        score, _mapping = _score_row(raw, fmt)
        if score >= 0.8:
            return fmt
    return None


# -- conversions ----------------------------------------------------------------------------


def _extras(row: dict[str, Any], fmt: str) -> dict[str, Any]:
    own = set(REQUIRED[fmt]) | set(OPTIONAL[fmt])
    return {k: v for k, v in row.items() if k not in own}


def to_chat(row: dict[str, Any], fmt: str) -> list[dict[str, str]]:
    """A canonical row as a list of ``{role, content}`` messages (preference: the chosen reply)."""
    if fmt == "messages":
        return [dict(m) for m in row["messages"]]
    if fmt == "sharegpt":
        return [
            {"role": SHAREGPT_TO_ROLE.get(t["from"].lower(), t["from"]), "content": t["value"]}
            for t in row["conversations"]
        ]
    if fmt == "alpaca":
        out = [{"role": "system", "content": row["system"]}] if row.get("system") else []
        for user, assistant in row.get("history") or []:
            out += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        user = row["instruction"]
        if row.get("input"):
            user = f"{user}\n\n{row['input']}" if user else row["input"]
        return [
            *out,
            {"role": "user", "content": user},
            {"role": "assistant", "content": row["output"]},
        ]
    if fmt == "preference":
        out = [{"role": "system", "content": row["system"]}] if row.get("system") else []
        return [
            *out,
            {"role": "user", "content": row["prompt"]},
            {"role": "assistant", "content": row["chosen"]},
        ]
    raise RowError("plain text has no conversation turns")


def from_chat(messages: list[dict[str, str]], fmt: str) -> dict[str, Any]:
    if fmt == "messages":
        return {"messages": [{"role": m["role"], "content": m["content"]} for m in messages]}
    if fmt == "sharegpt":
        return {
            "conversations": [
                {"from": ROLE_TO_SHAREGPT.get(m["role"], m["role"]), "value": m["content"]}
                for m in messages
            ]
        }
    if fmt == "alpaca":
        system = [m["content"] for m in messages if m["role"] == "system"]
        turns = [m for m in messages if m["role"] != "system"]
        if len(system) > 1 or (messages and system and messages[0]["role"] != "system"):
            raise RowError("alpaca holds one system prompt, at the start")
        roles = [m["role"] for m in turns]
        if not turns or len(turns) % 2 or roles != ["user", "assistant"] * (len(turns) // 2):
            raise RowError(
                "alpaca needs alternating user/assistant turns ending with the assistant"
            )
        pairs = [[turns[i]["content"], turns[i + 1]["content"]] for i in range(0, len(turns), 2)]
        out: dict[str, Any] = {"instruction": pairs[-1][0], "input": "", "output": pairs[-1][1]}
        if system:
            out["system"] = system[0]
        if len(pairs) > 1:
            out["history"] = pairs[:-1]
        return out
    if fmt == "preference":
        raise RowError("a conversation has no rejected reply, which preference pairs need")
    raise RowError(f"cannot make {fmt} from a conversation")


def convert(
    row: dict[str, Any], src: str, dst: str, *, render_text: Any = None
) -> tuple[dict[str, Any], bool]:
    """``row`` (canonical ``src``) as ``dst``; returns ``(row, lossy)``. Raises ``RowError``.

    ``render_text(messages) -> str`` renders a conversation as plain text (a chat template).
    """
    if src == dst:
        return dict(row), False
    extras = _extras(row, src)
    lossy = False
    if dst == "text":
        if src == "text":
            out = {"text": row["text"]}
        else:
            messages = to_chat(row, src)
            out = {"text": render_text(messages) if render_text else plain_transcript(messages)}
        lossy = src == "preference"
    elif src == "text":
        raise RowError("plain text has no instruction/response structure to convert")
    elif src == "preference" and dst != "preference":
        out = from_chat(to_chat(row, src), dst)
        lossy = True  # the rejected reply is dropped
    elif dst == "preference":
        messages = to_chat(row, src)
        raise RowError(
            "conversations have no rejected replies; preference pairs need prompt, chosen and "
            f"rejected ({len(messages)} turns here)"
        )
    else:
        out = from_chat(to_chat(row, src), dst)
    for key, value in extras.items():
        out.setdefault(key, value)
    return out, lossy


def plain_transcript(messages: list[dict[str, str]]) -> str:
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    return "\n".join(f"{names.get(m['role'], m['role'].title())}: {m['content']}" for m in messages)


# -- text of a row --------------------------------------------------------------------------


def text_fields(row: dict[str, Any], fmt: str) -> list[str]:
    """The text a row holds, field by field, without the extra columns."""
    if fmt == "text":
        return [str(row.get("text") or "")]
    if fmt == "preference":
        return [
            str(row.get(k) or "") for k in ("system", "prompt", "chosen", "rejected") if k in row
        ]
    if fmt == "alpaca":
        out = [str(row.get(k) or "") for k in ("system",) if k in row]
        for pair in row.get("history") or []:
            out += [str(x) for x in pair]
        return out + [str(row.get(k) or "") for k in ("instruction", "input", "output")]
    key, value = ("messages", "content") if fmt == "messages" else ("conversations", "value")
    return [str(t.get(value) or "") for t in row.get(key) or [] if isinstance(t, dict)]


def row_text(row: dict[str, Any], fmt: str) -> str:
    return "\n".join(t for t in text_fields(row, fmt) if t)


def field_value(row: dict[str, Any], field: str) -> Any:
    """A column, or a dotted path into nested values (``messages.0.content``)."""
    value: Any = row
    for part in field.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            i = int(part)
            value = value[i] if -len(value) <= i < len(value) else None
        else:
            return None
    return value


def roles(row: dict[str, Any], fmt: str) -> list[str]:
    """The roles of a row's turns, in order (for role counts)."""
    if fmt in ("alpaca", "preference", "sharegpt", "messages"):
        try:
            return [m["role"] for m in to_chat(row, fmt)]
        except (KeyError, TypeError, RowError):
            return []
    return []
