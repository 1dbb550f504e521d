"""Attention bypass: let chosen attention modules add nothing to the residual stream.

Score (He et al., "What Matters in Transformers", 2406.15786): ``1 - cos(x_t, x_t + a_t)`` per token,
where ``x`` is the residual stream entering the block and ``a`` what the attention adds to it
(Gemma's post-attention norm output; the attention output elsewhere), averaged over calibration
text. Low = the attention barely turns the stream, so it goes first. ``iterative`` re-scores after
each bypass (one pass per module removed; the paper finds it slightly better).

A bypassed module's output projection is set to zero, so it adds exactly zero in every consumer:
transformers without ``trust_remote_code``, and the GGUF export (llama.cpp cannot skip a layer, so
there it still computes the attention and then multiplies by zero: same answers, no speed-up).
The config records ``hearth_bypass_attention``; Hearth's transformers runtime reads it and skips
those modules' computation (``engine.pruning.bypass``). The first block and the first block of each
attention type are never bypassed: the KV cache measures the sequence length and the masks there.

**Adaptive** (course notebook 6_6b): every attention module is kept, but a per-prompt complexity
score chosen at prefill decides how many run, most important first (``hearth_adaptive_attention``
in the config; see ``engine.pruning.bypass``).
"""

from __future__ import annotations

from typing import Any

from engine.core.errors import UserError
from engine.pruning import arch

CONFIG_KEY = "hearth_bypass_attention"
ADAPTIVE_KEY = "hearth_adaptive_attention"


def anchors(lay: arch.Layout) -> set[int]:
    """Blocks whose attention must run (cache length and per-type masks are read there)."""
    out = {0}
    types = lay.layer_types()
    if types:
        for t in set(types):
            out.add(types.index(t))
    return out


def scores(model: Any, lay: arch.Layout, windows: Any, *, cancelled: Any = None,
           progress: Any = None) -> list[float]:  # fmt: skip
    """Per block: mean over tokens of 1 - cos(x, x + a), ``a`` what the attention adds."""
    from engine.pruning.measure import cosine_gaps

    outputs = []
    for i in range(lay.n_layers):
        module, _first = lay.attn_added(i)  # a tuple output's first item is what is added
        outputs.append((module, lambda x, added: x + added))
    return cosine_gaps(model, lay.blocks, windows, outputs=outputs, cancelled=cancelled, progress=progress)  # fmt: skip


def already(lay: arch.Layout) -> list[int]:
    return list(getattr(lay.config, CONFIG_KEY, None) or [])


def choose(lay: arch.Layout, values: list[float], n: int) -> list[int]:
    skip = anchors(lay) | set(already(lay))
    order = sorted((i for i in range(lay.n_layers) if i not in skip), key=lambda i: values[i])
    if n < 1:
        raise UserError("Give how many attention modules to bypass (at least 1).")
    if n > len(order):
        raise UserError(
            f"At most {len(order)} attention modules can be bypassed in this model (blocks "
            f"{sorted(anchors(lay))} keep theirs); choose fewer."
        )
    return sorted(order[:n])


def bypass(lay: arch.Layout, layers: list[int]) -> None:
    """Zero the output projection of each listed attention; record them in the config."""
    import torch

    with torch.no_grad():
        for i in layers:
            out = lay.attn_out(i)
            out.weight.zero_()
            if getattr(out, "bias", None) is not None:
                out.bias.zero_()
    done = sorted(set(already(lay)) | set(layers))
    setattr(lay.config, CONFIG_KEY, done)
    if lay.model.config is not lay.config:
        setattr(lay.model.config, CONFIG_KEY, done)


def iterative(model: Any, lay: arch.Layout, windows: Any, n: int, *, cancelled: Any = None,
              progress: Any = None) -> tuple[list[int], list[float]]:  # fmt: skip
    """Bypass one module at a time, re-scoring after each; (chosen, first scores)."""
    first: list[float] | None = None
    chosen: list[int] = []
    for step in range(n):
        values = scores(model, lay, windows, cancelled=cancelled)
        first = first or values
        pick = choose(lay, values, 1)
        bypass(lay, pick)
        chosen += pick
        if progress is not None:
            progress((step + 1) / n)
    return sorted(chosen), first or []


# -- adaptive ----------------------------------------------------------------------------------
# (min share of attention modules always on, share of the rest scaled by the complexity) for
# models under 2B parameters and 2-5B, per complexity level; from course notebook 6_6b
LEVELS = (0.2, 0.4, 0.6, 0.8, 1.01)
SMALL = ((0.85, 0.50), (0.90, 0.35), (0.93, 0.35), (0.97, 0.05), (1.0, 0.0))
MEDIUM = ((0.80, 0.55), (0.87, 0.55), (0.90, 0.30), (0.95, 0.10), (1.0, 0.0))


def adaptive_table(n_layers: int, params: int) -> list[list[float]]:
    """[[complexity upper bound, attention modules on]] for the runtime to look up."""
    table = SMALL if params < 2_000_000_000 else MEDIUM
    out = []
    for bound, (min_ratio, scaling), probe in zip(LEVELS, table, (0.1, 0.3, 0.5, 0.7, 0.9), strict=True):  # fmt: skip
        floor = int(n_layers * min_ratio)
        active = floor + int(probe * scaling * (n_layers - floor))
        out.append([bound, min(n_layers, active)])
    return out


def make_adaptive(lay: arch.Layout, values: list[float], params: int) -> dict[str, Any]:
    """The config entry of an adaptive model: attention modules by importance, and the table."""
    order = sorted(range(lay.n_layers), key=lambda i: -values[i])
    spec = {"order": order, "anchors": sorted(anchors(lay)), "params": int(params),
            "table": adaptive_table(lay.n_layers, params)}  # fmt: skip
    setattr(lay.config, ADAPTIVE_KEY, spec)
    if lay.model.config is not lay.config:
        setattr(lay.model.config, ADAPTIVE_KEY, spec)
    return spec
