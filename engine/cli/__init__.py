"""``hearth-engine``: the engine's command line. Same code paths as the RPC methods.

    hearth-engine serve                  JSON-RPC on stdio (what the desktop app starts)
    hearth-engine doctor [--json]        versions, data root, devices, runtimes
    hearth-engine prefs [set NAME VALUE | reset NAME] [--json]   default model, CPU threads
    hearth-engine models list|import|inspect|rename|remove|convert [--json]
    hearth-engine jobs list|show|cancel|resume|log [--json]
    hearth-engine chat "prompt" [--model ID] [--system S] [--max-tokens N] ... [--json]
    hearth-engine presets list|run|run-injection-tests|schema ... [--json]
    hearth-engine api [--port P] [--token T]   local OpenAI-compatible API on 127.0.0.1
    hearth-engine data import|list|show|convert|filter|dedup|split|generate|export ... [--json]
    hearth-engine bench chat [--model ID] [--prompt P] [--n-predict N] [--runs R] [--json]
    hearth-engine docs create|list|ingest|files|search|ask|eval|remove|rename|chunks|preview ...
    hearth-engine train lora|resume|list|show|eval|merge|plan|delete ... [--json]
    hearth-engine export gguf RUN|MODEL_ID [--merged --quant q8_0 | --adapter] [--json]
    hearth-engine prune describe|plan|run|recover|list|show|delete ... [--json]
    hearth-engine bias sets|set|align|run|compare|prune|runs ... [--json]
    hearth-engine eval perplexity|run|choice|show|list|export|delete ... [--json]
    hearth-engine arena start|next|vote|results|export ... [--json]

Errors a user can cause print one line to stderr and exit 2; anything else prints one line
naming the log file (the traceback goes there) and exits 70.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from engine.core.errors import HearthError

EXIT_USER_ERROR = 2
EXIT_INTERNAL = 70
EXIT_CANCELLED = 130


def build_parser() -> argparse.ArgumentParser:
    from engine.cli import (
        api,
        bench,
        bias,
        chat,
        data,
        docs,
        doctor,
        evaluate,
        jobs,
        models,
        prefs,
        presets,
        prune,
        train,
    )

    parser = argparse.ArgumentParser(
        prog="hearth-engine", description="Hearth engine and command line."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve = sub.add_parser("serve", help="serve JSON-RPC on stdin/stdout (used by the desktop app)")
    serve.set_defaults(func=lambda _args: _serve())
    doctor.add_parser(sub)
    prefs.add_parser(sub)
    models.add_parser(sub)
    jobs.add_parser(sub)
    chat.add_parser(sub)
    presets.add_parser(sub)
    api.add_parser(sub)
    bench.add_parser(sub)
    docs.add_parser(sub)
    data.add_parser(sub)
    train.add_parser(sub)
    train.add_export_parser(sub)
    prune.add_parser(sub)
    bias.add_parser(sub)
    evaluate.add_parser(sub)
    evaluate.add_arena_parser(sub)
    return parser


def _serve() -> int:
    from engine.rpc.server import serve_stdio

    return serve_stdio()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:  # one job's worker process (a bundle has no python -m)
        from engine.jobs.worker import main as worker

        return worker()
    if argv[:1] == ["serve"]:
        # Keep serve's start-up minimal: no argparse sub-modules, no logging set-up here.
        try:
            return _serve()
        except HearthError as exc:
            print(f"hearth-engine: error: {exc.message}", file=sys.stderr)
            return EXIT_USER_ERROR
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    log_file = None
    try:
        from engine.core import logs
        from engine.core.paths import data_root

        log_file = logs.setup(data_root(), name="cli", to_stderr=False)["log_file"]
        return int(args.func(args) or 0)
    except HearthError as exc:
        logging.getLogger("engine.cli").info("user error: %s", exc.message)
        print(f"hearth-engine: error: {exc.message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("hearth-engine: interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:
        from engine.core.space import as_user_error, is_disk_full

        if is_disk_full(exc):  # a full disk where no check came first: still a message, exit 2
            message = as_user_error(exc).message
            logging.getLogger("engine.cli").info("disk full: %s", message)
            print(f"hearth-engine: error: {message}", file=sys.stderr)
            return EXIT_USER_ERROR
        logging.getLogger("engine.cli").exception("command failed")
        where = f"; details in {log_file}" if log_file else ""
        print(f"hearth-engine: internal error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        from engine.core import logs

        logs.cleanup_crash_file()
