"""Bias-targeted pruning with a control, measured where the neurons were not chosen.

1. Capture the set's *selection* pairs; a neuron's bias score is its token-pooled |a - b| on the
   gate and up projections, averaged over those pairs and the two projections.
2. Its importance is the peak-to-peak magnitude of its gate and up weight rows (the course's PPM).
3. Prunability = w * minmax(bias) + (1 - w) * (1 - minmax(importance)) per block (w = 0.5 by
   default, the course's mix); the ``neurons`` most prunable of every block go (the same number in
   every block, so the model saves and reloads like any width-pruned one).
4. The control removes the same number of *random* neurons from a copy of the model.
5. On the *held-out* pairs (never used to choose): the bias metric before, after, and after the
   control; perplexity on held-out text before and after. The in-sample figure (the selection
   pairs) is reported beside them, so the reader sees how much of a drop is selection effect.

The bias metric is the run metric (mean |a - b| over layers and every component but the residual
stream). ``residual_*`` gives the residual stream's as well: removing neurons cannot shrink that
width, so a fall there is not a by-product of deleting the measured units.
The pruned model is saved and registered like any pruned model (lineage, export, chat).
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

from engine.bias import pairs as pair_sets
from engine.bias.capture import capture
from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services


def neuron_scores(cap: Any, lay: Any, weight: float) -> list[Any]:
    """Per block, the prunability of every neuron (high = remove first)."""
    import torch

    from engine.pruning.width import static_scores

    bias_parts = [cap.neuron[c] for c in ("gate", "up") if c in cap.neuron]
    if not bias_parts:
        raise UserError("Bias-targeted pruning needs the MLP's gate or up projection, which this "
                        "model's capture lacks.")  # fmt: skip
    bias = torch.tensor(sum(p.astype("float32") for p in bias_parts) / len(bias_parts)).mean(0)
    out = []
    for i in range(lay.n_layers):
        b = _minmax(bias[i])
        importance = _minmax(static_scores(lay, i, "maw").float())
        out.append(weight * b + (1 - weight) * (1 - importance))
    return out


def _minmax(x: Any) -> Any:
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else x * 0


def remove(lay: Any, per_block: list[Any]) -> None:
    """Remove the given neuron indexes of every block (the same count in each)."""
    import torch

    from engine.pruning import arch

    width = lay.width_of(0)
    for i, drop in enumerate(per_block):
        keep = torch.tensor(sorted(set(range(width)) - {int(j) for j in drop}), dtype=torch.long)
        arch.keep_neurons(lay, i, keep)
    arch.set_width(lay, width - len(per_block[0]))


def run(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    import torch

    from engine.bias.run import choose
    from engine.pruning import arch, measure
    from engine.pruning.pipeline import _install_runtime, check_model, load, load_text, save
    from engine.pruning.request import Request
    from engine.training.merge import register

    started = time.perf_counter()
    model = check_model(services, params["model_id"], converted=False)
    found = pair_sets.get_set(services, params["set"])
    selection, heldout = found.selection(), found.heldout()
    if params.get("pairs"):
        selection = choose(selection, int(params["pairs"]))
    if not selection or not heldout:
        raise UserError(f"{found.name} needs both selection and held-out pairs (it has "
                        f"{len(selection)} and {len(heldout)}).")  # fmt: skip
    weight = float(params.get("weight", 0.5))
    if not 0.0 <= weight <= 1.0:
        raise UserError("weight must be from 0 to 1 (the share of the bias score in the mix).")
    n = int(params["neurons"])
    ctx.progress(0.02, f"Loading {model['name']}")
    lm, tok = load(services, model, ctx)
    lay = arch.layout(lm)
    width = lay.width_of(0)
    if not 1 <= n < width:
        raise UserError(f"neurons must be from 1 to {width - 1}: each block of {model['name']} "
                        f"has {width} MLP neurons.")  # fmt: skip

    def stage(lo: float, hi: float, label: str) -> Any:
        return lambda f, m: ctx.progress(lo + (hi - lo) * f, f"{label}: {m}")

    chosen_cap = capture(lm, tok, selection, progress=stage(0.05, 0.25, "Selection pairs"),
                         cancelled=ctx.cancelled)  # fmt: skip
    held_before = capture(lm, tok, heldout, progress=stage(0.25, 0.35, "Held-out pairs"),
                          cancelled=ctx.cancelled)  # fmt: skip
    text_req = {"model_id": model["id"], "method": "width", "percent": 10,
                **{k: params[k] for k in ("file", "dataset") if params.get(k)}}  # fmt: skip
    text = load_text(services, tok, Request.from_dict(text_req))
    ppl_before, eval_tokens = measure.perplexity(lm, text.held_out, cancelled=ctx.cancelled)
    scores = neuron_scores(chosen_cap, lay, weight)
    targeted = [s.argsort(descending=True)[:n] for s in scores]
    gen = torch.Generator().manual_seed(int(params.get("seed", 0)))
    randomly = [torch.randperm(width, generator=gen)[:n] for _ in range(lay.n_layers)]

    ctx.progress(0.45, "Control: the same number of random neurons")
    control = copy.deepcopy(lm)
    remove(arch.layout(control), randomly)
    held_control = capture(control, tok, heldout, progress=stage(0.45, 0.55, "Control"),
                           cancelled=ctx.cancelled)  # fmt: skip
    ppl_control, _ = measure.perplexity(control, text.held_out, cancelled=ctx.cancelled)
    del control

    ctx.progress(0.6, "Removing the most prunable neurons")
    remove(lay, targeted)
    held_after = capture(lm, tok, heldout, progress=stage(0.6, 0.7, "Held-out pairs after"),
                         cancelled=ctx.cancelled)  # fmt: skip
    in_after = capture(lm, tok, selection, progress=stage(0.7, 0.8, "Selection pairs after"),
                       cancelled=ctx.cancelled)  # fmt: skip
    ppl_after, _ = measure.perplexity(lm, text.held_out, cancelled=ctx.cancelled)

    before, res_before = held_before.overall()
    after, res_after = held_after.overall()
    ctrl, res_ctrl = held_control.overall()
    in_before, _ = chosen_cap.overall()
    in_after_v, _ = in_after.overall()

    ctx.progress(0.85, "Saving the pruned model")
    _install_runtime(lm)
    from engine.bias.store import runs_folder
    from engine.core.names import slugify

    folder = (
        runs_folder(services).parent
        / "pruned"
        / f"{slugify(model['id'], limit=40)}-{int(time.time())}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    amount = f"bias −{n}/block ({found.name}, w={weight:g})"
    lineage = {"parent_id": model["id"], "parent_name": model["name"], "method": "bias",
               "selector": "bias+ppm", "amount": amount, "set": found.name, "neurons": n,
               "weight": weight}  # fmt: skip
    final = save(lm, tok, folder, lineage, ctx)
    model_id = register(services, final, params.get("name") or f"{model['name']} − {amount}",
                        template=None)  # fmt: skip
    ctx.progress(1.0, f"Held-out bias {before:.5f} -> {after:.5f} (control {ctrl:.5f})")
    return {
        "model_id": model_id, "parent_id": model["id"], "set": found.name, "neurons": n,
        "weight": weight, "width_before": width, "width_after": width - n,
        "selection_pairs": len(selection), "heldout_pairs": len(heldout),
        "heldout_bias_before": round(before, 6), "heldout_bias_after": round(after, 6),
        "control_bias_after": round(ctrl, 6),
        "heldout_residual_before": round(res_before, 6), "heldout_residual_after": round(res_after, 6),
        "control_residual_after": round(res_ctrl, 6),
        "insample_bias_before": round(in_before, 6), "insample_bias_after": round(in_after_v, 6),
        "ppl_before": ppl_before, "ppl_after": ppl_after, "ppl_control": ppl_control,
        "eval_tokens": eval_tokens, "seconds": round(time.perf_counter() - started, 2),
    }  # fmt: skip
