"""``hearth-engine train`` and ``hearth-engine export gguf``: fine-tuning from the command line.

    train lora --model ID --dataset NAME [--method lora|dora|qlora|full] [--preset P]
               [--max-steps N] [--rank R] [--seq-len L] [--batch B] ... [--json]
    train dpo|orpo --model ID --dataset PAIRS [--beta B] [--dpo-loss sigmoid|ipo] ... [--json]
                                     the same, learning from preference pairs
    train distill --teacher ID --student ID --dataset NAME [--kd-weight W] ... [--json]
                                     the same, the loss a teacher's distributions
    train prompt-tuning --model ID --dataset NAME --virtual-tokens N [--prompt-init TEXT] ... [--json]
                                     N learned virtual tokens, the model frozen (its own lr, 3e-2)
    train resume RUN [--json]        continue from the last checkpoint
    train list [--json]              runs with their state, losses and artifacts
    train show RUN [--json]          one run: options, summary, artifacts
    train eval RUN [--prompt P]...   perplexity before/after, base vs tuned answers
    train merge RUN [--json]         adapter merged into the base (safetensors folder)
    train plan --model ID [...]      the memory estimate for a configuration
    train handoff RUN --out DIR [--json]      the run as a TRL + accelerate folder for a cluster
    train import-result DIR --run RUN [--json] the cluster's adapter back, as a run and a model
    train delete RUN
    export gguf RUN [--merged --quant q8_0 | --adapter] [--json]
    export gguf MODEL_ID [--quant f16|q8_0] [--json]   any Hugging Face model in the library

Every training option flag comes from ``engine.training.config.TrainOptions`` (help text
included). Progress goes to stderr; ``--json`` prints one object on stdout at the end. The code
paths are the ``train.*`` RPC methods' own.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.cli.context import LocalContext
from engine.cli.output import emit_json, table
from engine.core.errors import Cancelled, UserError

EXIT_CANCELLED = 130
SUMMARY_KEYS = ("run_id", "steps", "first_loss", "final_loss", "tokens_per_s", "peak_rss_mb", "artifacts")  # fmt: skip


def _add_options(p: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    from engine.training.config import fields_info

    group = p.add_argument_group(
        "training options (unset ones come from the preset, then the defaults)"
    )
    for info in fields_info():
        if info["name"] in skip:
            continue
        flags = info["cli"]
        default = info["default"]
        helptext = info["help"] + (f" [default: {default}]" if default not in (None, []) else "")
        kw: dict[str, Any] = {
            "dest": f"opt_{info['name']}",
            "default": None,
            "help": helptext.replace("%", "%%"),
        }
        if info["type"] == "bool":
            kw["action"] = argparse.BooleanOptionalAction
            flags = flags[:1]
        elif info["type"] == "list":
            if info["name"] == "sample_prompts":
                kw["action"] = "append"
                kw["metavar"] = "PROMPT"
            else:
                kw["metavar"] = "A,B,..."
        else:
            kw["type"] = {"int": int, "float": float}.get(info["type"], str)
            if info["choices"]:
                kw["choices"] = info["choices"]
            kw["metavar"] = info["name"].upper() if not info["choices"] else None
            if kw["metavar"] is None:
                del kw["metavar"]
        group.add_argument(*flags, **kw)


def _options(args: Any) -> dict[str, Any]:
    return {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_") and v is not None}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="fine-tune models (LoRA, DoRA, QLoRA, full)")
    tsub = p.add_subparsers(dest="train_command", metavar="ACTION", required=True)

    for command, fixed, helptext in (
        ("lora", {}, "train an adapter (or the whole model) on a dataset"),
        ("dpo", {"objective": "dpo"}, "DPO: prefer each pair's chosen reply over its rejected one (a preference dataset)"),
        ("orpo", {"objective": "orpo"}, "ORPO: learn the chosen replies and prefer them, no reference model (a preference dataset)"),
        ("distill", {}, "distillation: a student model learns a teacher's next-token distributions on a dataset"),
        ("prompt-tuning", {"method": "prompt"}, "prompt tuning: learn --virtual-tokens N embeddings in front of every input, the model frozen (runs in transformers, not llama.cpp)"),
    ):  # fmt: skip
        a = tsub.add_parser(command, help=helptext)
        if command == "distill":
            a.add_argument("--teacher", required=True, dest="opt_teacher",
                           help="library model id of the teacher (the same tokenizer as the student)")  # fmt: skip
            a.add_argument("--student", required=True, dest="model",
                           help="library model id of the model that learns (a Hugging Face model)")  # fmt: skip
        else:
            a.add_argument("--model", required=True, help="library model id (hearth-engine models list)")  # fmt: skip
        a.add_argument("--dataset", required=True, help="dataset name or id, or a .jsonl file")
        a.add_argument(
            "--preset", choices=("quick", "balanced", "thorough"), help="a starting set of options"
        )
        a.add_argument("--name", help="run name (default: model on dataset)")
        a.add_argument("--version", type=int, help="dataset version (default: current)")
        a.add_argument("--split", help="training split (default: train when the dataset has splits)")  # fmt: skip
        a.add_argument("--validation-split", help="validation split (default: validation, if any)")
        a.add_argument("--force", action="store_true",
                       help="start even when the memory plan says it will not fit")  # fmt: skip
        a.add_argument("--json", action="store_true", help="print the run summary as JSON")
        skip = (*fixed, "teacher") if command == "distill" else tuple(fixed)
        _add_options(a, skip=skip + (("objective",) if command == "distill" else ()))
        a.set_defaults(func=cmd_lora, fixed=fixed)

    a = tsub.add_parser("resume", help="continue a cancelled, failed or interrupted run")
    a.add_argument("run")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_resume)

    a = tsub.add_parser("list", help="list training runs")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_list)

    a = tsub.add_parser("show", help="show one run")
    a.add_argument("run")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_show)

    a = tsub.add_parser("eval", help="perplexity before/after and base vs tuned answers")
    a.add_argument("run")
    a.add_argument(
        "--prompt",
        action="append",
        dest="prompts",
        metavar="PROMPT",
        help="a prompt to answer (repeatable)",
    )
    a.add_argument("--max-new-tokens", type=int, default=64)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_eval)

    a = tsub.add_parser("merge", help="merge the adapter into the base model (safetensors folder)")
    a.add_argument("run")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_merge)

    a = tsub.add_parser("plan", help="estimate the memory a configuration needs")
    a.add_argument("--model", required=True)
    a.add_argument("--preset", choices=("quick", "balanced", "thorough"))
    a.add_argument("--json", action="store_true")
    _add_options(a)
    a.set_defaults(func=cmd_plan)

    a = tsub.add_parser("handoff", help="write a run's self-contained folder for a GPU cluster (TRL + accelerate)")  # fmt: skip
    a.add_argument("run")
    a.add_argument("--out", required=True, metavar="DIR", help="a new (or empty) folder")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_handoff)

    a = tsub.add_parser("import-result", help="bring a cluster's adapter back into the library")
    a.add_argument("folder", metavar="DIR", help="the hand-off folder, with output/adapter")
    a.add_argument("--run", required=True, help="the run it was handed off from")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_import_result)

    a = tsub.add_parser("delete", help="delete a run and its files")
    a.add_argument("run")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_delete)


def add_export_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export models made in Hearth")
    esub = p.add_subparsers(dest="export_command", metavar="FORMAT", required=True)
    a = esub.add_parser("gguf", help="a training run or a library model as GGUF for llama.cpp")
    a.add_argument(
        "run",
        metavar="RUN|MODEL_ID",
        help="training run id (hearth-engine train list), or a Hugging Face model in the library (pruned ones included)",
    )
    what = a.add_mutually_exclusive_group()
    what.add_argument(
        "--merged", action="store_true", help="the adapter merged into the base (default)"
    )
    what.add_argument(
        "--adapter", action="store_true", help="the LoRA adapter alone (load it with the base GGUF)"
    )
    a.add_argument(
        "--quant", choices=("f16", "q8_0", "f32"), default="q8_0", help="merged model's weight type"
    )
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_export_gguf)


# -- commands ------------------------------------------------------------------------------
def _methods() -> Any:
    from engine.training import methods

    return methods


def _wait(ctx: LocalContext, job: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
    try:
        done = ctx.run_job(job)
    except Cancelled:
        hint = f"; continue with `hearth-engine train resume {run_id}`" if run_id else ""
        raise UserError(f"Cancelled{hint}.") from None
    if done["state"] != "succeeded":
        hint = (
            f" (resume with `hearth-engine train resume {run_id}`)"
            if run_id and done["state"] != "failed"
            else ""
        )
        raise UserError((done.get("error") or f"The job was {done['state']}.") + hint)
    return done["result"]


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    out = {k: result.get(k) for k in SUMMARY_KEYS}
    out.update({k: result[k] for k in ("reward_margin", "reward_accuracy") if k in result})
    return out


def _print_summary(s: dict[str, Any]) -> None:
    print(f"run {s['run_id']}: {s['steps']} steps, loss {s['first_loss']:.4f} -> {s['final_loss']:.4f}, "
          f"{s['tokens_per_s'] or 0:.0f} tokens/s, peak {s['peak_rss_mb']:.0f} MB")  # fmt: skip
    if s.get("reward_accuracy") is not None:
        print(f"  preferred the chosen reply in {s['reward_accuracy']:.0%} of pairs, reward margin {s['reward_margin']:.3f}")  # fmt: skip
    for key, path in (s.get("artifacts") or {}).items():
        print(f"  {key}: {path}")


def cmd_lora(args: Any) -> int:
    ctx = LocalContext(progress=True)
    options = {**_options(args), **getattr(args, "fixed", {})}
    started = _methods().start(
        ctx, model_id=args.model, dataset=args.dataset, options=options, preset=args.preset,
        name=args.name, version=args.version, split=args.split,
        validation_split=args.validation_split, force=args.force,
    )  # fmt: skip
    plan = started["plan"]
    if plan["verdict"] != "ok":
        print(f"warning: {plan['message']}", file=sys.stderr)
    run_id = started["run"]["id"]
    print(f"run {run_id} started (job {started['job']['id']})", file=sys.stderr)
    summary = _summary(_wait(ctx, started["job"], run_id))
    emit_json(summary) if args.json else _print_summary(summary)
    return 0


def cmd_resume(args: Any) -> int:
    ctx = LocalContext(progress=True)
    started = _methods().resume(ctx, run=args.run)
    summary = _summary(_wait(ctx, started["job"], args.run))
    emit_json(summary) if args.json else _print_summary(summary)
    return 0


def cmd_list(args: Any) -> int:
    runs = _methods().list_runs(LocalContext(progress=False))["runs"]
    if args.json:
        emit_json(runs)
        return 0
    if not runs:
        print(
            "No training runs. Start one with `hearth-engine train lora --model ID --dataset NAME`."
        )
        return 0

    def loss(r: dict[str, Any]) -> str:
        s = r.get("summary") or {}
        if s.get("first_loss") is None or s.get("final_loss") is None:
            return "-"
        return f"{s['first_loss']:.3f} -> {s['final_loss']:.3f}"

    table(
        [[r["id"], r["state"], r.get("method", "-"), r.get("model_name", "-"),
          (r.get("dataset") or {}).get("name", "-"), f"{r.get('step') or 0}/{r.get('total_steps') or '?'}",
          loss(r), ",".join(sorted(r.get("artifacts") or {})) or "-"] for r in runs],
        ["RUN", "STATE", "METHOD", "MODEL", "DATASET", "STEP", "LOSS", "ARTIFACTS"],
    )  # fmt: skip
    return 0


def cmd_show(args: Any) -> int:
    run = _methods().get_run(LocalContext(progress=False), run=args.run)
    if args.json:
        emit_json(run)
        return 0
    for key in ("id", "name", "state", "method", "model_name", "step", "total_steps", "error"):
        print(f"{key:12s} {run.get(key)}")
    print(f"{'dataset':12s} {(run.get('dataset') or {}).get('name')}")
    for key, value in (run.get("summary") or {}).items():
        print(f"  {key:20s} {value}")
    for key, value in (run.get("artifacts") or {}).items():
        print(f"  {key:20s} {value}")
    return 0


def cmd_eval(args: Any) -> int:
    ctx = LocalContext(progress=True)
    started = _methods().evaluate(ctx, run=args.run, prompts=args.prompts, max_new_tokens=args.max_new_tokens)  # fmt: skip
    result = _wait(ctx, started["job"])
    if args.json:
        emit_json(result)
        return 0
    ppl = (result.get("perplexity_before"), result.get("perplexity_after"))
    if ppl[0] is not None:
        print(f"validation perplexity: {ppl[0]:.3f} (base) -> {ppl[1]:.3f} (tuned)")
    for pair in result["comparisons"]:
        print(f"\n> {pair['prompt']}\n  base:  {pair['base']}\n  tuned: {pair['tuned']}")
    return 0


def cmd_merge(args: Any) -> int:
    ctx = LocalContext(progress=True)
    result = _wait(ctx, _methods().merge(ctx, run=args.run)["job"])
    emit_json(result) if args.json else print(
        f"merged into {result['path']} (model {result['model_id']})"
    )
    return 0


def cmd_plan(args: Any) -> int:
    plan = _methods().plan(LocalContext(progress=False), model_id=args.model, options=_options(args), preset=args.preset)  # fmt: skip
    if args.json:
        emit_json(plan)
        return 0
    print(plan["message"])
    for key, value in plan["parts"].items():
        print(f"  {key:16s} {value / 2**20:9.0f} MB")
    for s in plan["suggestions"]:
        print(
            f"  - {s['change']}: {s['total_bytes'] / 2**20:.0f} MB"
            + (" (fits)" if s["fits"] else "")
        )
    return 0


def cmd_delete(args: Any) -> int:
    result = _methods().delete(LocalContext(progress=False), run=args.run)
    emit_json(result) if args.json else print(f"Deleted run {result['deleted']}")
    return 0


def _is_run(ctx: LocalContext, ref: str) -> bool:
    from engine.core.errors import NotFoundError
    from engine.training.runs import RunStore

    try:
        RunStore(ctx.services).get(ref)
    except (NotFoundError, UserError):
        return False
    return True


def cmd_export_gguf(args: Any) -> int:
    ctx = LocalContext(progress=True)
    if not _is_run(ctx, args.run):  # a library model (a pruned one, any Hugging Face folder)
        from engine.pruning import methods as pruning

        if args.adapter:
            raise UserError("--adapter exports a training run's adapter; give the run id.")
        job = pruning.export_gguf(ctx, model_id=args.run, quant=args.quant)["job"]
        result = _wait(ctx, job)
        if args.json:
            emit_json({"path": result["path"], "model_id": result["model_id"]})
        else:
            print(result["path"])
            print(f'chat with it: hearth-engine chat --model {result["model_id"]} "..."')
        return 0
    what = "adapter" if args.adapter else "merged"
    result = _wait(ctx, _methods().export(ctx, run=args.run, what=what, quant=args.quant)["job"])
    if args.json:
        emit_json({k: v for k, v in result.items() if k in ("path", "model_id", "base_path", "base_model_id", "quant")})  # fmt: skip
        return 0
    print(result["path"])
    if result.get("base_path"):
        print(f"load it with the base {result['base_path']}")
    if result.get("model_id"):
        print(f'chat with it: hearth-engine chat --model {result["model_id"]} "..."')
    return 0


def cmd_handoff(args: Any) -> int:
    ctx = LocalContext(progress=True)
    result = _wait(ctx, _methods().handoff(ctx, run=args.run, out=args.out)["job"])
    if args.json:
        emit_json(result)
        return 0
    print(f"Wrote {result['folder']}: {result['rows']} rows, {result['steps']} steps.")
    print(f"On the cluster: cd {result['folder']} && {result['launch']}")
    print(f"Then: hearth-engine train import-result {result['folder']} --run {result['run_id']}")
    return 0


def cmd_import_result(args: Any) -> int:
    ctx = LocalContext(progress=True)
    result = _wait(ctx, _methods().import_result(ctx, run=args.run, folder=args.folder)["job"])
    if args.json:
        emit_json(result)
        return 0
    print(f"Imported as run {result['run_id']} ({result['name']}).")
    if result.get("model_id"):
        print(f'chat with it: hearth-engine chat --model {result["model_id"]} "..."')
    return 0
