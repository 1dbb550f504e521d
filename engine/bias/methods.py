"""JSON-RPC methods ``bias.*`` (see docs/PROTOCOL.md): pair sets, capture runs and their arrays."""

from __future__ import annotations

from typing import Any

from engine.core.options import optional_int
from engine.rpc.registry import RequestContext, method


@method("bias.sets")
def sets(ctx: RequestContext) -> dict[str, Any]:
    from engine.bias.pairs import list_sets

    return {"sets": [s.summary() for s in list_sets(ctx.services)]}


@method("bias.set.show")
def set_show(ctx: RequestContext, name: str) -> dict[str, Any]:
    from dataclasses import asdict

    from engine.bias.pairs import get_set

    found = get_set(ctx.services, name)
    return {**found.summary(), "pairs_list": [asdict(p) for p in found.pairs]}


@method("bias.set.import")
def set_import(ctx: RequestContext, path: str, name: str | None = None) -> dict[str, Any]:
    from engine.bias.pairs import import_set

    made = import_set(ctx.services, path, name)
    ctx.notify("bias.changed", {})
    return made.summary()


@method("bias.set.delete")
def set_delete(ctx: RequestContext, name: str) -> dict[str, Any]:
    from engine.bias.pairs import delete_set

    delete_set(ctx.services, name)
    ctx.notify("bias.changed", {})
    return {"deleted": name}


@method("bias.run")
def start_run(
    ctx: RequestContext, model_id: str, set: str, pairs: int | None = None, recompute: bool = False
) -> dict[str, Any]:
    """Check the model and the set, then start a ``bias.capture`` job."""
    from engine.bias.run import check

    model, chosen = check(ctx.services, model_id, set, optional_int(pairs, "pairs"))
    params = {"model_id": model["id"], "model_name": model["name"], "set": set,
              "pairs": len(chosen), "recompute": bool(recompute)}  # fmt: skip
    return {"job": ctx.services.jobs.start("bias.capture", params)}


@method("bias.align")
def alignment(ctx: RequestContext, model_id: str, set: str, pairs: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Per pair, the model's tokens and the positions that differ (the tokenizer only, no model)."""
    from engine.bias.run import alignment as pair_alignment

    return pair_alignment(ctx.services, model_id, set, optional_int(pairs, "pairs"))


@method("bias.runs")
def runs(ctx: RequestContext) -> dict[str, Any]:
    from engine.bias.store import list_runs

    return {"runs": list_runs(ctx.services)}


@method("bias.get")
def get(ctx: RequestContext, run_id: str) -> dict[str, Any]:
    from engine.bias.store import load_meta

    return load_meta(ctx.services, run_id)


@method("bias.view")
def view(
    ctx: RequestContext,
    run_id: str,
    view: str,
    pair: int | None = None,
    category: str | None = None,
    part: str | None = None,
    component: str | None = None,
    layer: int | None = None,
    k: int = 20,
) -> dict[str, Any]:
    """The numbers of one view of a run, from its stored arrays."""
    from engine.bias import views
    from engine.core.errors import UserError

    if view == "overview":
        return views.overview(ctx.services, run_id, pair=pair, category=category, part=part)
    needs = {"pair": ("pair", "component"), "neurons": ("layer", "component"),
             "pca": ("pair", "layer")}  # fmt: skip
    if view not in needs:
        raise UserError("view must be overview, pair, neurons or pca.")
    given = {"pair": pair, "component": component, "layer": layer}
    lacking = [n for n in needs[view] if given[n] is None]
    if lacking:
        raise UserError(f"The {view} view needs {' and '.join(lacking)}.")
    if view == "pair":
        return views.pair_view(ctx.services, run_id, pair=pair, component=component)
    if view == "neurons":
        return views.neurons(ctx.services, run_id, layer=layer, component=component, k=k, part=part)
    return views.pca_view(ctx.services, run_id, pair=pair, layer=layer,
                          component=component or "residual")  # fmt: skip


@method("bias.compare")
def compare(ctx: RequestContext, run_a: str, run_b: str, part: str | None = None) -> dict[str, Any]:
    from engine.bias.views import compare as run_compare

    return run_compare(ctx.services, run_a, run_b, part=part)


@method("bias.prune")
def prune(
    ctx: RequestContext,
    model_id: str,
    set: str,
    neurons: int,
    weight: float = 0.5,
    pairs: int | None = None,
    seed: int = 0,
    name: str | None = None,
    file: str | None = None,
    dataset: str | None = None,
) -> dict[str, Any]:
    """Check the request, then start a ``bias.prune`` job (``file``/``dataset``: the text the
    perplexity is measured on; default Python's reference documentation)."""
    from engine.bias.pairs import get_set
    from engine.core.errors import UserError
    from engine.pruning.pipeline import check_model

    model = check_model(ctx.services, model_id, converted=False)
    found = get_set(ctx.services, set)
    if not found.heldout() or not found.selection():
        raise UserError(f"{set} needs both selection and held-out pairs to measure honestly.")
    if isinstance(neurons, bool) or not isinstance(neurons, int) or neurons < 1:
        raise UserError("neurons must be a whole number of neurons per block, at least 1.")
    if isinstance(weight, bool) or not 0 <= weight <= 1:
        raise UserError("weight must be from 0 to 1 (the share of the bias score in the mix).")
    params = {"model_id": model["id"], "model_name": model["name"], "set": set, "neurons": neurons,
              "weight": float(weight), "pairs": optional_int(pairs, "pairs"), "seed": seed,
              "name": name, "file": file, "dataset": dataset}  # fmt: skip
    return {"job": ctx.services.jobs.start("bias.prune", params)}


@method("bias.outputs")
def outputs(
    ctx: RequestContext,
    model_id: str,
    set: str,
    pairs: int | None = None,
    continuations: list | None = None,
    max_tokens: int = 16,
) -> dict[str, Any]:
    """Check, then start a ``bias.outputs`` job (the model writes; a few seconds a pair on CPU)."""
    from engine.bias.outputs import check_continuations
    from engine.bias.run import check
    from engine.core.errors import UserError

    model, chosen = check(ctx.services, model_id, set, optional_int(pairs, "pairs"))
    if (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 1 <= max_tokens <= 256
    ):
        raise UserError("max_tokens must be a whole number from 1 to 256.")
    params = {"model_id": model["id"], "model_name": model["name"], "set": set,
              "pairs": len(chosen), "continuations": check_continuations(continuations),
              "max_tokens": max_tokens}  # fmt: skip
    return {"job": ctx.services.jobs.start("bias.outputs", params)}


@method("bias.set.save")
def set_save(ctx: RequestContext, name: str, pairs: list, replace: bool = False) -> dict[str, Any]:
    """Create (or, with ``replace``, overwrite) a set from ``[{category, a, b, note?, heldout?}]``."""
    import json

    from engine.bias.pairs import parse_lines, save_set

    checked = parse_lines([json.dumps(p) for p in pairs], name)  # every row checked, like an import
    made = save_set(ctx.services, name, checked, replace=bool(replace))
    ctx.notify("bias.changed", {})
    return made.summary()
