"""``hearth-engine chat "prompt"``: one chat completion, streamed to stdout.

    hearth-engine chat "Write a haiku about tea" --max-tokens 64 --seed 1
    echo "long text" | hearth-engine chat - --system "Summarize." --json
    hearth-engine chat "How long is the warranty?" --collection Manuals [--collection ...]
    hearth-engine chat "And the cleaning?" --conversation c-1a2b3c4d5e6f

Uses the same ``engine.chat.generate`` as the ``chat.generate`` RPC method. The default model is the
bundled Gemma 3 270M (a base model, so it gets the plain transcript template). ``--json`` prints one
object shaped like the ``chat.generate`` answer instead of streaming.

``--collection`` answers from document collections (as ``docs.ask`` does, with ``--system`` kept)
and prints the numbered sources after the reply; ``--json`` then carries ``citations``.
``--conversation`` sends into a stored conversation (as ``chat.send``: its history, settings and
attached collections; ``--collection`` attaches these instead), so the exchange is stored and the
desktop app shows it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli.output import emit_json
from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services

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
    p.add_argument(
        "--collection",
        action="append",
        dest="collections",
        metavar="NAME",
        help="answer from this document collection, with numbered citations (repeatable)",
    )
    p.add_argument(
        "--conversation",
        metavar="ID",
        help="send into this stored conversation (`chat.send`): its history and collections",
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

    services = Services()
    if args.conversation:
        result = _send(services, args, prompt, params, stream)
    elif args.collections:
        from engine.documents.answer import ask

        history = [m for m in messages if m["role"] == "system"]
        result = ask(
            services,
            prompt,
            args.collections,
            model_id=args.model,
            params=params,
            history=history,
            on_delta=None if args.json else stream,
            on_reset=None if args.json else restart,
        )
    else:
        result = generate(
            services,
            model_id=args.model,
            messages=messages,
            params=params,
            on_delta=None if args.json else stream,
            on_reset=None if args.json else restart,
        )
    if args.json:
        emit_json(result)
        return 0
    out.write("\n")
    citations = result.get("citations")
    if citations:
        out.write(sources_text(citations))
    out.flush()
    return 0


def _send(services: Services, args: Any, prompt: str, params: dict[str, Any], stream: Any) -> Any:
    """Send ``prompt`` into the stored conversation ``args.conversation``."""
    from engine.chat import conversations

    store = services.chats
    store.conversation(args.conversation)  # a clear error for an unknown id
    if args.system:
        raise UserError("--system does not apply to a stored conversation; it keeps its own.")
    if args.collections:
        from engine.documents.answer import resolve_collections

        ids = [c["id"] for c in resolve_collections(services, args.collections)]
        store.update(args.conversation, collections=ids)
    result = conversations.send(
        services,
        args.conversation,
        prompt,
        params=params,
        model_id=args.model,
        on_delta=None if args.json else (lambda text, _msg_id: stream(text)),
    )
    meta = result["message"]["metadata"]
    if "citations" in meta:  # answered from the conversation's collections
        result = {**result, "citations": meta["citations"], "retrieval": meta.get("retrieval")}
    return result


def sources_text(citations: list[dict[str, Any]]) -> str:
    """The numbered sources printed after a reply grounded in documents."""
    from engine.chat.export import source_line

    lines = ["", "Sources:"]
    for c in citations:
        note = "" if c.get("cited") else "  (not cited)"
        lines.append(f"  {source_line(c)}{note}")
        lines.append(f"      {c.get('file') or ''}")
    return "\n".join(lines) + "\n"
