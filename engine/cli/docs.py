"""``hearth-engine docs``: document collections from the command line.

    hearth-engine docs create Handbook [--chunk-tokens 200] [--server-url URL --api-key KEY]
    hearth-engine docs ingest Handbook ~/Documents/handbook [--json]
    hearth-engine docs search Handbook "vacation days" [--k 5] [--mode hybrid|dense|bm25] --json
    hearth-engine docs ask Handbook "How many vacation days do I get?" [--model ID] --json
    hearth-engine docs eval Handbook --qa questions.jsonl [--json]
    hearth-engine docs list | files NAME | chunks NAME FILE | preview FILE | rename NAME NEW
    hearth-engine docs remove NAME [PATH...]       (no paths: the whole collection)

Every command calls the ``docs.*`` RPC handler the desktop app uses.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from engine.cli.context import LocalContext
from engine.cli.output import emit_json, human_bytes, table
from engine.core.errors import UserError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("docs", help="document collections: ingest, search, ask, evaluate")
    dsub = p.add_subparsers(dest="docs_command", metavar="ACTION", required=True)

    a = dsub.add_parser("create", help="create a collection")
    a.add_argument("name")
    a.add_argument("--embedder", help="embedding model id (default: the bundled all-MiniLM-L6-v2)")
    a.add_argument("--chunk-tokens", type=int, help="most tokens per chunk (default 200)")
    a.add_argument("--overlap-tokens", type=int, help="tokens repeated between chunks (default 32)")
    a.add_argument("--batch-size", type=int, help="chunks embedded per batch (default 32)")
    a.add_argument("--server-url", help="keep the chunks on this Qdrant server instead of locally")
    a.add_argument("--api-key", help="API key for the Qdrant server")
    from engine.documents.settings import CollectionSettings

    described = CollectionSettings.describe()
    limits = tuple(d["name"] for d in described if d["group"] == "limits")
    CollectionSettings.add_arguments(a, skip=tuple(d["name"] for d in described if d["name"] not in limits))  # fmt: skip
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_create, limit_names=limits)

    a = dsub.add_parser("list", help="list collections")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_list)

    a = dsub.add_parser("ingest", help="index files and folders (none: re-read the collection's)")
    a.add_argument("name")
    a.add_argument("paths", nargs="*", metavar="PATH")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_ingest)

    a = dsub.add_parser(
        "move", help="move a collection to a Qdrant server, or back (--to embedded)"
    )
    a.add_argument("name")
    a.add_argument("--to", required=True, metavar="URL", help="http(s)://host:6333, or 'embedded'")
    a.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the server's API key")  # fmt: skip
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_move)

    a = dsub.add_parser("files", help="the files of a collection with their status")
    a.add_argument("name")
    a.add_argument("--status", choices=["indexed", "indexing", "failed", "skipped"])
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_files)

    a = dsub.add_parser("search", help="search a collection")
    a.add_argument("name")
    a.add_argument("query")
    a.add_argument("--k", type=int, help="chunks to return (default 5)")
    a.add_argument("--mode", choices=["hybrid", "dense", "bm25"])
    a.add_argument("--min-score", type=float, help="relevance threshold, 0 = off (default 0.2)")
    a.add_argument("--mmr", action="store_true", help="diversify the results")
    a.add_argument("--file", action="append", dest="files", help="only this file (repeatable)")
    a.add_argument("--type", action="append", dest="types", help="only this type (repeatable)")
    a.add_argument("--no-cache", action="store_true", help="bypass the semantic cache")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_search)

    a = dsub.add_parser("ask", help="answer a question from a collection, with citations")
    a.add_argument("name", help="collection (several: comma-separated)")
    a.add_argument("question")
    a.add_argument("--model", help="chat model id (default: the bundled Gemma 3 270M)")
    a.add_argument("--k", type=int, help="sources to give the model (default 5)")
    a.add_argument("--max-tokens", type=int, dest="max_tokens")
    a.add_argument("--temperature", type=float)
    a.add_argument("--seed", type=int)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_ask)

    a = dsub.add_parser("eval", help="retrieval quality (hit@1/3/5, MRR) on a QA file")
    a.add_argument("name")
    a.add_argument("--qa", required=True, help='JSONL of {"question", "answer"} and/or "source"')
    a.add_argument("--k", type=int, default=10, help="ranks considered for MRR (default 10)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_eval)

    a = dsub.add_parser("remove", help="remove files from a collection, or the whole collection")
    a.add_argument("name")
    a.add_argument("paths", nargs="*", metavar="PATH")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_remove)

    a = dsub.add_parser("rename", help="rename a collection")
    a.add_argument("name")
    a.add_argument("new_name")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_rename)

    a = dsub.add_parser("chunks", help="the stored chunks of one file")
    a.add_argument("name")
    a.add_argument("file")
    a.add_argument("--offset", type=int, default=0)
    a.add_argument("--limit", type=int, default=20)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_chunks)

    a = dsub.add_parser("preview", help="split a file without indexing it")
    a.add_argument("file")
    a.add_argument("--collection", help="use this collection's settings and embedder")
    a.add_argument("--chunk-tokens", type=int)
    a.add_argument("--overlap-tokens", type=int)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_preview)

    a = dsub.add_parser("cache-clear", help="empty a collection's semantic cache")
    a.add_argument("name")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_cache_clear)


def _m():
    from engine.documents import methods

    return methods


def _settings(args: Any, names: tuple[str, ...]) -> dict[str, Any] | None:
    values = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    return values or None


def cmd_create(args: Any) -> int:
    ctx = LocalContext(progress=False)
    collection = _m().docs_create(
        ctx,
        name=args.name,
        embedder=args.embedder,
        settings=_settings(
            args, ("chunk_tokens", "overlap_tokens", "batch_size", *args.limit_names)
        ),
        server_url=args.server_url,
        api_key=args.api_key,
    )
    if args.json:
        emit_json(collection)
    else:
        where = collection["server_url"] or collection["path"]
        print(f"Created {collection['name']} ({collection['id']}) in {where}")
    return 0


def cmd_list(args: Any) -> int:
    collections = _m().docs_list(LocalContext(progress=False))["collections"]
    if args.json:
        emit_json(collections)
        return 0
    if not collections:
        print("No collections. Create one with `hearth-engine docs create NAME`.")
        return 0
    table(
        [
            [
                c["id"],
                c["name"],
                str(c["files"]["indexed"]),
                str(c["files"]["failed"]),
                str(c["chunks"]),
                human_bytes(c["size_bytes"]),
                c["server_url"] or "local",
            ]
            for c in collections
        ],
        ["ID", "NAME", "FILES", "FAILED", "CHUNKS", "SIZE", "STORE"],
    )
    return 0


def cmd_ingest(args: Any) -> int:
    ctx = LocalContext(progress=not args.json)
    started = _m().docs_ingest(ctx, id=args.name, paths=args.paths or None)
    job = ctx.run_job(started["job"])
    result = job.get("result")
    if job["state"] != "succeeded" and not result:
        raise UserError(job.get("error") or f"Ingest {job['state']}.")
    if args.json:
        emit_json(result)
    else:
        for item in result["failed"]:
            print(f"failed   {item['file']}: {item['reason']}")
        for item in result["skipped"]:
            if item["reason"] != "unchanged":
                print(f"skipped  {item['file']}: {item['reason']}")
        unchanged = sum(1 for s in result["skipped"] if s["reason"] == "unchanged")
        print(
            f"{len(result['indexed'])} indexed, {unchanged} unchanged, "
            f"{len(result['failed'])} failed, {len(result.get('removed', []))} removed; "
            f"{result.get('chunks', 0)} chunks in the collection."
        )
    if job["state"] != "succeeded":
        raise UserError(
            job.get("error")
            or f"Ingest {job['state']}; resume it with `hearth-engine jobs resume {job['id']}`."
        )
    if result["failed"] and not result["indexed"]:
        raise UserError(
            f"None of the {len(result['failed'])} files could be ingested (the reasons are above); "
            "fix or convert them and ingest again."
        )
    return 0


def cmd_files(args: Any) -> int:
    data = _m().docs_files(LocalContext(progress=False), id=args.name, status=args.status)
    if args.json:
        emit_json(data)
        return 0
    table(
        [
            [f["status"], str(f["chunks"]), human_bytes(f["size"]), f["path"], f["reason"] or ""]
            for f in data["files"]
        ],
        ["STATUS", "CHUNKS", "SIZE", "FILE", "REASON"],
    )
    return 0


def cmd_search(args: Any) -> int:
    result = _m().docs_search(
        LocalContext(progress=False),
        id=args.name,
        query=args.query,
        k=args.k,
        mode=args.mode,
        min_score=args.min_score,
        mmr=True if args.mmr else None,
        files=args.files,
        types=args.types,
        cache=False if args.no_cache else None,
    )
    if args.json:
        emit_json(result["results"])
        if not result["results"]:
            print(result["message"], file=sys.stderr)
        return 0
    if result["cached"]:
        print(f"(from the semantic cache: {result['cached']['query']!r})")
    if not result["results"]:
        print(result["message"])
        return 0
    for hit in result["results"]:
        where = hit["file"] + (f", page {hit['page']}" if hit["page"] else "")
        print(f"#{hit['rank']}  {hit['score']:.4f}  {where}  {hit['heading']}")
        print(
            "    " + hit["text"][:300].replace("\n", " ") + ("…" if len(hit["text"]) > 300 else "")
        )
    print(f"({result['took_ms']:.0f} ms)")
    return 0


def cmd_ask(args: Any) -> int:
    ctx = LocalContext(progress=False)
    params = {
        k: v
        for k, v in (
            ("max_tokens", args.max_tokens),
            ("temperature", args.temperature),
            ("seed", args.seed),
        )
        if v is not None
    }
    collections = [c.strip() for c in args.name.split(",") if c.strip()]
    if not args.json:
        ctx.services.add_listener(
            lambda m, p: m == "chat.delta" and print(p["text"], end="", flush=True)
        )
    result = _m().docs_ask(
        ctx,
        collections=collections,
        question=args.question,
        model=args.model,
        params=params or None,
        options={"k": args.k} if args.k else None,
    )
    if args.json:
        emit_json(result)
        return 0
    print()
    for c in result["citations"]:
        mark = "*" if c["cited"] else " "
        where = c["file"] + (f", page {c['page']}" if c["page"] else "")
        print(f"{mark}[{c['n']}] {where} {c['heading'] or ''}".rstrip())
    return 0


def cmd_eval(args: Any) -> int:
    report = _m().docs_eval(LocalContext(progress=False), id=args.name, qa=args.qa, k=args.k)
    if args.json:
        emit_json(report)
        return 0
    rows = [
        [mode, *(f"{report[mode][m]:.3f}" for m in ("hit@1", "hit@3", "hit@5", "mrr"))]
        for mode in ("hybrid", "dense", "bm25")
    ]
    table(rows, ["MODE", "HIT@1", "HIT@3", "HIT@5", "MRR"])
    print(f"{report['questions']} questions")
    return 0


def cmd_remove(args: Any) -> int:
    ctx = LocalContext(progress=False)
    if args.paths:
        result = _m().docs_remove_files(ctx, id=args.name, paths=args.paths)
        emit_json(result) if args.json else print(f"Removed {len(result['removed'])} file(s).")
    else:
        result = _m().docs_delete(ctx, id=args.name)
        emit_json(result) if args.json else print(f"Removed collection {result['deleted']}.")
    return 0


def cmd_rename(args: Any) -> int:
    c = _m().docs_rename(LocalContext(progress=False), id=args.name, name=args.new_name)
    emit_json(c) if args.json else print(f"Renamed {c['id']} to {c['name']}")
    return 0


def cmd_chunks(args: Any) -> int:
    data = _m().docs_chunks(
        LocalContext(progress=False),
        id=args.name,
        file=args.file,
        offset=args.offset,
        limit=args.limit,
    )
    _print_chunks(data, args.json)
    return 0


def cmd_preview(args: Any) -> int:
    data = _m().docs_preview(
        LocalContext(progress=False),
        path=args.file,
        id=args.collection,
        settings=_settings(args, ("chunk_tokens", "overlap_tokens")),
    )
    _print_chunks(data, args.json)
    return 0


def _print_chunks(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(data)
        return
    for c in data["chunks"]:
        where = f"page {c['page']}  " if c["page"] else ""
        print(f"--- chunk {c['index']}  {c['tokens']} tokens  {where}{c['heading']}")
        print(c["text"])
    print(f"({data['total']} chunks)")


def cmd_cache_clear(args: Any) -> int:
    result = _m().docs_cache_clear(LocalContext(progress=False), id=args.name)
    print(json.dumps(result)) if args.json else print(
        f"Cleared {result['cleared']} cached search(es)."
    )
    return 0


def cmd_move(args: Any) -> int:
    ctx = LocalContext(progress=not args.json)
    started = _m().docs_move(ctx, id=args.name, to=args.to, api_key_env=args.api_key_env)
    job = ctx.run_job(started["job"])
    if job["state"] != "succeeded":
        raise UserError(job.get("error") or f"The move {job['state']}; resume it with `hearth-engine jobs resume {job['id']}` (the copy goes on where it stopped).")  # fmt: skip
    result = job["result"]
    if args.json:
        emit_json(result)
        return 0
    print(f"Moved {result['collection']} to {result['to']}: {result['chunks']:,} chunks in "
          f"{result['copy_seconds']} s ({result['chunks_per_s']} chunks/s), checked on "
          f"{result['verified']['searches']} searches; first search {result['first_search_ms']} ms.")  # fmt: skip
    return 0
