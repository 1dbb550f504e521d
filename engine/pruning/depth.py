"""Depth pruning: remove whole decoder blocks.

Selectors (a lower score means the block matters less and goes first):

- ``influence`` (default; ShortGPT's Block Influence): ``1 - cos(x_t, y_t)`` between a block's
  input and output hidden state, per token, averaged over the calibration text. One pass.
- ``perplexity`` (Shortened LLaMA's criterion): the loss of the model with that block alone
  skipped, on a few calibration windows. One pass per block; the head runs on the last 64
  positions of each window only.
- ``last`` / ``first``: by position, as optipfair and the course do; ``layers``: a list given.

The first and the last block are never chosen by a score (both carry far more than their
similarity suggests), except that the last may go where llama.cpp's pattern requires it. For Gemma 3 the choice can also be held to llama.cpp's fixed layer pattern
(every sixth layer global): a dynamic programme picks the lowest-scoring set whose survivors have
the types llama.cpp will assume, so the GGUF export runs exactly what torch runs.
"""

from __future__ import annotations

from typing import Any

from engine.core.errors import UserError
from engine.pruning import arch

SELECTORS = ("influence", "perplexity", "last", "first", "layers")
PPL_WINDOWS = 8
PPL_TAIL = 64


def influence(model: Any, lay: arch.Layout, windows: Any, *, cancelled: Any = None,
              progress: Any = None) -> list[float]:  # fmt: skip
    """Block influence of every block (mean over tokens of 1 - cos(input, output))."""
    from engine.pruning.measure import cosine_gaps

    outputs = [(block, lambda _x, out: out) for block in lay.blocks]
    return cosine_gaps(model, lay.blocks, windows, outputs=outputs, cancelled=cancelled, progress=progress)  # fmt: skip


def skipped(block: Any) -> Any:
    """A context in which ``block`` returns its input unchanged (computes nothing)."""
    import contextlib

    @contextlib.contextmanager
    def ctx() -> Any:
        original = block.forward

        def identity(*args: Any, **kwargs: Any) -> Any:
            return args[0] if args else kwargs["hidden_states"]

        block.forward = identity
        try:
            yield
        finally:
            block.forward = original

    return ctx()


def perplexity_scores(model: Any, lay: arch.Layout, windows: Any, *, cancelled: Any = None,
                      progress: Any = None) -> list[float]:  # fmt: skip
    """Per block: the mean token loss with only that block skipped (lower = safer to remove)."""
    from engine.pruning.measure import nll

    sample = windows[:PPL_WINDOWS]
    out = []
    for i, block in enumerate(lay.blocks):
        with skipped(block):
            loss, n = nll(model, sample, tail=PPL_TAIL, cancelled=cancelled)
        out.append(loss / max(1, n))
        if progress is not None:
            progress((i + 1) / lay.n_layers)
    return out


def choose(scores: list[float], n: int, *, protect: tuple[int, ...] = (), pattern: Any = None,
           types: list[str] | None = None) -> list[int]:  # fmt: skip
    """The ``n`` blocks with the lowest scores, never one in ``protect``; with ``pattern`` (the
    layer types the survivors must have, in order) the cheapest set that leaves exactly it."""
    total = len(scores)
    if pattern is None or types is None:
        order = sorted((i for i in range(total) if i not in protect), key=lambda i: scores[i])
        if len(order) < n:
            raise UserError(f"Only {len(order)} blocks may be removed here; choose fewer.")
        return sorted(order[:n])
    keep_n = total - n
    inf = float("inf")
    # best[i][j]: least removed score over blocks < i having kept j of them
    best = [[inf] * (keep_n + 1) for _ in range(total + 1)]
    back: list[list[Any]] = [[None] * (keep_n + 1) for _ in range(total + 1)]
    best[0][0] = 0.0
    for i in range(total):
        for j in range(keep_n + 1):
            if best[i][j] == inf:
                continue
            if i not in protect and best[i][j] + scores[i] < best[i + 1][j]:  # remove i
                best[i + 1][j] = best[i][j] + scores[i]
                back[i + 1][j] = (j, False)
            if j < keep_n and types[i] == pattern[j] and best[i][j] < best[i + 1][j + 1]:  # keep i
                best[i + 1][j + 1] = best[i][j]
                back[i + 1][j + 1] = (j, True)
    if best[total][keep_n] == inf:
        raise UserError(
            f"No choice of {n} blocks leaves the layer pattern llama.cpp assumes for this model "
            "(every sixth layer global); choose another number, or turn the GGUF pattern off "
            "(the result then runs in transformers only)."
        )
    removed, j = [], keep_n
    for i in range(total, 0, -1):
        j_prev, kept = back[i][j]
        if not kept:
            removed.append(i - 1)
        j = j_prev
    return sorted(removed)


def select(lay: arch.Layout, scores: list[float] | None, *, n: int | None, selector: str,
           layers: list[int] | None = None, keep_gguf_pattern: bool = True) -> list[int]:  # fmt: skip
    total = lay.n_layers
    if selector == "layers":
        if not layers:
            raise UserError("List the blocks to remove (e.g. --layers-list 10,12).")
        bad = [i for i in layers if not isinstance(i, int) or not 0 <= i < total]
        if bad:
            raise UserError(f"Block numbers run from 0 to {total - 1}; {bad} are not blocks.")
        chosen = sorted(set(layers))
    else:
        if n is None or n < 1:
            raise UserError("Give how many blocks to remove (at least 1).")
        if n >= total:
            raise UserError(f"Removing {n} of {total} blocks would leave none; remove at most {total - 1}.")  # fmt: skip
        if selector == "last":
            chosen = list(range(total - n, total))
        elif selector == "first":
            chosen = list(range(n))
        elif selector in ("influence", "perplexity"):
            pattern = arch.gguf_pattern(lay, total - n) if keep_gguf_pattern else None
            # with llama.cpp's pattern the last block may have to go (Gemma 3's is global)
            protect = (0,) if pattern is not None else (0, total - 1)
            chosen = choose(scores or [], n, protect=protect, pattern=pattern,
                            types=lay.layer_types())  # fmt: skip
        else:
            raise UserError(f"Unknown block selector {selector!r}; choose one of {', '.join(SELECTORS)}.")  # fmt: skip
    if len(chosen) >= total:
        raise UserError("That would remove every block; keep at least one.")
    return chosen


def apply(lay: arch.Layout, removed: list[int]) -> None:
    arch.keep_blocks(lay, [i for i in range(lay.n_layers) if i not in set(removed)])
