"""``hearth-engine data``: datasets from the command line, through the same ``data.*`` handlers.

    data import PATH [--format F] [--name N] [--on-error skip|abort] [--map FIELD=COLUMN] --json
    data list | show NAME [--rows 5] | history NAME | undo NAME | checkout NAME VERSION
    data convert NAME --to FORMAT
    data filter NAME [--min-tokens N] [--max-tokens N|context] [--model M] [--include RE]
                     [--exclude RE] [--drop-empty]
    data dedup NAME [--near --threshold 0.8] [--dry-run] --json
    data scrub NAME | contamination NAME [--eval OTHER] | stats NAME | render NAME INDEX
    data split NAME [--train 0.8 --validation 0.1 --test 0.1] [--seed 0] [--stratify COL]
    data generate --collection C --model M [--per-chunk 3]   (or --seeds FILE --count N)
    data generate --kind preferences --model M --judge J --prompts NAME [--count 50]
    data export NAME PATH [--format F] [--parquet]

``PATH`` ``hearth:conversations`` imports Hearth's own chats. Long steps run as jobs with progress
on stderr; Ctrl+C cancels them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.cli.context import LocalContext
from engine.cli.output import emit_json, table
from engine.core.errors import Cancelled, UserError
from engine.datasets.step_options import ContaminationOptions, DedupOptions

CONVERSATIONS = "hearth:conversations"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("data", help="datasets: import, inspect, clean, split, generate, export")
    d = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    a = d.add_parser("import", help="import a file (JSONL, JSON, CSV, Parquet, HF folder, text)")
    a.add_argument("path", help=f"file or folder, or {CONVERSATIONS} for Hearth's chats")
    a.add_argument("--format", choices=_formats(), help="the rows' format (default: detected)")
    a.add_argument("--name", help="dataset name (default: the file name)")
    a.add_argument("--on-error", choices=("skip", "abort"), default="abort",
                   help="what to do with malformed lines (default: abort)")  # fmt: skip
    a.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                   help="map a format field to a column, e.g. --map output=answer")  # fmt: skip
    a.add_argument("--encoding", help="text encoding (default: detected)")
    a.add_argument("--type", dest="kind", help="file type: jsonl, json, csv, parquet, hf, text")
    a.add_argument("--split", help="split of a saved Hugging Face DatasetDict")
    a.add_argument("--text-mode", choices=("paragraph", "line", "document"),
                   help="plain text: one row per paragraph (default), line or document")  # fmt: skip
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_import)

    a = d.add_parser("inspect", help="detect a file's format without importing it")
    a.add_argument("path")
    a.add_argument("--encoding")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_inspect)

    a = d.add_parser("list", help="list datasets")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_list)

    a = d.add_parser("show", help="show a dataset's first rows (or a search)")
    a.add_argument("name")
    a.add_argument("--rows", type=int, default=5)
    a.add_argument("--offset", type=int, default=0)
    a.add_argument("--version", type=int)
    a.add_argument("--split")
    a.add_argument("--search", help="only rows containing this text")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_show)

    a = d.add_parser("history", help="a dataset's versions")
    a.add_argument("name")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_history)

    a = d.add_parser("undo", help="make the previous version current")
    a.add_argument("name")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=lambda args: _simple(args, "undo", id=args.name))

    a = d.add_parser("checkout", help="make any version current")
    a.add_argument("name")
    a.add_argument("version", type=int)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=lambda args: _simple(args, "checkout", id=args.name, version=args.version))

    a = d.add_parser("rename", help="rename a dataset")
    a.add_argument("name")
    a.add_argument("new_name")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=lambda args: _simple(args, "rename", id=args.name, name=args.new_name))

    a = d.add_parser("delete", help="delete a dataset and all its versions")
    a.add_argument("name")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_delete)

    a = d.add_parser("convert", help="convert to another format (a new version)")
    a.add_argument("name")
    a.add_argument("--to", required=True, choices=_formats())
    a.add_argument("--on-error", choices=("skip", "abort"))
    a.add_argument("--model", help="to text: use this model's chat template")
    a.add_argument("--template", help="to text: a named chat template (chatml, llama3, ...)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_convert)

    a = d.add_parser("filter", help="drop rows by length, regex or empty fields (a new version)")
    a.add_argument("name")
    a.add_argument("--min-tokens", type=int)
    a.add_argument("--max-tokens", help="a number, or 'context' for the model's context window")
    a.add_argument("--model", help="count tokens with this model's tokenizer and template")
    a.add_argument("--include", metavar="REGEX", help="keep only rows matching")
    a.add_argument("--exclude", metavar="REGEX", help="drop rows matching")
    a.add_argument("--field", help="apply the regexes to this field only")
    a.add_argument("--drop-empty", action="store_true", help="drop rows with empty fields")
    a.add_argument("--empty-field", action="append", dest="empty_fields", metavar="FIELD")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_filter)

    a = d.add_parser("dedup", help="remove exact (or near) duplicates")
    a.add_argument("name")
    a.add_argument("--near", action="store_true", help="near duplicates (MinHash + LSH)")
    DedupOptions.add_arguments(a, skip=("near", "seed"))
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_dedup)

    a = d.add_parser("scrub", help="replace e-mails, phone numbers and IPs with placeholders")
    a.add_argument("name")
    a.add_argument("--kind", action="append", dest="kinds", choices=("email", "phone", "ip"))
    a.add_argument("--dry-run", action="store_true")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_scrub)

    a = d.add_parser("contamination", help="rows sharing n-grams with an evaluation set")
    a.add_argument("name")
    a.add_argument("--eval", dest="eval_id", help="evaluation dataset (default: this one's splits)")
    a.add_argument("--split")
    a.add_argument("--eval-split")
    a.add_argument("--ngram", type=int, help=ContaminationOptions.help_of("ngram"))
    a.add_argument("--min-overlap", type=float, help=ContaminationOptions.help_of("min_overlap"))
    a.add_argument("--remove", action="store_true", help=ContaminationOptions.help_of("remove"))
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_contamination)

    a = d.add_parser("split", help="train/validation/test split (a new version)")
    a.add_argument("name")
    a.add_argument("--train", type=float)
    a.add_argument("--validation", "--val", type=float)
    a.add_argument("--test", type=float)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--stratify", help="keep this column's proportions in each split")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_split)

    a = d.add_parser("stats", help="token lengths and roles (and PNG plots)")
    a.add_argument("name")
    a.add_argument("--model")
    a.add_argument("--split")
    a.add_argument("--no-plots", action="store_true")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_stats)

    a = d.add_parser("render", help="a row with a model's chat template and its token count")
    a.add_argument("name")
    a.add_argument("index", type=int)
    a.add_argument("--model")
    a.add_argument("--template")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_render)

    a = d.add_parser("generate", help="Q&A from a document collection, self-instruct tasks, or "
                     "preference pairs judged by a model")  # fmt: skip
    a.add_argument("--kind", choices=("qa", "self-instruct", "preferences"),
                   help="what to make (default: qa with --collection, else self-instruct)")  # fmt: skip
    a.add_argument("--collection", help="document collection (question/answer mode)")
    a.add_argument("--prompts", help="preferences: a dataset whose rows' prompts are answered")
    a.add_argument("--judge", help="preferences: the chat model that picks the better answer")
    a.add_argument("--model", help="chat model id (default: the bundled model)")
    a.add_argument("--per-chunk", type=int, help="pairs per chunk (default 3)")
    a.add_argument("--max-chunks", type=int)
    a.add_argument("--seeds", help="self-instruct: a JSONL or text file of seed tasks")
    a.add_argument("--seed-dataset", help="self-instruct: a dataset of seed tasks")
    a.add_argument("--count", type=int, help="self-instruct: tasks to write (default 20); "
                   "question/answer: stop at this many pairs (default: as many as the chunks give); "
                   "preferences: prompts to answer (default 50)")  # fmt: skip
    a.add_argument("--files", help="question/answer: only these of the collection's files "
                   "(names or paths, comma-separated)")  # fmt: skip
    a.add_argument("--prompt", help="prompt template ({chunk}, {n}, {file}, {page} or {examples})")
    a.add_argument("--prompt-file")
    a.add_argument("--name")
    a.add_argument("--max-tokens", type=int, help="longest answer (default 512; preferences 256)")
    a.add_argument("--temperature", type=float, help="sampling temperature (default 0.7; preferences 0.9)")  # fmt: skip
    a.add_argument("--seed", type=int)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_generate)

    a = d.add_parser("export", help="write JSONL (any format) or Parquet, with a dataset card")
    a.add_argument("name")
    a.add_argument("path", help="a .jsonl/.parquet file, or a folder (one file per split)")
    a.add_argument("--format", choices=_formats())
    a.add_argument("--parquet", action="store_true")
    a.add_argument("--split")
    a.add_argument("--model", help="to text: use this model's chat template")
    a.add_argument("--template")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_export)


def _formats() -> tuple[str, ...]:
    from engine.datasets.formats import FORMATS

    return FORMATS


def _m() -> Any:
    from engine.datasets import methods

    return methods


def _run(ctx: LocalContext, started: dict[str, Any]) -> dict[str, Any]:
    job = ctx.run_job(started["job"])
    if job["state"] == "cancelled":
        raise Cancelled(job)
    if job["state"] != "succeeded":
        raise UserError(job.get("error") or f"The job {job['state']}.")
    return job["result"]


def _ctx(args: Any) -> LocalContext:
    return LocalContext(progress=True)


def _version_line(result: dict[str, Any]) -> str:
    v = result.get("version")
    if not v:
        return "Nothing changed; no new version."
    desc = (v.get("summary") or {}).get("description", "")
    return f"{result['dataset']['name']} version {v['version']}: {desc}"


def _simple(args: Any, name: str, **kw: Any) -> int:
    out = getattr(_m(), name)(LocalContext(progress=False), **kw)
    if args.json:
        emit_json(out)
    else:
        print(
            f"{out['name']}: version {out['version']} of {out['versions']}, {out['rows']:,} rows ({out['format']})"
        )
    return 0


# -- commands ---------------------------------------------------------------------------------------


def cmd_import(args: Any) -> int:
    mapping = {}
    for item in args.map:
        field, sep, column = item.partition("=")
        if not sep or not field or not column:
            raise UserError(f"--map needs FIELD=COLUMN, not {item!r}.")
        mapping[field] = column
    ctx = _ctx(args)
    params: dict[str, Any] = {
        "name": args.name, "format": args.format, "on_error": args.on_error,
        "mapping": mapping or None, "encoding": args.encoding, "kind": args.kind,
        "split": args.split, "text_mode": args.text_mode,
    }  # fmt: skip
    if args.path == CONVERSATIONS:
        params["source"] = "conversations"
    else:
        params["path"] = args.path
    result = _run(ctx, _m().import_dataset(ctx, **params))
    out = {
        "name": result["name"],
        "format": result["format"],
        "rows": result["rows"],
        "errors": result["errors"],
        "id": result["dataset"]["id"],
        "errors_total": result["errors_total"],
        "converted": result["converted"],
        "too_long": result["too_long"],
        "warnings": result["warnings"],
    }
    if args.json:
        emit_json(out)
        return 0
    print(f"Imported {out['rows']:,} rows as {out['name']} ({out['format']}, id {out['id']}).")
    for e in out["errors"][:20]:
        print(f"  skipped line {e['line']}: {e['reason']}")
    if out["errors_total"] > 20:
        print(f"  ... {out['errors_total'] - 20} more skipped")
    for w in out["warnings"]:
        print(f"  note: {w}")
    return 0


def cmd_inspect(args: Any) -> int:
    out = _m().inspect_source(LocalContext(progress=False), path=args.path, encoding=args.encoding)
    if args.json:
        emit_json(out)
        return 0
    src = out["source"]
    print(f"{src.get('path')}: {src.get('kind')}, encoding {src.get('encoding_note') or '-'}")
    print(f"columns: {', '.join(out['columns'])}")
    for c in out["candidates"]:
        print(f"  {c['format']:<10} confidence {c['confidence']:.2f}  mapping {c['mapping']}")
    if out["needs_mapping"]:
        print("The format is uncertain: import with --format F and --map FIELD=COLUMN.")
    for e in out["errors"][:10]:
        print(f"  line {e['line']}: {e['reason']}")
    return 0


def cmd_list(args: Any) -> int:
    datasets = _m().list_datasets(LocalContext(progress=False))["datasets"]
    if args.json:
        emit_json(datasets)
        return 0
    if not datasets:
        print("No datasets. Import one with `hearth-engine data import PATH`.")
        return 0
    table(
        [[d["name"], d["id"], d["format"], f"{d['rows']:,}", f"{d['version']}/{d['versions']}",
          ",".join(s["name"] for s in d["splits"] or []) or "-"] for d in datasets],
        ["NAME", "ID", "FORMAT", "ROWS", "VERSION", "SPLITS"],
    )  # fmt: skip
    return 0


def cmd_show(args: Any) -> int:
    ctx = LocalContext(progress=False)
    page = _m().rows(ctx, id=args.name, offset=args.offset, limit=args.rows, version=args.version,
                     split=args.split, query=args.search)  # fmt: skip
    if args.json:
        emit_json(page)
        return 0
    ds = _m().get_dataset(ctx, id=args.name)
    print(
        f"{ds['name']} ({ds['id']}): {page['total']:,} rows, {page['format']}, version {page['version']}"
    )
    for rec in page["rows"]:
        flags = f" [{', '.join(rec['flags'])}]" if rec["flags"] else ""
        text = json.dumps(rec["row"], ensure_ascii=False)
        print(
            f"#{rec['index']} ({rec['tokens']} tokens){flags}: {text[:400]}{'...' if len(text) > 400 else ''}"
        )
    return 0


def cmd_history(args: Any) -> int:
    out = _m().history(LocalContext(progress=False), id=args.name)
    if args.json:
        emit_json(out)
        return 0
    for v in out["versions"]:
        mark = "*" if v["version"] == out["current"] else " "
        desc = v["summary"].get("description", "")
        print(
            f"{mark} v{v['version']} (from v{v['parent'] or '-'}) {v['operation']:<12} {v['rows']:>9,} rows  {desc}"
        )
    return 0


def cmd_delete(args: Any) -> int:
    out = _m().delete(LocalContext(progress=False), id=args.name)
    emit_json(out) if args.json else print(f"Deleted {out['name']} ({out['deleted']})")
    return 0


def _step(args: Any, started_fn: Any, **params: Any) -> dict[str, Any]:
    ctx = _ctx(args)
    return _run(ctx, started_fn(ctx, **params))


def cmd_convert(args: Any) -> int:
    result = _step(args, _m().convert, id=args.name, to=args.to, on_error=args.on_error,
                   model_id=args.model, template=args.template)  # fmt: skip
    if args.json:
        emit_json({"name": result["dataset"]["name"], "format": result["to"], "from": result["from"],
                   "rows": result["rows"], "failed": result["failed"], "lossy": result["lossy"],
                   "version": result["version"]["version"]})  # fmt: skip
    else:
        print(_version_line(result))
    return 0


def cmd_filter(args: Any) -> int:
    max_tokens: Any = args.max_tokens
    if max_tokens is not None and max_tokens != "context":
        try:
            max_tokens = int(max_tokens)
        except ValueError:
            raise UserError("--max-tokens needs a number or 'context'.") from None
    result = _step(args, _m().filter_rows, id=args.name, min_tokens=args.min_tokens,
                   max_tokens=max_tokens, model_id=args.model, include=args.include,
                   exclude=args.exclude, field=args.field, drop_empty=args.drop_empty,
                   empty_fields=args.empty_fields)  # fmt: skip
    if args.json:
        emit_json({"rows_before": result["rows_before"], "rows_after": result["rows_after"],
                   "removed": result["removed"], "reasons": result["reasons"],
                   "version": (result["version"] or {}).get("version")})  # fmt: skip
    else:
        print(_version_line(result))
    return 0


def cmd_dedup(args: Any) -> int:
    result = _step(args, _m().dedup, id=args.name, near=args.near, threshold=args.threshold,
                   num_perm=args.num_perm, ngram=args.ngram, field=args.field,
                   dry_run=args.dry_run)  # fmt: skip
    out = {k: result[k] for k in ("rows_before", "rows_after", "removed", "clusters")}
    if args.json:
        emit_json({**out, "version": (result.get("version") or {}).get("version")})
        return 0
    kind = "near-duplicate" if args.near else "duplicate"
    print(f"{len(out['clusters']):,} {kind} clusters; {out['removed']:,} rows "
          f"{'would be ' if args.dry_run else ''}removed ({out['rows_before']:,} -> {out['rows_after']:,}).")  # fmt: skip
    for c in out["clusters"][:10]:
        print(
            f"  keep #{c['keep']}, remove {c['remove'][:8]}{'...' if len(c['remove']) > 8 else ''} (similarity >= {c['similarity']})"
        )
    return 0


def cmd_scrub(args: Any) -> int:
    result = _step(args, _m().scrub, id=args.name, kinds=args.kinds, dry_run=args.dry_run)
    if args.json:
        emit_json({"counts": result["counts"], "rows_changed": result["rows_changed"],
                   "version": (result.get("version") or {}).get("version")})  # fmt: skip
    else:
        found = ", ".join(f"{v} {k}" for k, v in result["counts"].items())
        print(
            f"Found {found} in {result['rows_changed']:,} rows."
            + ("" if args.dry_run else " " + _version_line(result))
        )
    return 0


def cmd_contamination(args: Any) -> int:
    result = _step(args, _m().contamination, id=args.name, eval_id=args.eval_id, split=args.split,
                   eval_split=args.eval_split, ngram=args.ngram, min_overlap=args.min_overlap,
                   remove=args.remove)  # fmt: skip
    out = {k: result[k] for k in ("leaking_count", "checked_rows", "eval_rows", "leaking")}
    if args.json:
        emit_json({**out, "version": (result.get("version") or {}).get("version")})
        return 0
    print(
        f"{out['leaking_count']:,} of {out['checked_rows']:,} rows share {args.ngram}-grams with the evaluation set."
    )
    for item in out["leaking"][:20]:
        print(
            f"  #{item['index']} overlap {item['overlap']:.2f} (eval #{item['eval_index']}): {item['text'][:100]}"
        )
    if args.remove:
        print(_version_line(result))
    return 0


def cmd_split(args: Any) -> int:
    result = _step(args, _m().split, id=args.name, train=args.train, validation=args.validation,
                   test=args.test, seed=args.seed, stratify_by=args.stratify)  # fmt: skip
    if args.json:
        emit_json({"name": result["dataset"]["name"], "splits": result["splits"],
                   "version": result["version"]["version"]})  # fmt: skip
    else:
        print(_version_line(result))
    return 0


def cmd_stats(args: Any) -> int:
    out = _m().stats(LocalContext(progress=False), id=args.name, model_id=args.model,
                     split=args.split, plots=not args.no_plots)  # fmt: skip
    if args.json:
        emit_json(out)
        return 0
    t = out["tokens"]
    unit = "tokens" if out["exact_tokens"] else "tokens (estimated)"
    print(f"{out['name']} v{out['version']}: {out['rows']:,} rows, {out['format']}")
    print(
        f"{unit}: min {t['min']}, median {t['median']:.0f}, mean {t['mean']}, p95 {t['p95']:.0f}, max {t['max']}, total {t['total']:,}"
    )
    if out["roles"]:
        print("roles: " + ", ".join(f"{k} {v:,}" for k, v in out["roles"].items()))
    if out["too_long"]:
        print(f"{out['too_long']:,} rows longer than {out['context_limit']} tokens")
    for name, path in out["plots"].items():
        print(f"plot {name}: {path}")
    return 0


def cmd_render(args: Any) -> int:
    out = _m().render(LocalContext(progress=False), id=args.name, index=args.index,
                      model_id=args.model, template=args.template)  # fmt: skip
    if args.json:
        emit_json(out)
        return 0
    print(out["text"])
    exact = "" if out["exact"] else " (estimated)"
    fits = "" if out["fits"] is None else (" - fits" if out["fits"] else " - TOO LONG")
    print(f"\n[{out['tokens']} tokens{exact}, template {out['template']}{fits}]")
    return 0


def _read_seeds(path: str) -> list[Any]:
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"{p} does not exist.")
    seeds: list[Any] = []
    for line in p.read_text("utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                seeds.append(json.loads(line))
                continue
            except ValueError:
                pass
        seeds.append(line)
    return seeds


def cmd_generate(args: Any) -> int:
    prompt = args.prompt
    if args.prompt_file:
        prompt = Path(args.prompt_file).expanduser().read_text("utf-8")
    pairs = args.kind == "preferences"
    defaults = {"max_tokens": 256, "temperature": 0.9} if pairs else {"max_tokens": 512, "temperature": 0.7}  # fmt: skip
    chat_params: dict[str, Any] = {"max_tokens": args.max_tokens or defaults["max_tokens"],
                                   "temperature": defaults["temperature"] if args.temperature is None else args.temperature}  # fmt: skip
    if args.seed is not None:
        chat_params["seed"] = args.seed
    mode = args.kind.replace("-", "_") if args.kind else None
    result = _step(args, _m().generate, mode=mode, model_id=args.model, collection=args.collection,
                   prompts=args.prompts, judge_id=args.judge,
                   per_chunk=args.per_chunk, max_chunks=args.max_chunks,
                   seeds=_read_seeds(args.seeds) if args.seeds else None,
                   seed_dataset=args.seed_dataset, count=args.count, prompt=prompt,
                   files=[f.strip() for f in args.files.split(",") if f.strip()] if args.files else None,
                   params=chat_params, name=args.name)  # fmt: skip
    out = {"name": result["name"], "rows": result["rows"], "id": result["dataset"]["id"],
           "steps": result["steps"], "rejected": result["rejected"],
           "shortfall": result.get("shortfall")}  # fmt: skip
    if args.json:
        emit_json(out)
    else:
        print(
            f"Generated {out['rows']:,} rows as {out['name']} in {out['steps']} steps; rejected: {out['rejected'] or 'none'}."
        )
        if out["shortfall"]:
            print(out["shortfall"][0].upper() + out["shortfall"][1:] + ".")
    return 0


def cmd_export(args: Any) -> int:
    result = _step(args, _m().export, id=args.name, path=args.path, format=args.format,
                   file_format="parquet" if args.parquet else None, split=args.split,
                   model_id=args.model, template=args.template)  # fmt: skip
    out = {k: result[k] for k in ("format", "file_format", "files", "card", "rows")}
    if args.json:
        emit_json(out)
    else:
        for f in out["files"]:
            print(f"Wrote {f['rows']:,} rows to {f['path']}")
        print(f"Dataset card: {out['card']}")
    return 0
