"""JSON-RPC methods ``models.*`` (see docs/PROTOCOL.md): list, inspect, import, rename, remove,
convert, quantize (with quantize_options, the types a model can take), and set_adapter (relink a
LoRA adapter to its base, or change its scale).

Quick operations answer directly with Model objects. Import, convert and quantize are jobs: the
method checks the request first -- a path that does not exist, a file that is not a model, a model that cannot be
converted -- and answers with a ``UserError`` at once, so the user never waits for a job that was
bound to fail; only then does it start the job and return ``{"job": Job}``.
"""

from __future__ import annotations

from typing import Any

from engine.core.errors import UserError
from engine.rpc.registry import RequestContext, method


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise UserError(f"{what} must be a non-empty string.")
    return value


@method("models.list")
def list_models(ctx: RequestContext) -> dict[str, Any]:
    return {"models": ctx.services.library.list()}


@method("models.get")
def get_model(ctx: RequestContext, id: str) -> dict[str, Any]:
    return ctx.services.library.get(_text(id, "id"))


@method("models.inspect")
def inspect_model(ctx: RequestContext, path: str) -> dict[str, Any]:
    return ctx.services.library.inspect(_text(path, "path"))


@method("models.import")
def import_model(
    ctx: RequestContext,
    path: str,
    mode: str = "copy",
    name: str | None = None,
    base_model_id: str | None = None,
    scale: float | None = None,
) -> dict[str, Any]:
    source, meta, _name = ctx.services.library.validate_import(
        _text(path, "path"), mode=mode, name=name, base_model_id=base_model_id, scale=scale
    )
    params: dict[str, Any] = {"path": str(source), "mode": mode, "name": name}
    if meta["role"] == "adapter":
        params.update(base_model_id=base_model_id, scale=meta["adapter_scale"])
    job = ctx.services.jobs.start("models.import", params)
    return {"job": job}


@method("models.rename")
def rename_model(ctx: RequestContext, id: str, name: str) -> dict[str, Any]:
    return ctx.services.library.rename(_text(id, "id"), name)


@method("models.remove")
def remove_model(
    ctx: RequestContext, id: str, delete_files: bool = False, with_adapters: bool = False
) -> dict[str, Any]:
    if not isinstance(delete_files, bool):
        raise UserError("delete_files must be true or false.")
    if not isinstance(with_adapters, bool):
        raise UserError("with_adapters must be true or false.")
    return ctx.services.library.remove(
        _text(id, "id"), delete_files=delete_files, with_adapters=with_adapters
    )


@method("models.relink")
def relink_model(ctx: RequestContext, id: str, path: str) -> dict[str, Any]:
    return ctx.services.library.relink(_text(id, "id"), _text(path, "path"))


@method("models.set_adapter")
def set_adapter(
    ctx: RequestContext, id: str, base_model_id: str | None = None, scale: float | None = None
) -> dict[str, Any]:
    if base_model_id is None and scale is None:
        raise UserError("Give base_model_id (relink the adapter) and/or scale.")
    return ctx.services.library.set_adapter(
        _text(id, "id"), base_model_id=base_model_id, scale=scale
    )


@method("models.convert")
def convert_model(ctx: RequestContext, id: str) -> dict[str, Any]:
    from engine.models.gguf_to_torch import check_convertible

    model = ctx.services.library.get(_text(id, "id"))
    check_convertible(model)
    job = ctx.services.jobs.start("models.convert", {"id": model["id"], "name": model["name"]})
    return {"job": job}


@method("models.quantize_options")
def quantize_options(ctx: RequestContext, id: str) -> dict[str, Any]:
    """The quantization types for a model, each allowed or not with the reason, and its
    estimated size (the Quantize dialog's choices)."""
    from engine.models import quantize

    return quantize.options(ctx.services, _text(id, "id"))


@method("models.quantize")
def quantize_model(ctx: RequestContext, id: str, quant: str = "q4_k_m") -> dict[str, Any]:
    """Start writing a quantized GGUF of a library model with llama.cpp's quantizer: {job}."""
    from engine.models import quantize

    model, target = quantize.check(ctx.services, _text(id, "id"), quant)
    params = {"model_id": model["id"], "quant": target.name, "name": model["name"]}
    return {"job": ctx.services.jobs.start("models.quantize", params)}


@method("models.quantized")
def quantized_family(ctx: RequestContext, id: str) -> dict[str, Any]:
    """A model with the quantizations made from it (or its original): {root_id, base_id, rows:
    [{model_id, name, quant, size_bytes, perplexity, change}], run_id, text} (rows empty when
    there are none)."""
    from engine.models import quantize

    return quantize.family(ctx.services, _text(id, "id"))


@method("models.probe_remote")
def probe_remote(
    ctx: RequestContext, url: str, api_key: str | None = None, api_key_env: str | None = None
) -> dict[str, Any]:
    """The models an OpenAI-compatible server lists; nothing is added or sent but the request
    for its list."""
    from engine.models import remote

    return remote.probe(ctx.services, url, api_key_value=api_key, api_key_env=api_key_env)


@method("models.add_remote")
def add_remote(
    ctx: RequestContext,
    url: str,
    model: str | None = None,
    name: str | None = None,
    api_key: str | None = None,
    api_key_env: str | None = None,
    confirm: bool = False,
) -> dict[str, Any]:
    from engine.models import remote

    return remote.add(ctx.services, url, model=model, name=name, api_key_value=api_key,
                      api_key_env=api_key_env, confirm=bool(confirm))  # fmt: skip


@method("models.confirm_remote")
def confirm_remote(ctx: RequestContext, base: str) -> dict[str, Any]:
    from engine.models import remote

    return remote.confirm(ctx.services, base)


@method("models.set_remote_key")
def set_remote_key(
    ctx: RequestContext, base: str, api_key: str | None = None, api_key_env: str | None = None
) -> dict[str, Any]:
    from engine.models import remote

    return remote.set_key(ctx.services, base, api_key_value=api_key, api_key_env=api_key_env)
