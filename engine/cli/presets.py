"""``hearth-engine presets``: chat presets from the command line.

    hearth-engine presets list [--json]
    hearth-engine presets run "SQL from questions" "How many orders per customer?" --database shop.db
    hearth-engine presets run "Moderated reply" "Tell me about aspirin" [--policy-file P] [--json]
    hearth-engine presets run-injection-tests [--preset NAME] [--model ID] [--only ID ...] [--json]
    hearth-engine presets schema shop.db

``run`` streams the reply, then prints the preset's outcome: the SQL and its result table, or the
review's verdict. ``run-injection-tests`` prints one line per attempt and the total; its exit code
is 0 whatever the model did (the report is the result).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from engine.cli.output import emit_json, table
from engine.core.errors import UserError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("presets", help="chat presets: list, run one, run the injection tests")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    ls = verbs.add_parser("list", help="list the presets")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    run = verbs.add_parser("run", help="ask one question under a preset")
    run.add_argument("preset", help="preset name or id")
    run.add_argument("prompt", help="your message ('-' reads it from stdin)")
    run.add_argument("--model", help="model id (default: the bundled Gemma 3 270M)")
    run.add_argument("--database", help="SQL preset: the SQLite file")
    run.add_argument("--policy-file", dest="policy_file", help="moderated preset: the policy")
    run.add_argument("--reviewer-model", dest="reviewer_model", help="moderated preset: reviewer")
    run.add_argument("--max-tokens", type=int, dest="max_tokens")
    run.add_argument("--seed", type=int)
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.set_defaults(func=cmd_run)

    inj = verbs.add_parser("run-injection-tests", help="run the prompt-injection test set")
    inj.add_argument("--preset", default="builtin-guarded", help="preset whose prompt is tested")
    inj.add_argument("--system-file", dest="system_file", help="test this system prompt instead")
    inj.add_argument("--model", help="model id (default: the bundled Gemma 3 270M)")
    inj.add_argument("--only", nargs="+", metavar="ID", help="run only these attempts")
    inj.add_argument("--list", action="store_true", help="list the attempts and exit")
    inj.add_argument("--json", action="store_true")
    inj.set_defaults(func=cmd_injection)

    schema = verbs.add_parser(
        "schema", help="show what the SQL preset tells the model about a file"
    )
    schema.add_argument("path")
    schema.add_argument("--json", action="store_true")
    schema.set_defaults(func=cmd_schema)


def _read(path: str, what: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"Cannot read the {what} {path}: {exc.strerror or exc}.") from None


def cmd_list(args: Any) -> int:
    from engine.chat.presets.store import PresetStore
    from engine.services import Services

    presets = PresetStore(Services()).list()
    if args.json:
        emit_json({"presets": presets})
        return 0
    rows = [
        [p["id"], p["name"], p["kind_label"], "built-in" if p["builtin"] else ""] for p in presets
    ]
    table(rows, ["ID", "NAME", "KIND", ""])
    return 0


def cmd_run(args: Any) -> int:
    from engine.chat.presets.runner import run_once
    from engine.chat.presets.store import PresetStore
    from engine.services import Services

    services = Services()
    preset = PresetStore(services).find(args.preset)
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise UserError("The prompt is empty; give the question to ask.")
    options: dict[str, Any] = {}
    if args.database:
        options["database"] = args.database
    if args.policy_file:
        options["policy"] = _read(args.policy_file, "policy file")
    if args.reviewer_model:
        options["reviewer_model"] = args.reviewer_model
    params = {k: getattr(args, k) for k in ("max_tokens", "seed") if getattr(args, k) is not None}

    def stream(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    result = run_once(
        services,
        preset,
        prompt,
        model_id=args.model,
        options=options,
        params=params,
        on_delta=None if args.json else stream,
    )
    if args.json:
        emit_json(result)
        return 0
    print()
    outcome = result.get("preset")
    if outcome and outcome["kind"] == "sql":
        _print_sql(outcome)
    elif outcome and outcome["kind"] == "moderated":
        print(f"\n[review: {outcome['verdict']}] {outcome['reason']}")
        if result.get("draft") is not None:
            print(result["text"])
    return 0


def _print_sql(outcome: dict[str, Any]) -> None:
    if outcome.get("sql"):
        print(f"\nSQL: {outcome['sql']}")
    if outcome.get("error"):
        word = "refused" if outcome.get("refused") else "failed"
        print(f"({word}: {outcome['error']})")
        return
    print()
    table([[str(c) for c in row] for row in outcome["rows"]], [str(c) for c in outcome["columns"]])
    more = " (more rows were cut)" if outcome.get("truncated") else ""
    print(f"({outcome['row_count']} rows{more})")


def cmd_injection(args: Any) -> int:
    from engine.chat.presets.injections import ATTEMPTS, run_injection_tests
    from engine.chat.presets.runner import render_system_prompt, resolve_options
    from engine.chat.presets.store import PresetStore
    from engine.services import Services

    if args.list:
        table([[a.id, a.category, a.title] for a in ATTEMPTS], ["ID", "CATEGORY", "ATTEMPT"])
        return 0
    services = Services()
    if args.system_file:
        prompt = _read(args.system_file, "system prompt file")
    else:
        preset = PresetStore(services).find(args.preset)
        prompt = render_system_prompt(preset, resolve_options(preset, None))

    def progress(row: dict[str, Any], report: dict[str, Any]) -> None:
        if not args.json:
            mark = "pass" if row["passed"] else "FAIL"
            why = f"  ({'; '.join(row['reasons'])})" if row["reasons"] else ""
            print(f"[{report['done']:2d}/{report['total']}] {mark}  {row['id']}{why}", flush=True)

    report = run_injection_tests(
        services, model_id=args.model, system_prompt=prompt, ids=args.only, on_result=progress
    )
    if args.json:
        emit_json(report)
    else:
        print(
            f"Resisted {report['passed']} of {report['total']} attempts ({report['failed']} failed)."
        )
    return 0


def cmd_schema(args: Any) -> int:
    from engine.chat.presets.sql import read_schema, schema_text

    schema = read_schema(args.path)
    if args.json:
        emit_json({**schema, "text": schema_text(schema)})
    else:
        print(schema_text(schema))
    return 0
