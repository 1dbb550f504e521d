"""Width pruning: remove MLP neurons, the same number from every block.

Selectors (higher score = keep):

- ``activation`` (default): the expected squared contribution of neuron *i* to the block's output
  on calibration text, ``E[x_i^2] * ||d_i||^2``, where ``x_i`` is the neuron's activation (the input
  of the down projection) and ``d_i`` its column of the down projection. A neuron with big weights
  that rarely fires costs little to remove; static weight statistics cannot see that.
- Static weight statistics (no calibration needed), as taught in the course and in optipfair:
  ``maw`` (peak-to-peak magnitude of the gate and up rows), ``vow`` (their variance), ``pon``
  (product of their L1 norms), ``l2`` (sum of their L2 norms) and ``l1`` (sum of their L1 norms; the
  course's example of what breaks a GLU model).

After choosing, the kept part of the down projection is **refit** by least squares so the pruned
MLP reproduces the full MLP's output on the calibration activations:
``W' = D G[:, K] (G[K, K] + lambda I)^-1``, with ``G = sum x x^T`` the activations' Gram matrix,
accumulated in the same calibration pass (a ridge ``lambda`` of 1e-3 of the mean diagonal keeps
it well posed). The removed neurons' average effect is folded into the ones that stay. On the
bundled Gemma 3 270M at 20% of neurons, calibrated on the Python tutorial and measured on the
Python HOWTOs (8,192 held-out tokens, benchmarks/bench_prune.py), perplexity is 12.04 unpruned,
17.92 with ``activation`` alone, 16.30 with ``activation`` + refit, and 337.0 with optipfair's
``maw`` (at 40%: 25.0, 20.7 and 10,197). The Gram matrix is I x I per block, so it is kept only while I <= 8,192 (0.25 GB per block in float32); wider
MLPs fall back to the selector alone.

Widths stay uniform across blocks, so the model saves with ``save_pretrained``, reloads with
``from_pretrained`` and exports to GGUF; transformers' configs for these architectures hold one
``intermediate_size``, so per-block widths would not reload in transformers, where every pruned
model lives first (llama.cpp could read a per-layer width, but only after that); they are not
offered. ``divisor`` rounds the kept width *down* to a multiple (32/64/128/256) for faster kernels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.core.errors import UserError
from engine.pruning import arch

SELECTORS = ("activation", "maw", "vow", "pon", "l2", "l1")
STATIC = ("maw", "vow", "pon", "l2", "l1")
DIVISORS = (1, 32, 64, 128, 256)
GRAM_LIMIT = 8192
RIDGE = 1e-3


def kept_width(width: int, hidden: int, *, percent: float | None = None,
               ratio: float | None = None, divisor: int = 1) -> int:  # fmt: skip
    """How many neurons a block keeps for a percentage removed or an expansion ratio."""
    if (percent is None) == (ratio is None):
        raise UserError("Give the amount to prune as a percentage of neurons or as an expansion ratio, one of them.")  # fmt: skip
    if divisor not in DIVISORS:
        raise UserError(f"divisor must be one of {', '.join(map(str, DIVISORS))}.")
    if percent is not None:
        if not 0 < float(percent) < 100:
            raise UserError("The percentage of neurons to remove must be above 0 and below 100; 100 would remove every neuron.")  # fmt: skip
        keep = width - int(width * float(percent) / 100)
    else:
        keep = int(float(ratio) * hidden)  # type: ignore[arg-type]
        if keep >= width:
            raise UserError(f"An expansion ratio of {ratio} keeps {keep} neurons, but blocks have only {width} (ratio {width / hidden:.2f}); choose a smaller ratio.")  # fmt: skip
        if keep < 1:
            raise UserError("That expansion ratio keeps no neurons at all; choose a larger one.")
    if divisor > 1:
        keep = (keep // divisor) * divisor
        if keep < divisor:
            raise UserError(f"Rounding down to a multiple of {divisor} would leave no neurons; choose a smaller divisor or prune less.")  # fmt: skip
    keep = max(1, min(keep, width - 1))
    return keep


@dataclass
class Stats:
    """Per block: sum of squared activations per neuron, and (when kept) the Gram matrix."""

    sq: list[Any]
    gram: list[Any] | None
    tokens: int


def collect(model: Any, lay: arch.Layout, windows: Any, *, gram: bool, cancelled: Any = None,
            progress: Any = None) -> Stats:  # fmt: skip
    """One calibration pass with a hook on every block's down projection."""
    import torch

    from engine.pruning.measure import calibration_pass

    width = lay.intermediate_size
    gram = gram and width <= GRAM_LIMIT
    sq = [torch.zeros(width, dtype=torch.float64) for _ in range(lay.n_layers)]
    grams = [torch.zeros(width, width, dtype=torch.float32) for _ in range(lay.n_layers)] if gram else None  # fmt: skip
    seen = [0]

    def hook(i: int) -> Any:
        def pre(_module: Any, args: tuple) -> None:
            x = args[0].detach().reshape(-1, args[0].shape[-1]).float().cpu()
            sq[i] += (x * x).sum(0).double()
            if grams is not None:
                grams[i].addmm_(x.T, x)
            if i == 0:
                seen[0] += x.shape[0]

        return pre

    handles = [lay.down(i).register_forward_pre_hook(hook(i)) for i in range(lay.n_layers)]
    try:
        calibration_pass(model, windows, cancelled=cancelled, progress=progress)
    finally:
        for h in handles:
            h.remove()
    return Stats(sq, grams, seen[0])


def _ppm(w: Any, dim: int) -> Any:
    return w.amax(dim) + w.amin(dim).abs()


def static_scores(lay: arch.Layout, i: int, selector: str) -> Any:
    """Score of each neuron of block ``i`` from its weights alone (float32)."""
    if lay.mlp_kind == arch.GLU:
        gate, up, _ = lay.mlp(i)
        rows = [gate.weight.detach().float(), up.weight.detach().float()]  # [I, H] each
    else:
        rows = [lay.mlp(i)[0].weight.detach().float().T]  # c_fc is [H, I]
    if selector == "maw":
        return sum(_ppm(w, 1) for w in rows)
    if selector == "vow":
        return sum(w.var(1) for w in rows)
    if selector == "pon":
        out = rows[0].abs().sum(1)
        for w in rows[1:]:
            out = out * w.abs().sum(1)
        return out
    if selector == "l2":
        return sum(w.norm(dim=1) for w in rows)
    if selector == "l1":
        return sum(w.abs().sum(1) for w in rows)
    raise UserError(f"Unknown neuron selector {selector!r}; choose one of {', '.join(SELECTORS)}.")


def down_matrix(lay: arch.Layout, i: int) -> Any:
    """The down projection as ``[H, I]`` float32 (GPT-2's Conv1D stores it transposed)."""
    down = lay.down(i)
    w = down.weight.detach().float()
    return w if lay.mlp_kind == arch.GLU else w.T


def scores(lay: arch.Layout, i: int, selector: str, stats: Stats | None) -> Any:
    if selector == "activation":
        if stats is None:
            raise UserError("The activation selector needs calibration text.")
        col = down_matrix(lay, i).pow(2).sum(0).double()
        return (stats.sq[i] / max(1, stats.tokens)) * col
    return static_scores(lay, i, selector)


def choose(score: Any, keep: int) -> Any:
    import torch

    idx = torch.topk(score.double(), keep).indices
    return torch.sort(idx).values


def refit_down(lay: arch.Layout, i: int, idx: Any, gram: Any) -> Any:
    """Least-squares down projection ``[H, k]`` for the kept neurons ``idx``."""
    import torch

    d = down_matrix(lay, i).double()  # [H, I]
    g = gram.double()
    g_kk = g[idx][:, idx]
    lam = RIDGE * float(torch.diagonal(g).mean()) + 1e-12
    g_kk = g_kk + lam * torch.eye(len(idx), dtype=g.dtype)
    rhs = g[idx] @ d.T  # [k, H]
    z = torch.linalg.solve(g_kk, rhs)  # [k, H]
    return z.T.float()


def plan(lay: arch.Layout, keep: int, selector: str, stats: Stats | None) -> list[dict[str, Any]]:
    """Per block: the kept indices and the share of score removed (for the preview)."""
    out = []
    for i in range(lay.n_layers):
        s = scores(lay, i, selector, stats)
        idx = choose(s, keep)
        total = float(s.sum()) or 1.0
        kept = float(s[idx].sum())
        out.append({"index": i, "keep": idx, "removed": lay.width_of(i) - keep,
                    "score": round(1.0 - kept / total, 6)})  # fmt: skip
    return out


def apply(lay: arch.Layout, layers: list[dict[str, Any]], stats: Stats | None, *, refit: bool) -> bool:  # fmt: skip
    """Cut every block to its kept neurons; returns whether the down projections were refit."""
    did_refit = bool(refit and stats is not None and stats.gram is not None)
    for entry in layers:
        i = entry["index"]
        new_down = refit_down(lay, i, entry["keep"], stats.gram[i]) if did_refit else None  # type: ignore[union-attr]
        arch.keep_neurons(lay, i, entry["keep"], new_down)
    arch.set_width(lay, len(layers[0]["keep"]))
    return did_refit
