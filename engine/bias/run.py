"""A bias run: pick the pairs, reuse a valid cached capture or capture now, save, summarise."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.bias import pairs as pair_sets
from engine.bias import store
from engine.bias.pairs import Pair
from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services


def choose(all_pairs: list[Pair], n: int | None) -> list[Pair]:
    """The first ``n`` pairs taken round-robin over the categories (every category represented),
    keeping the set's order within each; all of them when ``n`` is None."""
    if n is None or n >= len(all_pairs):
        return list(all_pairs)
    if n < 1:
        raise UserError("pairs must be at least 1.")
    by_cat: dict[str, list[Pair]] = {}
    for p in all_pairs:
        by_cat.setdefault(p.category, []).append(p)
    chosen: list[Pair] = []
    depth = 0
    while len(chosen) < n:
        for items in by_cat.values():
            if depth < len(items) and len(chosen) < n:
                chosen.append(items[depth])
        depth += 1
    return chosen


def check(services: Services, model_id: str, set_name: str, n_pairs: int | None) -> tuple[dict, list[Pair]]:  # fmt: skip
    """The model and the pairs of a run, or a ``UserError`` saying what is wrong (before a job)."""
    from engine.pruning.pipeline import check_model

    model = check_model(services, model_id, converted=False)
    chosen = choose(pair_sets.get_set(services, set_name).pairs, n_pairs)
    return model, chosen


def run(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    model, chosen = check(services, params["model_id"], params["set"], params.get("pairs"))
    path = store.runs_folder(services) / store.run_id(model["id"], params["set"], len(chosen))
    cached = store.find_fresh(services, model, params["set"], chosen)
    if cached is not None and not params.get("recompute"):
        ctx.progress(1.0, "Reused the stored capture (same model file and pairs)")
        return {**store.summary(cached, path), "cached": True}
    from engine.bias.capture import capture
    from engine.bias.tokens import for_model
    from engine.pruning.pipeline import load

    ctx.progress(0.02, f"Loading {model['name']}")
    lm, _ = load(services, model, ctx, tokenizer=False)  # the model's folder exists from here on
    tokens = for_model(services, model)
    cap = capture(lm, tokens, chosen, progress=lambda f, m: ctx.progress(0.1 + 0.85 * f, m),
                  cancelled=ctx.cancelled)  # fmt: skip
    meta = store.save(services, model, params["set"], chosen, cap)
    return {**store.summary(meta, path), "cached": False}


def alignment(services: Services, model_id: str, set_name: str, n_pairs: int | None) -> dict[str, Any]:  # fmt: skip
    """Per pair, the model's tokens of both prompts and the positions that differ, before any
    capture (the tokenizer only). Pairs of unequal token counts are marked ``joined``: their
    differing spans become one averaged row."""
    from engine.bias.align import align
    from engine.bias.tokens import for_model

    model, chosen = check(services, model_id, set_name, n_pairs)
    tokens = for_model(services, model)
    rows = []
    for i, pair in enumerate(chosen):
        ids_a, pieces_a = tokens.encode(pair.a)
        ids_b, pieces_b = tokens.encode(pair.b)
        al = align(ids_a, ids_b, pieces_a, pieces_b)
        differ = [(a, b) for a, b, d in al.rows if d]
        rows.append({"index": i, "category": pair.category, "heldout": pair.heldout,
                     "a": pair.a, "b": pair.b, "tokens_a": pieces_a, "tokens_b": pieces_b,
                     "differ_a": sorted({x for a, _b in differ for x in a}),
                     "differ_b": sorted({x for _a, b in differ for x in b}),
                     "equal_length": al.equal_length,
                     "joined": any(len(a) != 1 or len(b) != 1 for a, b in differ)})  # fmt: skip
    return {"model_id": model["id"], "set": set_name, "tokenizer": tokens.source,
            "pairs": rows, "joined": sum(r["joined"] for r in rows)}  # fmt: skip
