"""Capture, once: every prompt of a pair set through the model, every layer's components stored.

One pass runs the set's prompts through the model in batches (right-padded, so each prompt's
positions are exactly as it would run alone) with forward hooks on every block:

- ``input_norm``: the block's input norm (``input_layernorm`` / GPT-2's ``ln_1``);
- ``attention``: the attention module's output (before any post-norm and the residual add);
- ``mlp``: the MLP's output; ``gate`` / ``up``: the gate and up projections (pre-activation);
- ``down``: the down projection's *input*, act(gate) x up: what each MLP neuron sends;
- ``residual``: the block's output, the residual stream after the block.

For each pair it keeps, per component and layer, what every view needs, so that no view touches
the model again (``store.py`` writes them as ``.npz``, never pickle):

- ``mean``: mean |a - b| over the aligned rows and the component's width (the overview; for pairs
  of equal length this is optipfair's ``mean_difference`` of that layer and component);
- ``rows``: mean |a - b| per aligned row (the token x layer view);
- ``neuron``: |mean_t(a) - mean_t(b)| per neuron (token-pooled, so unequal lengths compare);
- ``pca`` for ``residual``, ``attention`` and ``mlp``: both prompts' token activations projected
  on the layer's first two principal components, with the explained variance (a leading BOS
  token, whose activations dwarf every word's, is left out and stored as NaN).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.bias.align import Alignment, align
from engine.bias.pairs import Pair
from engine.bias.tokens import PairTokens
from engine.core.errors import UserError

COMPONENTS = ("input_norm", "attention", "mlp", "gate", "up", "down", "residual")
PCA_COMPONENTS = ("residual", "attention", "mlp")
BATCH = 32


@dataclass
class Captured:
    components: list[str]
    layers: int
    alignments: list[Alignment]
    mean: dict[str, Any]  # component -> [P, L] float32
    rows: dict[str, list[Any]]  # component -> per pair [R, L] float32
    neuron: dict[str, Any]  # component -> [P, L, W] float16
    pca: dict[str, list[Any]]  # component -> per pair [Ta + Tb, L, 2]
    pca_var: dict[str, Any]  # component -> [P, L, 2]
    seconds: float = 0.0
    missing: dict[str, str] = field(default_factory=dict)  # component -> why it is not there

    def overall(self) -> tuple[float, float]:
        """The run metric -- mean |a - b| over layers and every component but the residual stream,
        whose scale (Gemma multiplies its embeddings by sqrt(hidden)) would drown the rest -- and
        the residual stream's own (NaN when it was not captured)."""
        import numpy as np

        counted = [c for c in self.components if c != "residual"]
        overall = float(np.mean([self.mean[c].mean() for c in counted]))
        residual = float(self.mean["residual"].mean()) if "residual" in self.mean else float("nan")
        return overall, residual


def hook_points(lay: Any) -> tuple[dict[str, list[tuple[Any, str]]], dict[str, str]]:
    """component -> per layer (module, what to take), and the components this model lacks."""
    from engine.pruning.arch import GLU

    points: dict[str, list[tuple[Any, str]]] = {c: [] for c in COMPONENTS}
    missing: dict[str, str] = {}
    for i, block in enumerate(lay.blocks):
        norm = getattr(block, "input_layernorm", None) or getattr(block, "ln_1", None)
        mlp_parts = lay.mlp(i)
        points["input_norm"].append((norm, "out"))
        points["attention"].append((lay.attention(i), "out0"))
        points["mlp"].append((block.mlp, "out"))
        points["residual"].append((block, "out0"))
        points["down"].append((mlp_parts[-1], "in0"))
        if lay.mlp_kind == GLU:
            points["gate"].append((mlp_parts[0], "out"))
            points["up"].append((mlp_parts[1], "out"))
        else:
            points["up"].append((mlp_parts[0], "out"))
    if lay.mlp_kind != GLU:
        missing["gate"] = "this model's MLP has no gate projection (GPT-2 style c_fc/c_proj)"
    if any(m is None for m, _ in points["input_norm"]):
        missing["input_norm"] = "no input norm was found in the blocks"
    for name in missing:
        points[name] = []
    return {k: v for k, v in points.items() if v}, missing


def capture(
    lm: Any,
    tok: Any,  # a transformers tokenizer or a ``PairTokens``
    pairs: list[Pair],
    *,
    progress: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Captured:
    import numpy as np
    import torch

    from engine.pruning.arch import layout

    if not pairs:
        raise UserError("The set has no pairs to capture.")
    started = time.perf_counter()
    lay = layout(lm)
    points, missing = hook_points(lay)
    n_layers = lay.n_layers
    prompts = [p.a for p in pairs] + [p.b for p in pairs]
    tokens = PairTokens.of(tok)
    encoded, pieces = zip(*(tokens.encode(text) for text in prompts), strict=True)
    acts: list[dict[str, list[Any]]] = [{} for _ in prompts]  # prompt -> comp -> per layer [T, W]

    store: dict[tuple[str, int], Any] = {}

    def hook_for(comp: str, layer: int, take: str) -> Any:
        def hook(_module: Any, inputs: Any, output: Any) -> None:
            value = inputs[0] if take == "in0" else output
            if take == "out0" and isinstance(value, tuple):
                value = value[0]
            store[(comp, layer)] = value.detach().float()

        return hook

    handles = [
        module.register_forward_hook(hook_for(comp, layer, take))
        for comp, per_layer in points.items()
        for layer, (module, take) in enumerate(per_layer)
    ]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    # the blocks without the vocabulary projection: its logits (Gemma's 262k-word head was half
    # the forward time) are never looked at
    body = getattr(lm, "base_model", None) or lm
    pad = tokens.pad_id if tokens.pad_id is not None else 0
    try:
        with torch.no_grad():
            for start in range(0, len(order), BATCH):
                if cancelled is not None and cancelled():
                    from engine.core.errors import Cancelled

                    raise Cancelled()
                batch = order[start : start + BATCH]
                width = max(len(encoded[i]) for i in batch)
                ids = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                    mask[row, : len(encoded[i])] = 1
                store.clear()
                body(input_ids=ids, attention_mask=mask, use_cache=False)
                for row, i in enumerate(batch):
                    n = len(encoded[i])
                    acts[i] = {c: [store[(c, layer)][row, :n] for layer in range(n_layers)]
                               for c in points}  # fmt: skip
                if progress is not None:
                    progress(0.8 * min(1.0, (start + len(batch)) / len(order)),
                             f"Forward passes: {min(start + len(batch), len(order))} of {len(order)} prompts")  # fmt: skip
    finally:
        for h in handles:
            h.remove()

    components = [c for c in COMPONENTS if c in points]
    n_pairs = len(pairs)
    mean = {c: np.zeros((n_pairs, n_layers), dtype=np.float32) for c in components}
    rows: dict[str, list[Any]] = {c: [] for c in components}
    neuron: dict[str, Any] = {}
    pca: dict[str, list[Any]] = {c: [] for c in PCA_COMPONENTS if c in components}
    pca_var = {c: np.zeros((n_pairs, n_layers, 2), dtype=np.float32) for c in pca}
    alignments = []
    bos = tokens.bos_id
    for p in range(n_pairs):
        ia, ib = p, p + n_pairs
        al = align(encoded[ia], encoded[ib], pieces[ia], pieces[ib])
        alignments.append(al)
        one_to_one = all(len(r_a) == 1 and len(r_b) == 1 for r_a, r_b, _d in al.rows)
        rows_a = [r_a[0] for r_a, _r_b, _d in al.rows] if one_to_one else []
        rows_b = [r_b[0] for _r_a, r_b, _d in al.rows] if one_to_one else []
        for c in components:
            a = torch.stack(acts[ia][c])  # [L, Ta, W]
            b = torch.stack(acts[ib][c])
            if one_to_one:  # every row is one token of each side: no span to average
                diff = (a[:, rows_a] - b[:, rows_b]).abs()  # [L, R, W]
            else:
                va = torch.stack([a[:, r_a].mean(1) for r_a, _r_b, _d in al.rows], 1)
                vb = torch.stack([b[:, r_b].mean(1) for _r_a, r_b, _d in al.rows], 1)
                diff = (va - vb).abs()
            rows[c].append(diff.mean(2).T.contiguous().numpy())  # [R, L]
            mean[c][p] = diff.mean((1, 2)).numpy()
            pooled = (a.mean(1) - b.mean(1)).abs()  # [L, W]
            if c not in neuron:
                neuron[c] = np.zeros((n_pairs, n_layers, pooled.shape[1]), dtype=np.float16)
            neuron[c][p] = pooled.numpy().astype(np.float16)
            if c in pca:
                # a leading BOS token is an attention sink whose activations dwarf the rest: it
                # is left out of the fit and not placed (NaN), so the words spread out
                skip = 1 if bos is not None and encoded[ia][:1] == [bos] == encoded[ib][:1] else 0
                coords, var = _pca(torch.cat([a[:, skip:], b[:, skip:]], 1))
                if skip:
                    nan = torch.full((n_layers, 1, 2), float("nan"))
                    ta = a.shape[1] - 1
                    coords = torch.cat([nan, coords[:, :ta], nan, coords[:, ta:]], 1)
                pca[c].append(coords.transpose(0, 1).contiguous().numpy())  # [Ta + Tb, L, 2]
                pca_var[c][p] = var.numpy()
        if progress is not None and p % 8 == 0:
            progress(0.8 + 0.2 * p / n_pairs, f"Differences: pair {p + 1} of {n_pairs}")
    return Captured(components, n_layers, alignments, mean, rows, neuron, pca, pca_var,
                    time.perf_counter() - started, missing)  # fmt: skip


def _pca(x: Any) -> tuple[Any, Any]:
    """Per layer: rows of ``x`` [L, T, D] on their first two principal axes, and the share of
    the variance each explains. With T tokens far fewer than D dimensions, the T x T Gram matrix's
    eigenvectors give the same coordinates as an SVD of the data (u * s), about 20x faster; each
    axis's sign is fixed so its largest coordinate is positive (an SVD's sign is arbitrary too)."""
    import torch

    centred = (x - x.mean(1, keepdim=True)).double()
    gram = centred @ centred.transpose(1, 2)  # [L, T, T]
    values, vectors = torch.linalg.eigh(gram)  # ascending
    values = values.clamp_min(0.0)
    k = min(2, x.shape[1])
    top = values[:, -k:].flip(1)  # [L, k] largest first
    axes = vectors[:, :, -k:].flip(2)  # [L, T, k]
    coords = torch.zeros(x.shape[0], x.shape[1], 2, dtype=torch.float64)
    coords[:, :, :k] = axes * top.sqrt()[:, None, :]
    peak = coords.abs().argmax(1, keepdim=True)  # [L, 1, 2]
    coords = coords * torch.gather(coords, 1, peak).sign().clamp_min(0.0).mul(2).sub(1)
    total = values.sum(1, keepdim=True).clamp_min(1e-12)
    var = torch.zeros(x.shape[0], 2, dtype=torch.float64)
    var[:, :k] = top / total
    return coords.float(), var.float()
