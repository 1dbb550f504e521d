"""``hearth-engine prune``: pruning from the command line.

    prune plan --model ID --method width|depth|attention (--percent P | --ratio R | --layers N)
               [--selector S] [--calibration DATASET | --calibration-file F] [--json]
    prune run  ... [--divisor 64] [--no-refit] [--name NAME] [--json]
    prune recover RUN [--dataset NAME | --file F] [--max-steps N] [--json]
    prune list [--json] | show RUN [--json] | delete RUN

Progress goes to stderr; ``--json`` prints one object on stdout. The code paths are the
``prune.*`` RPC methods' own.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.cli.context import LocalContext
from engine.cli.output import emit_json, human_bytes, table
from engine.cli.train import _wait


def _methods() -> Any:
    from engine.pruning import methods

    return methods


def _request_args(a: argparse.ArgumentParser) -> None:
    a.add_argument("--model", required=True, help="library model id (hearth-engine models list)")
    a.add_argument("--method", required=True, choices=("width", "depth", "attention"))
    a.add_argument("--selector", help="how to choose what goes (see `prune describe`)")
    a.add_argument("--percent", type=float, help="width: percentage of MLP neurons to remove")
    a.add_argument(
        "--ratio", type=float, help="width: target expansion ratio (intermediate/hidden)"
    )
    a.add_argument(
        "--layers", type=int, help="depth/attention: how many blocks or attention modules"
    )
    a.add_argument(
        "--layers-list", help="depth with --selector layers: blocks to remove, e.g. 10,12"
    )
    a.add_argument("--divisor", type=int, choices=(1, 32, 64, 128, 256), help="width: round the kept width down to a multiple (default 32, what GGUF quantizations need; 1 = none)")  # fmt: skip
    a.add_argument("--no-refit", action="store_true", help="width: skip the least-squares refit of the down projection")  # fmt: skip
    cal = a.add_mutually_exclusive_group()
    cal.add_argument("--calibration", metavar="DATASET", help="calibration dataset (name or id)")
    cal.add_argument("--calibration-file", metavar="F", help="calibration text, Markdown or JSONL file")  # fmt: skip
    a.add_argument("--calibration-tokens", type=int, help="tokens used to calibrate (default 8192)")
    a.add_argument("--eval-tokens", type=int, help="held-out tokens for perplexity (default 4096)")
    a.add_argument("--seq-len", type=int, help="calibration window length in tokens (default 256)")
    a.add_argument("--json", action="store_true")


def _request(args: Any) -> dict[str, Any]:
    layers_list = None
    if args.layers_list:
        try:
            layers_list = [int(x) for x in args.layers_list.split(",") if x.strip()]
        except ValueError:
            from engine.core.errors import UserError

            raise UserError("--layers-list takes block numbers separated by commas, e.g. 10,12.") from None  # fmt: skip
    req = {"model_id": args.model, "method": args.method, "selector": args.selector,
           "percent": args.percent, "ratio": args.ratio, "layers": args.layers,
           "layers_list": layers_list, "dataset": args.calibration, "file": args.calibration_file,
           "calibration_tokens": args.calibration_tokens, "eval_tokens": args.eval_tokens,
           "seq_len": args.seq_len}  # fmt: skip
    if getattr(args, "divisor", None):
        req["divisor"] = args.divisor
    if args.no_refit:
        req["refit"] = False
    if getattr(args, "name", None):
        req["name"] = args.name
    return {k: v for k, v in req.items() if v is not None}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("prune", help="prune models (width, depth, attention bypass)")
    psub = p.add_subparsers(dest="prune_command", metavar="ACTION", required=True)

    a = psub.add_parser("describe", help="methods and selectors with what they do")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_describe)

    a = psub.add_parser("plan", help="score a model and show what a pruning would remove")
    _request_args(a)
    a.set_defaults(func=cmd_plan)

    a = psub.add_parser("run", help="prune, measure against the original, add to the library")
    _request_args(a)
    a.add_argument("--name", help="name of the pruned model")
    a.set_defaults(func=cmd_run)

    a = psub.add_parser("recover", help="distil the original into the pruned model")
    a.add_argument("run", help="pruning run id (hearth-engine prune list)")
    data = a.add_mutually_exclusive_group()
    data.add_argument("--dataset", help="dataset to distil on (default: the calibration text)")
    data.add_argument("--file", help="text or JSONL file to distil on")
    a.add_argument("--max-steps", type=int, help="optimizer steps (default 100)")
    a.add_argument("--method", choices=("full", "lora"), default="full", help="train every weight (default) or a LoRA adapter")  # fmt: skip
    a.add_argument("--lr", type=float, help="learning rate (default 5e-5 full, 2e-4 lora)")
    a.add_argument("--kd-weight", type=float, help="share of the loss that is the KL to the original (default 0.5)")  # fmt: skip
    a.add_argument("--temperature", type=float, help="distillation temperature (default 2)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_recover)

    a = psub.add_parser("list", help="list pruning runs")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_list)

    a = psub.add_parser("show", help="show one pruning run")
    a.add_argument("run")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_show)

    a = psub.add_parser("delete", help="delete a pruning run, its files and its models")
    a.add_argument("run")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_delete)


def cmd_describe(args: Any) -> int:
    info = _methods().describe(LocalContext(progress=False))
    if args.json:
        emit_json(info)
        return 0
    for m in info["methods"]:
        print(f"{m['name']}: {m['about']}")
        for s in m["selectors"]:
            default = " (default)" if s["name"] == m["default_selector"] else ""
            print(f"  --selector {s['name']}{default}: {s['help']}")
    return 0


def _layers_text(layers: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for row in layers:
        removed = row["removed"]
        gone = ("yes" if removed else "") if isinstance(removed, bool) else str(removed)
        score = "" if row.get("score") is None else f"{row['score']:.4f}"
        rows.append([str(row["index"]), score, gone])
    return rows


def cmd_plan(args: Any) -> int:
    ctx = LocalContext(progress=True)
    plan = _wait(ctx, _methods().plan(ctx, request=_request(args))["job"])
    if args.json:
        keys = ("method", "selector", "params_before", "params_after", "layers", "blocks_before",
                "blocks_after", "width_before", "width_after", "size_before_bytes",
                "size_after_bytes", "adaptive_table")  # fmt: skip
        emit_json({k: plan[k] for k in keys if k in plan})
        return 0
    table(_layers_text(plan["layers"]), ["block", "score", "removed"])
    print(f"parameters {plan['params_before']:,} -> {plan['params_after']:,}; "
          f"size {human_bytes(plan['size_before_bytes'])} -> {human_bytes(plan['size_after_bytes'])}")  # fmt: skip
    return 0


RUN_KEYS = ("run_id", "model_id", "params_before", "params_after", "ppl_before", "ppl_after",
            "eval_tokens", "tokens_per_s_before", "tokens_per_s_after", "seconds")  # fmt: skip


def cmd_run(args: Any) -> int:
    ctx = LocalContext(progress=True)
    started = _methods().start(ctx, request=_request(args))
    print(f"pruning run {started['run']['id']} started (job {started['job']['id']})", file=sys.stderr)  # fmt: skip
    result = _wait(ctx, started["job"])
    if args.json:
        emit_json({k: result.get(k) for k in RUN_KEYS})
        return 0
    print(f"run {result['run_id']}: model {result['model_id']}")
    print(f"  parameters {result['params_before']:,} -> {result['params_after']:,}")
    print(f"  perplexity {result['ppl_before']:.2f} -> {result['ppl_after']:.2f} ({result['eval_tokens']} held-out tokens)")  # fmt: skip
    print(f"  tokens/s {result['tokens_per_s_before']} -> {result['tokens_per_s_after']}; {result['seconds']} s")  # fmt: skip
    return 0


def cmd_recover(args: Any) -> int:
    ctx = LocalContext(progress=True)
    given = {"learning_rate": args.lr, "kd_weight": args.kd_weight, "kd_temperature": args.temperature}  # fmt: skip
    options = {k: v for k, v in given.items() if v is not None} or None
    started = _methods().recover(ctx, run=args.run, dataset=args.dataset, file=args.file,
                                 max_steps=args.max_steps, method=args.method, options=options)  # fmt: skip
    train_run = started["run"]["id"]
    print(f"distillation run {train_run} started (job {started['job']['id']})", file=sys.stderr)
    _wait(ctx, started["job"], train_run)
    from engine.pruning.recover import outcome

    result = outcome(ctx.services, train_run)
    if args.json:
        emit_json(result)
        return 0
    print(f"run {result['run_id']}: model {result['model_id']}, perplexity {result['ppl_before']:.2f} -> {result['ppl_after']:.2f}")  # fmt: skip
    return 0


def cmd_list(args: Any) -> int:
    runs = _methods().list_runs(LocalContext(progress=False))["runs"]
    if args.json:
        emit_json({"runs": runs})
        return 0
    rows = []
    for r in runs:
        res = r.get("result") or {}
        ppl = f"{res['ppl_before']:.2f} -> {res['ppl_after']:.2f}" if res.get("ppl_after") else ""
        rows.append([r["id"], r.get("model_name") or "", r["request"]["method"], r["state"], ppl])
    table(rows, ["run", "model", "method", "state", "perplexity"])
    return 0


def cmd_show(args: Any) -> int:
    run = _methods().get_run(LocalContext(progress=False), run=args.run)
    if args.json:
        emit_json(run)
    else:
        print(json.dumps({k: run.get(k) for k in ("id", "name", "state", "request", "result", "answers", "artifacts", "models", "error")}, indent=1))  # fmt: skip
    return 0


def cmd_delete(args: Any) -> int:
    result = _methods().delete_run(LocalContext(progress=False), run=args.run)
    emit_json(result) if args.json else print(f"Deleted pruning run {result['deleted']}")
    return 0
