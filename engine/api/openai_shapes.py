"""OpenAI's API shapes: checking requests, building responses, stream chunks and errors.

Requests are read the way the official clients send them. Fields Hearth cannot honour and that
change the meaning of a request (``n`` > 1, ``tools``, ``logprobs``, images, token-array inputs)
answer 400 saying so; fields that only tune (``presence_penalty``, ``user``, ``metadata``...) are
accepted and ignored. llama.cpp-server extensions ``top_k``, ``min_p``, ``repeat_penalty`` and
Hearth's ``template`` are honoured.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from engine.chat.params import ChatParams
from engine.core.errors import UserError

MAX_BODY_BYTES = 8 << 20
_EXTENSIONS = ("top_k", "min_p", "repeat_penalty", "template", "ignore_eos")


class ApiError(Exception):
    """An error answered in OpenAI's shape: ``{"error": {message, type, param, code}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = (
            status,
            message,
            type,
            code,
            param,
        )

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# ---- requests --------------------------------------------------------------------------------
def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise bad_request(f"The request body is not valid JSON ({exc}).") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


def _model_name(body: dict[str, Any]) -> str | None:
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise bad_request("model must be a string.", "model")
    return model or None


def _unsupported(body: dict[str, Any]) -> None:
    n = body.get("n")
    if n not in (None, 1):
        raise bad_request("Only n = 1 is supported.", "n")
    for key in ("tools", "functions"):
        if body.get(key):
            raise bad_request(f"{key} (function calling) is not supported by Hearth's API.", key)
    if body.get("logprobs") not in (None, False, 0) or body.get("top_logprobs"):
        raise bad_request("logprobs are not supported by Hearth's API.", "logprobs")
    best_of = body.get("best_of")
    if best_of not in (None, 1):
        raise bad_request("Only best_of = 1 is supported.", "best_of")


def sampling_params(body: dict[str, Any], *, default_max_tokens: int | None) -> dict[str, Any]:
    """ChatParams from an OpenAI request body (checked; a bad value answers 400 naming it)."""
    params: dict[str, Any] = {}
    for key in ("temperature", "top_p", "seed", *_EXTENSIONS):
        if body.get(key) is not None:
            params[key] = body[key]
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    elif default_max_tokens is not None:
        params["max_tokens"] = default_max_tokens
    stop = body.get("stop")
    if stop is not None:
        params["stop"] = stop
    fmt = body.get("response_format")
    if fmt is not None:
        params.update(_response_format(fmt))
    try:
        ChatParams.from_dict(params)
    except UserError as exc:
        param = next((k for k in params if k in exc.message), None)
        raise bad_request(exc.message, param) from None
    return params


def _response_format(fmt: Any) -> dict[str, Any]:
    if not isinstance(fmt, dict):
        raise bad_request("response_format must be an object.", "response_format")
    kind = fmt.get("type")
    if kind in (None, "text"):
        return {}
    if kind == "json_object":
        return {"json_schema": {"type": "object"}}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise bad_request(
                "response_format.json_schema.schema must be a JSON Schema object.",
                "response_format",
            )
        return {"json_schema": schema}
    raise bad_request(
        f"response_format type {kind!r} is not supported (use text, json_object or json_schema).",
        "response_format",
    )


def _stream_options(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise bad_request("stream must be true or false.", "stream")
    options = body.get("stream_options") or {}
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    return stream, include_usage


def _content_text(content: Any, index: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text") or ""))
            elif isinstance(part, str):
                parts.append(part)
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise bad_request(
                    f"messages[{index}] has a {kind!r} part; Hearth's API takes text only.",
                    "messages",
                )
        return "".join(parts)
    raise bad_request(f"messages[{index}].content must be a string or a list of parts.", "messages")


_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def parse_chat(body: dict[str, Any]) -> dict[str, Any]:
    """``{model, messages, params, stream, include_usage}`` from a chat.completions body."""
    _unsupported(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages must be a non-empty list.", "messages")
    clean = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise bad_request(f"messages[{i}] must be an object.", "messages")
        role = _ROLES.get(m.get("role"))
        if role is None:
            raise bad_request(
                f"messages[{i}].role {m.get('role')!r} is not supported (use system, "
                "developer, user or assistant).",
                "messages",
            )
        clean.append({"role": role, "content": _content_text(m.get("content"), i)})
    stream, include_usage = _stream_options(body)
    return {
        "model": _model_name(body),
        "messages": clean,
        "params": sampling_params(body, default_max_tokens=None),
        "stream": stream,
        "include_usage": include_usage,
    }


def parse_completion(body: dict[str, Any]) -> dict[str, Any]:
    """``{model, prompt, params, stream, include_usage, echo}`` from a completions body."""
    _unsupported(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad_request("prompt must be a string (one prompt per request).", "prompt")
    if body.get("suffix"):
        raise bad_request("suffix (fill in the middle) is not supported.", "suffix")
    stream, include_usage = _stream_options(body)
    return {
        "model": _model_name(body),
        "prompt": prompt,
        "params": sampling_params(body, default_max_tokens=16),  # OpenAI's default
        "stream": stream,
        "include_usage": include_usage,
        "echo": bool(body.get("echo")),
    }


def parse_embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """``{model, texts, base64, dimensions}`` from an embeddings body."""
    data = body.get("input")
    texts = [data] if isinstance(data, str) else data
    if not isinstance(texts, list) or not texts:
        raise bad_request("input must be a string or a non-empty list of strings.", "input")
    if not all(isinstance(t, str) for t in texts):
        raise bad_request("input must be text; token arrays are not supported.", "input")
    if len(texts) > 2048:
        raise bad_request("input takes at most 2048 strings per request.", "input")
    fmt = body.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise bad_request("encoding_format must be float or base64.", "encoding_format")
    dims = body.get("dimensions")
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or dims < 1):
        raise bad_request("dimensions must be a positive whole number.", "dimensions")
    return {
        "model": _model_name(body),
        "texts": texts,
        "base64": fmt == "base64",
        "dimensions": dims,
    }


# ---- responses -------------------------------------------------------------------------------
def finish_reason(reason: str | None) -> str:
    return "length" if reason == "length" else "stop"


def usage(result: dict[str, Any]) -> dict[str, int]:
    u = result.get("usage") or {}
    prompt, completion = int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def chat_response(rid: str, model: str, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result["text"]},
                "finish_reason": finish_reason(result.get("finish_reason")),
                "logprobs": None,
            }
        ],
        "usage": usage(result),
        "system_fingerprint": f"hearth-{result.get('runtime', '')}",
    }


def chat_chunk(
    rid: str, created: int, model: str, delta: dict[str, Any], reason: str | None = None
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}],
    }


def completion_response(rid: str, model: str, text: str, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "text": text,
                "finish_reason": finish_reason(result.get("finish_reason")),
                "logprobs": None,
            }
        ],
        "usage": usage(result),
    }


def completion_chunk(
    rid: str, created: int, model: str, text: str, reason: str | None = None
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": reason, "logprobs": None}],
    }


def usage_chunk(rid: str, created: int, model: str, obj: str, result: dict[str, Any]) -> dict:
    return {
        "id": rid,
        "object": obj,
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage(result),
    }


def model_object(model: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": model["id"],
        "object": "model",
        "created": int(model.get("added_at") or 0),
        "owned_by": "hearth",
        "name": model.get("name"),
        "role": model.get("role"),
        "context_length": model.get("context_length"),
    }
