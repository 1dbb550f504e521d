"""``hearth-engine bias``: prompt pair sets and captures from the command line.

    bias sets [--json]
    bias set show NAME [--json] | set import FILE [--name N] [--json] | set delete NAME
    bias align --model ID --set NAME [--pairs N] [--json]
    bias run --model ID --set NAME [--pairs N] [--recompute] [--json]
    bias prune --model ID --set NAME --neurons N [--weight 0.5] [--json]
    bias compare RUN_A RUN_B [--part all|selection|heldout] [--json]
    bias runs [--json]

Progress goes to stderr; ``--json`` prints one object on stdout. The code paths are the
``bias.*`` RPC methods' own.
"""

from __future__ import annotations

import sys
from typing import Any

from engine.cli.context import LocalContext
from engine.cli.output import emit_json, table
from engine.cli.train import _wait


def _methods() -> Any:
    from engine.bias import methods

    return methods


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bias", help="bias lab: prompt pair sets and activation captures")
    bsub = p.add_subparsers(dest="bias_command", metavar="WHAT", required=True)
    a = bsub.add_parser("sets", help="list the prompt pair sets")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_sets)

    s = bsub.add_parser("set", help="show, import or delete one set")
    ssub = s.add_subparsers(dest="set_command", metavar="ACTION", required=True)
    a = ssub.add_parser("show", help="the pairs of a set")
    a.add_argument("name")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_set_show)
    a = ssub.add_parser("import", help='a JSONL file of {"category", "a", "b", "note"?} lines')
    a.add_argument("file")
    a.add_argument("--name", help="the set's name (default: the file's)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_set_import)
    a = ssub.add_parser("delete", help="delete a set you imported")
    a.add_argument("name")
    a.set_defaults(func=cmd_set_delete)

    a = bsub.add_parser("align", help="which tokens of each pair differ, for a model's tokenizer")
    a.add_argument("--model", required=True, help="library model id")
    a.add_argument("--set", required=True, dest="set_name", help="pair set name")
    a.add_argument("--pairs", type=int, help="use this many pairs, spread over the categories")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_align)

    a = bsub.add_parser("run", help="capture every layer's activations for a set, once")
    a.add_argument("--model", required=True, help="library model id")
    a.add_argument("--set", required=True, dest="set_name", help="pair set name")
    a.add_argument("--pairs", type=int, help="use this many pairs, spread over the categories")
    a.add_argument("--recompute", action="store_true", help="capture again even if stored")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_run)

    a = bsub.add_parser("compare", help="the same set on two models: maps and their difference")
    a.add_argument("run_a")
    a.add_argument("run_b")
    a.add_argument("--part", choices=("all", "selection", "heldout"), default="all")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_compare)

    a = bsub.add_parser(
        "prune", help="remove the neurons carrying the most bias, with a random control"
    )
    a.add_argument("--model", required=True, help="library model id")
    a.add_argument("--set", required=True, dest="set_name", help="pair set name")
    a.add_argument("--neurons", type=int, required=True, help="neurons removed from every block")
    a.add_argument("--weight", type=float, default=0.5,
                   help="share of the bias score in the mix with weight magnitude (default 0.5)")  # fmt: skip
    a.add_argument("--pairs", type=int, help="selection pairs to use (default: all)")
    a.add_argument("--seed", type=int, default=0, help="seed of the random control")
    a.add_argument("--name", help="name of the pruned model")
    a.add_argument("--file", help="text the perplexity is measured on (default: Python's docs)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_prune)

    a = bsub.add_parser("runs", help="list stored captures")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_runs)


def cmd_sets(args: Any) -> int:
    result = _methods().sets(LocalContext(progress=False))
    if args.json:
        emit_json(result)
        return 0
    table([[s["name"], str(s["pairs"]), str(s["heldout"]), ", ".join(s["categories"])]
           for s in result["sets"]], ["set", "pairs", "held out", "categories"])  # fmt: skip
    return 0


def cmd_set_show(args: Any) -> int:
    result = _methods().set_show(LocalContext(progress=False), name=args.name)
    if args.json:
        emit_json(result)
        return 0
    for p in result["pairs_list"]:
        mark = " (held out)" if p["heldout"] else ""
        print(f"[{p['category']}]{mark}\n  a: {p['a']}\n  b: {p['b']}")
    return 0


def cmd_set_import(args: Any) -> int:
    result = _methods().set_import(LocalContext(progress=False), path=args.file, name=args.name)
    if args.json:
        emit_json(result)
    else:
        print(f"imported {result['name']}: {result['pairs']} pairs, {result['heldout']} held out")
    return 0


def cmd_set_delete(args: Any) -> int:
    _methods().set_delete(LocalContext(progress=False), name=args.name)
    print(f"deleted {args.name}")
    return 0


def _marked(tokens: list[str], differ: list[int]) -> str:
    return " ".join(f"[{t}]" if i in differ else t for i, t in enumerate(tokens))


def cmd_align(args: Any) -> int:
    result = _methods().alignment(LocalContext(progress=False), model_id=args.model,
                                  set=args.set_name, pairs=args.pairs)  # fmt: skip
    if args.json:
        emit_json(result)
        return 0
    for p in result["pairs"]:
        mark = "  JOINED: unequal spans, averaged into one row" if p["joined"] else ""
        print(f"{p['index']:>3} [{p['category']}]{' (held out)' if p['heldout'] else ''}{mark}")
        print(f"    a: {_marked(p['tokens_a'], p['differ_a'])}")
        print(f"    b: {_marked(p['tokens_b'], p['differ_b'])}")
    print(f"{len(result['pairs'])} pairs, {result['joined']} joined; tokenizer: {result['tokenizer']}")  # fmt: skip
    return 0


def cmd_run(args: Any) -> int:
    ctx = LocalContext(progress=True)
    started = _methods().start_run(ctx, model_id=args.model, set=args.set_name, pairs=args.pairs,
                                   recompute=args.recompute)  # fmt: skip
    print(f"bias capture started (job {started['job']['id']})", file=sys.stderr)
    result = _wait(ctx, started["job"])
    if args.json:
        emit_json({k: v for k, v in result.items() if k != "cached"})
        return 0
    print(f"run {result['run_id']}: {result['pairs']} pairs, {result['layers']} layers, "
          f"{result['seconds']} s{' (stored capture reused)' if result.get('cached') else ''}")  # fmt: skip
    print(f"mean |difference| over every layer and component: {result['overall_mean_diff']:.5f}")
    for comp, per_layer in result["by_component"].items():
        peak = max(range(len(per_layer)), key=per_layer.__getitem__)
        print(f"  {comp:<11} mean {sum(per_layer) / len(per_layer):.5f}, largest at layer {peak}")
    return 0


def cmd_compare(args: Any) -> int:
    result = _methods().compare(LocalContext(progress=False), run_a=args.run_a, run_b=args.run_b,
                                part=args.part)  # fmt: skip
    if args.json:
        emit_json(result)
        return 0
    print(f"{result['model_a']} -> {result['model_b']}: mean |difference| {result['overall_a']:.5f} "
          f"-> {result['overall_b']:.5f} ({result['change']:+.1%})")  # fmt: skip
    for c, row in zip(result["components"], result["difference"], strict=True):
        print(f"  {c:<11} change per layer mean {sum(row) / len(row):+.5f}")
    return 0


PRUNE_KEYS = ("model_id", "heldout_bias_before", "heldout_bias_after", "control_bias_after",
              "ppl_before", "ppl_after")  # fmt: skip


def cmd_prune(args: Any) -> int:
    ctx = LocalContext(progress=True)
    started = _methods().prune(ctx, model_id=args.model, set=args.set_name, neurons=args.neurons,
                               weight=args.weight, pairs=args.pairs, seed=args.seed, name=args.name,
                               file=args.file)  # fmt: skip
    print(f"bias-targeted pruning started (job {started['job']['id']})", file=sys.stderr)
    r = _wait(ctx, started["job"])
    if args.json:
        emit_json({k: r[k] for k in PRUNE_KEYS})
        return 0
    drop = r["heldout_bias_before"] - r["heldout_bias_after"]
    ctrl = r["heldout_bias_before"] - r["control_bias_after"]
    print(f"model {r['model_id']}: {r['neurons']} neurons removed from every block "
          f"({r['width_before']} -> {r['width_after']})")  # fmt: skip
    print(f"held-out bias {r['heldout_bias_before']:.5f} -> {r['heldout_bias_after']:.5f} "
          f"(random control {r['control_bias_after']:.5f}); fall {drop:.5f} vs {ctrl:.5f}")  # fmt: skip
    print(f"in-sample bias {r['insample_bias_before']:.5f} -> {r['insample_bias_after']:.5f}")
    print(f"perplexity {r['ppl_before']:.2f} -> {r['ppl_after']:.2f} (control {r['ppl_control']:.2f})")  # fmt: skip
    return 0


def cmd_runs(args: Any) -> int:
    result = _methods().runs(LocalContext(progress=False))
    if args.json:
        emit_json(result)
        return 0
    table([[r["run_id"], r["model_id"], r["set"], str(r["pairs"]), f"{r['overall_mean_diff']:.5f}"]
           for r in result["runs"]], ["run", "model", "set", "pairs", "mean |diff|"])  # fmt: skip
    return 0
