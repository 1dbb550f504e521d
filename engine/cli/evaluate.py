"""``hearth-engine eval``: evaluations from the command line.

    eval perplexity --model ID [--model ID ...] (--file F | --dataset NAME [--split S] | --collection C)
                    [--max-tokens N] [--seq-len N] [--stride N] [--json]
    eval run --model ID [--model ID ...] --dataset NAME [--split S]
             [--metrics exact_match,f1,bleu,chrf,rouge,similarity] [--judge ID] [--limit N] [--max-tokens N] [--json]
    eval choice --model ID [--model ID ...] --dataset NAME [--split S] [--limit N] [--json]
    eval harness --model ID --task NAME [--limit N] [--num-fewshot K] [--json]
    eval show RUN [--json] | eval list [--json] | eval export RUN FILE | eval delete RUN
    arena start --model A --model B [--model C ...] (--dataset NAME [--split S] [--limit N] | --prompt P ...)
    arena next RUN [--json] | arena vote RUN INDEX A|B|C|D|tie | arena results RUN [--json]
    arena export RUN --dataset NAME

Progress goes to stderr; ``--json`` prints one object on stdout. The code paths are the
``eval.*`` RPC methods' own.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from engine.cli.context import LocalContext
from engine.cli.output import emit_json, table
from engine.cli.train import _wait
from engine.core.errors import UserError


def _methods() -> Any:
    from engine.evaluation import methods

    return methods


def add_parser(sub: Any) -> None:
    e = sub.add_parser("eval", help="evaluate library models: perplexity, answers, multiple choice")
    esub = e.add_subparsers(dest="eval_command", metavar="WHAT", required=True)

    a = esub.add_parser("perplexity", help="perplexity of one or more models on a text")
    a.add_argument("--model", action="append", required=True, dest="models", metavar="ID")
    src = a.add_mutually_exclusive_group()
    src.add_argument("--file", help="a text, Markdown or JSONL file")
    src.add_argument("--dataset", help="a dataset (name or id)")
    src.add_argument("--collection", help="a document collection's text")
    a.add_argument("--split", help="the dataset's split (default: every row)")
    a.add_argument("--max-tokens", type=int, default=4096)
    a.add_argument("--seq-len", type=int, default=256)
    a.add_argument("--stride", type=int, help="slide windows by this many tokens (default: no overlap)")  # fmt: skip
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_perplexity)

    a = esub.add_parser("run", help="answer a dataset split's prompts and score the answers")
    a.add_argument("--model", action="append", required=True, dest="models", metavar="ID")
    a.add_argument("--dataset", required=True)
    a.add_argument("--split", help="the split (default: every row)")
    a.add_argument("--metrics", default="exact_match,f1,rouge,chrf",
                   help="comma-separated: exact_match, f1, bleu, chrf, rouge, similarity")  # fmt: skip
    a.add_argument("--limit", type=int, help="the first N rows only")
    a.add_argument("--max-tokens", type=int, default=128, help="longest answer (default 128)")
    a.add_argument("--batch", type=int, help="answers decoded together (default 8)")
    a.add_argument("--judge", metavar="ID", help="a library model that rates every answer (1-10) and, "
                   "with two models or more, picks the better of each pair, asked both ways round")  # fmt: skip
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_run)

    a = esub.add_parser("choice", help="multiple choice by log-likelihood (question, choices, answer)")  # fmt: skip
    a.add_argument("--model", action="append", required=True, dest="models", metavar="ID")
    a.add_argument("--dataset", required=True)
    a.add_argument("--split")
    a.add_argument("--limit", type=int)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_choice)

    a = esub.add_parser("harness", help="lm-evaluation-harness tasks (installed harness, data on this machine)")  # fmt: skip
    a.add_argument("--model", action="append", required=True, dest="models", metavar="ID")
    a.add_argument("--task", action="append", required=True, dest="tasks", metavar="NAME")
    a.add_argument("--limit", type=int)
    a.add_argument("--num-fewshot", type=int)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_harness)

    a = esub.add_parser("show", help="a stored evaluation, every row")
    a.add_argument("run")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_show)
    a = esub.add_parser("list", help="stored evaluations")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_list)
    a = esub.add_parser("export", help="write a run's rows as CSV (.csv) or JSON (.json)")
    a.add_argument("run")
    a.add_argument("file")
    a.set_defaults(func=cmd_export)
    a = esub.add_parser("delete", help="delete a stored evaluation")
    a.add_argument("run")
    a.set_defaults(func=cmd_delete)


def add_arena_parser(sub: Any) -> None:
    r = sub.add_parser("arena", help="blind side-by-side votes between two to four models")
    rsub = r.add_subparsers(dest="arena_command", metavar="WHAT", required=True)
    a = rsub.add_parser("start", help="the models answer the prompts; then vote")
    a.add_argument("--model", action="append", required=True, dest="models", metavar="ID")
    a.add_argument("--dataset")
    a.add_argument("--split")
    a.add_argument("--limit", type=int)
    a.add_argument("--prompt", action="append", dest="prompts", metavar="TEXT")
    a.add_argument("--max-tokens", type=int, default=256)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_arena_start)
    a = rsub.add_parser("next", help="the next prompt without a vote, its answers blind")
    a.add_argument("run")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_arena_next)
    a = rsub.add_parser("vote", help="the best answer of a prompt: its letter, or tie")
    a.add_argument("run")
    a.add_argument("index", type=int, help="the prompt's number as `arena next` shows it")
    a.add_argument("choice", choices=("A", "B", "C", "D", "tie"))
    a.set_defaults(func=cmd_arena_vote)
    a = rsub.add_parser("results", help="win rates, Elo and Bradley-Terry ratings")
    a.add_argument("run")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_arena_results)
    a = rsub.add_parser("export", help="the votes as a preference dataset")
    a.add_argument("run")
    a.add_argument("--dataset", required=True, help="the new dataset's name")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_arena_export)


def cmd_arena_start(args: Any) -> int:
    ctx = LocalContext(progress=True)
    started = _methods().arena_start(ctx, models=args.models, dataset=args.dataset, split=args.split,
                                     limit=args.limit, prompts=args.prompts, max_tokens=args.max_tokens)  # fmt: skip
    print(f"arena {started['run_id']} started (job {started['job']['id']})", file=sys.stderr)
    result = _wait(ctx, started["job"])
    emit_json(result) if args.json else print(f"arena {result['run_id']}: {result['prompts']} prompts answered; vote with `hearth-engine arena next {result['run_id']}`")  # fmt: skip
    return 0


def cmd_arena_next(args: Any) -> int:
    shown = _methods().arena_next(LocalContext(progress=False), run_id=args.run)
    if args.json:
        emit_json(shown)
        return 0
    if shown["index"] is None:
        print(f"every answered prompt has a vote ({shown['voted']} votes)")
        return 0
    print(f"prompt {shown['index']}: {shown['prompt']}\n")
    for slot, text in zip(shown["slots"], shown["answers"], strict=True):
        print(f"--- {slot} ---\n{text}\n")
    print(
        f"vote: hearth-engine arena vote {args.run} {shown['index']} {'|'.join(shown['slots'])}|tie"
    )
    return 0


def cmd_arena_vote(args: Any) -> int:
    done = _methods().arena_vote(LocalContext(progress=False), run_id=args.run, index=args.index, choice=args.choice)  # fmt: skip
    print(f"voted {done['choice']} on prompt {done['index']} ({done['voted']} votes)")
    return 0


def cmd_arena_results(args: Any) -> int:
    board = _methods().arena_results(LocalContext(progress=False), run_id=args.run)
    if args.json:
        emit_json(board)
        return 0
    table([[r["name"], str(r["games"]), str(r["wins"]), str(r["ties"]), str(r["losses"]),
            "" if r["win_rate"] is None else f"{r['win_rate']:.0%}", f"{r['elo']:.0f}", f"{r['bradley_terry']:.0f}"]
           for r in board["models"]], ["model", "games", "wins", "ties", "losses", "win rate", "Elo", "Bradley-Terry"])  # fmt: skip
    print(f"{board['votes']} votes on {board['prompts']} prompts")
    return 0


def cmd_arena_export(args: Any) -> int:
    made = _methods().arena_export(LocalContext(progress=False), run_id=args.run, name=args.dataset)
    emit_json(made) if args.json else print(
        f"dataset {made['name']}: {made['rows']} preference rows"
    )
    return 0


def _metric_cell(m: dict[str, float]) -> str:
    return f"{m['value']:.4g} [{m['ci_low']:.4g}, {m['ci_high']:.4g}]"


def _print_results(result: dict[str, Any]) -> None:
    results = result["results"]
    names = list(results[0]["metrics"]) if results else []
    table([[r["model_id"], *(_metric_cell(r["metrics"][n]) for n in names)] for r in results],
          ["model", *names])  # fmt: skip
    print(f"run {result['run_id']} (value [95% bootstrap interval])")


def cmd_perplexity(args: Any) -> int:
    ctx = LocalContext(progress=True)
    started = _methods().perplexity(ctx, models=args.models, file=args.file, dataset=args.dataset,
                                    split=args.split, collection=args.collection,
                                    max_tokens=args.max_tokens, seq_len=args.seq_len,
                                    stride=args.stride)  # fmt: skip
    result = _wait(ctx, started["job"])
    if args.json:
        out: dict[str, Any] = {"results": [{k: r[k] for k in ("model_id", "ppl", "tokens")} for r in result["results"]]}  # fmt: skip
        if result.get("note"):
            out["note"] = result["note"]
        emit_json(out)
        return 0
    table([[r["model_id"], r["name"], f"{r['ppl']:.3f}", str(r["tokens"]), r["runtime"]] for r in result["results"]],
          ["model", "name", "perplexity", "tokens", "runtime"])  # fmt: skip
    if result.get("note"):
        print(result["note"])
    return 0


def cmd_run(args: Any) -> int:
    ctx = LocalContext(progress=True)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    started = _methods().task_run(ctx, models=args.models, dataset=args.dataset, split=args.split,
                                  metrics=metrics, limit=args.limit, max_tokens=args.max_tokens,
                                  batch=args.batch, judge=args.judge)  # fmt: skip
    print(f"evaluation {started['run_id']} started (job {started['job']['id']})", file=sys.stderr)
    result = _wait(ctx, started["job"])
    if args.json:
        emit_json(result)
        return 0
    _print_results(result)
    _print_pairwise(result)
    return 0


def _print_pairwise(result: dict[str, Any]) -> None:
    for r in result["results"]:
        if r.get("judge_unparsed"):
            print(f"{r['model_id']}: the judge's rating could not be read for {r['judge_unparsed']} of {r['rows']} answers")  # fmt: skip
    for p in result.get("pairwise") or []:
        agree = "n/a" if p["agreement"] is None else f"{p['agreement']:.0%}"
        print(f"{p['model_a']} vs {p['model_b']}: {p['wins_a']} : {p['wins_b']} wins, {p['ties']} ties, "
              f"{p['inconsistent']} inconsistent, {p['unparsed']} unparsed (the judge agrees with itself "
              f"both ways round on {agree})")  # fmt: skip


def cmd_choice(args: Any) -> int:
    ctx = LocalContext(progress=True)
    started = _methods().choice_run(ctx, models=args.models, dataset=args.dataset,
                                    split=args.split, limit=args.limit)  # fmt: skip
    print(f"evaluation {started['run_id']} started (job {started['job']['id']})", file=sys.stderr)
    result = _wait(ctx, started["job"])
    if args.json:
        emit_json({"run_id": result["run_id"], "results": [
            {k: r[k] for k in ("model_id", "accuracy", "accuracy_norm", "n")} for r in result["results"]]})  # fmt: skip
        return 0
    _print_results(result)
    return 0


def cmd_harness(args: Any) -> int:
    ctx = LocalContext(progress=True)
    started = _methods().harness_run(ctx, models=args.models, tasks=args.tasks, limit=args.limit,
                                     num_fewshot=args.num_fewshot)  # fmt: skip
    result = _wait(ctx, started["job"])
    if args.json:
        emit_json(result)
        return 0
    _print_results(result)
    return 0


def cmd_show(args: Any) -> int:
    result = _methods().show(LocalContext(progress=False), run_id=args.run)
    if args.json:
        emit_json(result)
        return 0
    _print_results(result)
    for r in result["rows"]:
        scores = ", ".join(f"{k} {v:.3g}" for k, v in r["scores"].items())
        print(f"\n[{r['index'] + 1}] {r['model_id']}: {scores}\n  Q: {r['input'][:200]}\n"
              f"  reference: {r['reference'][:200]}\n  answer: {r['prediction'][:200]}")  # fmt: skip
    return 0


def cmd_list(args: Any) -> int:
    result = _methods().list_runs(LocalContext(progress=False))
    if args.json:
        emit_json(result)
        return 0
    table([[r["run_id"], r["kind"], r.get("dataset") or "", str(r.get("rows")), r["state"],
            ", ".join(r.get("models") or [])] for r in result["runs"]],
          ["run", "kind", "dataset", "rows", "state", "models"])  # fmt: skip
    return 0


def export_rows(result: dict[str, Any], path: Path) -> int:
    """Write a shown run's rows to ``path`` (CSV or JSON by suffix); the number of rows."""
    rows = result["rows"]
    try:
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
        else:
            names = sorted({k for r in rows for k in r["scores"]})
            with open(path, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["row", "model_id", "input", "reference", "prediction", *names])
                for r in rows:
                    w.writerow([r["index"] + 1, r["model_id"], r["input"], r["reference"],
                                r["prediction"], *(r["scores"].get(n, "") for n in names)])  # fmt: skip
    except OSError as exc:
        raise UserError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    return len(rows)


def cmd_export(args: Any) -> int:
    result = _methods().show(LocalContext(progress=False), run_id=args.run)
    n = export_rows(result, Path(args.file).expanduser())
    print(f"wrote {n} rows to {args.file}")
    return 0


def cmd_delete(args: Any) -> int:
    _methods().delete(LocalContext(progress=False), run_id=args.run)
    print(f"deleted {args.run}")
    return 0
