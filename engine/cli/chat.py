"""``hearth-engine chat "prompt"``: one chat completion, streamed to stdout.

    hearth-engine chat "Write a haiku about tea" --max-tokens 64 --seed 1
    echo "long text" | hearth-engine chat - --system "Summarize." --json

Uses the same ``engine.chat.generate`` as the ``chat.generate`` RPC method. The default model is the
bundled Gemma 3 270M (a base model, so it gets the plain transcript template). ``--json`` prints one
object shaped like the ``chat.generate`` answer instead of streaming.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from engine.cli.output import emit_json
from engine.core.errors import UserError

# ChatParams fields offered as flags: name -> argparse type
_FLAGS: dict[str, Any] = {
    "max_tokens": int,
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "min_p": float,
    "repeat_penalty": float,
    "seed": int,
    "template": str,
}


def add_parser(sub: Any) -> None:
    from engine.chat.params import ChatParams

    helps = {d["name"]: d for d in ChatParams.describe()}
    p = sub.add_parser("chat", help="chat with a model: stream one reply to stdout")
    p.add_argument("prompt", help="your message ('-' reads it from stdin)")
    p.add_argument("--model", help="model id (default: the bundled Gemma 3 270M)")
    p.add_argument("--system", help="system prompt")
    for name, kind in _FLAGS.items():
        info = helps[name]
        default = "" if info["default"] in (None, "") else f" (default {info['default']})"
        p.add_argument(
            f"--{name.replace('_', '-')}", type=kind, dest=name, help=f"{info['help']}{default}"
        )
    p.add_argument("--stop", action="append", help="a string that ends the reply (repeatable)")
    p.add_argument(
        "--json-schema", dest="json_schema", help="JSON mode: a JSON Schema (inline or a file path)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of streaming")
    p.set_defaults(func=cmd_chat)


def _schema(value: str | None) -> Any:
    if value is None:
        return None
    path = Path(value).expanduser()
    if not value.lstrip().startswith("{") and path.is_file():
        try:
            value = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"Cannot read the schema file {path}: {exc.strerror or exc}.") from None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise UserError(f"--json-schema is not valid JSON ({exc}).") from None


def cmd_chat(args: Any) -> int:
    from engine.chat.generate import generate
    from engine.services import Services

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise UserError("The prompt is empty; give the message to send.")
    messages = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": prompt})
    params: dict[str, Any] = {n: getattr(args, n) for n in _FLAGS if getattr(args, n) is not None}
    if args.stop:
        params["stop"] = args.stop
    schema = _schema(args.json_schema)
    if schema is not None:
        params["json_schema"] = schema

    out = sys.stdout

    def stream(text: str) -> None:
        out.write(text)
        out.flush()

    def restart() -> None:  # JSON mode retried: start the line again
        out.write("\n")
        out.flush()

    result = generate(
        Services(),
        model_id=args.model,
        messages=messages,
        params=params,
        on_delta=None if args.json else stream,
        on_reset=None if args.json else restart,
    )
    if args.json:
        emit_json(result)
    else:
        out.write("\n")
        out.flush()
    return 0
