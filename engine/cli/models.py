"""``hearth-engine models``: list, import, inspect, rename, remove, convert and quantize models.

A LoRA adapter GGUF is imported on top of the GGUF chat model it was trained on
(``models import adapter.gguf --base ID``) and then chatted with by its own id;
``models set-adapter ID --base ID --scale S`` relinks it or changes how strongly it applies.
``models relink ID PATH`` points a model whose file or folder moved at its new place.
``models add-remote URL [--model M]`` adds a model an OpenAI-compatible server serves (it then
chats like any other; text sent to it leaves the machine).
``models quantize ID --quant q4_k_m`` writes a smaller GGUF next to it (``--list``: the types
it can take, and why not the others).
"""

from __future__ import annotations

import sys
from typing import Any

from engine.cli.context import LocalContext
from engine.cli.output import emit_json, human_bytes, human_count, table
from engine.core.errors import UserError
from engine.models.adapters import kind_label


def add_parser(sub: Any) -> None:
    p = sub.add_parser("models", help="the model library")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    a = msub.add_parser("list", help="list models (registers the bundled ones on first use)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_list)

    a = msub.add_parser("import", help="import a GGUF file or a Hugging Face folder")
    a.add_argument("path")
    a.add_argument(
        "--reference",
        action="store_true",
        help="leave the files where they are instead of copying them",
    )
    a.add_argument("--name", help="display name (default: from the metadata)")
    a.add_argument(
        "--base", metavar="ID", help="LoRA adapter: the id of the GGUF model it was trained on"
    )
    a.add_argument(
        "--scale", type=float, help="LoRA adapter: how strongly it applies (default 1 = as trained)"
    )
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_import)

    a = msub.add_parser(
        "inspect", help="show a model's metadata (by id, or a path not yet imported)"
    )
    a.add_argument("target", help="model id or path")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_inspect)

    a = msub.add_parser("rename", help="rename a model")
    a.add_argument("id")
    a.add_argument("name")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_rename)

    a = msub.add_parser("remove", help="remove a model from the library")
    a.add_argument("id")
    a.add_argument(
        "--delete-files",
        action="store_true",
        help="also delete files Hearth copied into its data folder",
    )
    a.add_argument(
        "--with-adapters",
        action="store_true",
        help="a base model: remove the LoRA adapters that depend on it too",
    )
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_remove)

    a = msub.add_parser("relink", help="point a model whose file or folder moved at its new place")
    a.add_argument("id")
    a.add_argument("path", help="the moved GGUF file or Hugging Face folder")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_relink)

    a = msub.add_parser(
        "set-adapter", help="relink a LoRA adapter to another base model, or change its scale"
    )
    a.add_argument("id")
    a.add_argument("--base", metavar="ID", help="the GGUF model the adapter was trained on")
    a.add_argument("--scale", type=float, help="how strongly it applies (1 = as trained)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_set_adapter)

    a = msub.add_parser(
        "convert", help="convert a GGUF model to a cached torch (safetensors) folder"
    )
    a.add_argument("id")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_convert)

    a = msub.add_parser(
        "quantize", help="write a smaller GGUF of a model with llama.cpp's quantizer (k-quants)"
    )
    a.add_argument("id")
    a.add_argument("--quant", default="q4_k_m", type=str.lower,
                   help="f16, q8_0, q6_k, q5_k_m or q4_k_m [default: q4_k_m]")  # fmt: skip
    a.add_argument("--list", action="store_true", help="show the types this model can take")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_quantize)

    a = msub.add_parser(
        "add-remote",
        help="add a model served by an OpenAI-compatible server (vLLM, llama.cpp, Ollama, ...)",
        description="Adds one model of a server to the library and confirms the server: what "
        "you send that model leaves this machine for URL. The API key is kept in the system "
        "keyring (--api-key-stdin) or read from an environment variable (--api-key-env).",
    )
    a.add_argument("url", help="the server's address, e.g. http://gpu-box:8000 or .../v1")
    a.add_argument("--model", help="the server's model id (needed when it serves several)")
    a.add_argument("--name", help="display name (default: from the model id)")
    a.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the key")
    a.add_argument("--api-key-stdin", action="store_true",
                   help="read the key from standard input and keep it in the system keyring")  # fmt: skip
    a.add_argument("--list", action="store_true", help="only list the models the server offers")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_add_remote)


def _methods():
    from engine.models import methods

    return methods


def _print_model(m: dict[str, Any]) -> None:
    caps = ", ".join(k for k, v in (m.get("capabilities") or {}).items() if v) or "-"
    rows = [
        ("id", m.get("id") or "(not imported)"),
        ("name", m["name"]),
        ("format", m["format"]),
        ("role", m.get("role")),
        ("architecture", m.get("arch") or "-"),
        ("parameters", human_count(m.get("params"))),
        ("quantization", m.get("quant") or "-"),
        ("context length", m.get("context_length") or "-"),
        ("size", human_bytes(m.get("size_bytes"))),
        ("path", m["path"] + ("  (MISSING)" if m.get("missing") else "")),
        *_remote_rows(m),
        *_adapter_rows(m),
        ("torch cache", m.get("torch_path") or "-"),
        ("can", caps),
        ("chat template", "yes" if m.get("chat_template") else "none"),
    ]
    for key, value in rows:
        print(f"{key:15s} {value}")


def _remote_rows(m: dict[str, Any]) -> list[tuple[str, Any]]:
    remote = m.get("remote")
    if not remote:
        return []
    key = {"keyring": "in the system keyring", "environment": f"from ${remote.get('key_env')}"}
    return [
        ("server model", remote["model"]),
        ("sends text to", f"{remote['base']}  (off this machine"
                          f"{'' if remote['confirmed'] else '; not confirmed yet'})"),
        ("api key", key.get(remote.get("key") or "", "none")),
    ]  # fmt: skip


def cmd_add_remote(args: Any) -> int:
    ctx = LocalContext(progress=False)
    key = None
    if args.api_key_stdin:
        key = sys.stdin.readline().strip()
        if not key:
            raise UserError("--api-key-stdin read an empty line; pipe the key in, e.g. `pass show vllm | hearth-engine models add-remote URL --api-key-stdin`.")  # fmt: skip
    if args.list:
        offered = _methods().probe_remote(ctx, url=args.url, api_key=key, api_key_env=args.api_key_env)  # fmt: skip
        if args.json:
            emit_json(offered)
        else:
            print(f"{offered['base']} serves:")
            for m in offered["models"]:
                print(f"  {m['id']}" + (f"  (context {m['context_length']})" if m["context_length"] else ""))  # fmt: skip
        return 0
    model = _methods().add_remote(ctx, url=args.url, model=args.model, name=args.name, api_key=key,
                                  api_key_env=args.api_key_env, confirm=True)  # fmt: skip
    if args.json:
        emit_json(model)
        return 0
    print(f"Added {model['name']} ({model['id']}). What you send it goes to {model['path']}, off this machine.")  # fmt: skip
    _print_model(model)
    return 0


def _adapter_rows(m: dict[str, Any]) -> list[tuple[str, Any]]:
    if m.get("role") != "adapter":
        return []
    lora = m.get("lora") or {}
    rows = [
        ("base model", f"{m.get('base_name') or '-'} ({m.get('base_model_id') or 'none chosen'})"),
        ("lora", f"rank {lora.get('rank') or '?'}, alpha {lora.get('alpha') or '?'}, "
                 f"{lora.get('tensors') or '?'} weights"),
    ]  # fmt: skip
    if m.get("format") == "peft":
        rows[1] = ("prompt tuning", f"{m.get('virtual_tokens')} virtual tokens; runs in "
                   "transformers (llama.cpp cannot run it)")  # fmt: skip
    elif m.get("id"):
        rows.append(("scale", m.get("adapter_scale")))
    if m.get("missing_reason"):
        rows.append(("unusable", m["missing_reason"]))
    return rows


def _source(m: dict[str, Any]) -> str:
    if m.get("format") == "remote":
        return "server"
    if m.get("missing"):
        return "missing"
    if m.get("bundled"):
        return "bundled"
    return "copied" if m.get("managed") else "referenced"


def cmd_list(args: Any) -> int:
    ctx = LocalContext(progress=not args.json)
    ctx.services.library.ensure_bundled()
    models = _methods().list_models(ctx)["models"]
    if args.json:
        emit_json(models)
        return 0
    if not models:
        print("No models. Import one with `hearth-engine models import PATH`.")
        return 0
    table(
        [
            [
                m["id"],
                m["name"],
                m["format"],
                m.get("arch") or "-",
                human_count(m.get("params")),
                m.get("quant") or "-",
                str(m.get("context_length") or "-"),
                human_bytes(m.get("size_bytes")),
                _source(m),
                f"{kind_label(m)} on {m.get('base_model_id')}"
                if m.get("role") == "adapter"
                else m["role"],
            ]
            for m in models
        ],
        ["ID", "NAME", "FORMAT", "ARCH", "PARAMS", "QUANT", "CONTEXT", "SIZE", "SOURCE", "ROLE"],
    )
    return 0


def cmd_import(args: Any) -> int:
    ctx = LocalContext(progress=True)
    started = _methods().import_model(
        ctx, path=args.path, mode="reference" if args.reference else "copy", name=args.name,
        base_model_id=args.base, scale=args.scale,
    )  # fmt: skip
    job = ctx.run_job(started["job"])
    if job["state"] != "succeeded":
        raise UserError(job.get("error") or f"Import {job['state']}.")
    model = job["result"]
    if args.json:
        emit_json(model)
    elif model.get("role") == "adapter":
        kind = kind_label(model)
        print(f"Imported {model['name']} as {model['id']} ({kind} on {model['base_name']})")
    else:
        print(f"Imported {model['name']} as {model['id']}")
    return 0


def cmd_inspect(args: Any) -> int:
    ctx = LocalContext(progress=False)
    methods = _methods()
    try:
        model = methods.get_model(ctx, id=args.target)
    except UserError:
        model = methods.inspect_model(ctx, path=args.target)
    if args.json:
        emit_json(model)
    else:
        _print_model(model)
    return 0


def cmd_rename(args: Any) -> int:
    model = _methods().rename_model(LocalContext(progress=False), id=args.id, name=args.name)
    emit_json(model) if args.json else print(f"Renamed {model['id']} to {model['name']}")
    return 0


def cmd_remove(args: Any) -> int:
    result = _methods().remove_model(
        LocalContext(progress=False), id=args.id, delete_files=args.delete_files,
        with_adapters=args.with_adapters,
    )  # fmt: skip
    if args.json:
        emit_json(result)
        return 0
    also = f" and its adapters {', '.join(result['adapters'])}" if result.get("adapters") else ""
    print(f"Removed {result['removed']}{also}")
    return 0


def cmd_relink(args: Any) -> int:
    model = _methods().relink_model(LocalContext(progress=False), id=args.id, path=args.path)
    if args.json:
        emit_json(model)
    else:
        print(f"{model['id']}: {model['path']}")
    return 0


def cmd_set_adapter(args: Any) -> int:
    model = _methods().set_adapter(
        LocalContext(progress=False), id=args.id, base_model_id=args.base, scale=args.scale
    )
    if args.json:
        emit_json(model)
    else:
        print(f"{model['id']}: {kind_label(model)} on {model['base_name']} ({model['base_model_id']}), "
              f"scale {model['adapter_scale']:g}")  # fmt: skip
    return 0


def cmd_convert(args: Any) -> int:
    ctx = LocalContext(progress=True)
    started = _methods().convert_model(ctx, id=args.id)
    job = ctx.run_job(started["job"])
    if job["state"] != "succeeded":
        raise UserError(job.get("error") or f"Conversion {job['state']}.")
    result = job["result"]
    if args.json:
        emit_json(result)
    else:
        how = (
            "already cached"
            if result.get("cached")
            else f"converted in {result.get('seconds', 0):.1f} s"
        )
        print(f"{result['model_id']}: {how} -> {result['torch_path']}")
    return 0


def cmd_quantize(args: Any) -> int:
    ctx = LocalContext(progress=True)
    if args.list:
        options = _methods().quantize_options(ctx, id=args.id)
        if args.json:
            emit_json(options)
            return 0
        print(f"{options['name']} ({options['source_quant'] or 'not quantized'}):")
        for t in options["types"]:
            size = f"~{human_bytes(t['estimated_bytes'])}"
            print(
                f"  {t['quant']:7s} {size:>10s}  "
                + (t["help"] if t["allowed"] else f"no: {t['reason']}")
            )
        return 0
    job = ctx.run_job(_methods().quantize_model(ctx, id=args.id, quant=args.quant)["job"])
    if job["state"] != "succeeded":
        raise UserError(job.get("error") or f"Quantization {job['state']}.")
    result = job["result"]
    if result.get("note"):
        print(result["note"], file=sys.stderr)
    if args.json:
        emit_json({k: result[k] for k in ("model_id", "path", "size_bytes")})
    else:
        print(f"{result['path']} ({human_bytes(result['size_bytes'])})")
        print(f'chat with it: hearth-engine chat --model {result["model_id"]} "..."')
    return 0
