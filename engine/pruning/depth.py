"""Depth pruning: remove whole decoder blocks.

Selectors (a lower score means the block matters less and goes first):

- ``influence`` (default; ShortGPT's Block Influence): ``1 - cos(x_t, y_t)`` between a block's
  input and output hidden state, per token, averaged over the calibration text. One pass.
- ``perplexity`` (Shortened LLaMA's criterion): the loss of the model with that block alone
  skipped, on a few calibration windows. One pass per block; the head runs on the last 64
  positions of each window only.
- ``last`` / ``first``: by position, as optipfair and the course do; ``layers``: a list given.

The first and the last block are never chosen by a score (both carry far more than their
similarity suggests). Gemma 3's survivors keep their own layer types (sliding window or global);
the GGUF export writes them per layer, so llama.cpp runs exactly what torch runs.
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


def choose(scores: list[float], n: int, *, protect: tuple[int, ...] = ()) -> list[int]:
    """The ``n`` blocks with the lowest scores, never one in ``protect``."""
    order = sorted((i for i in range(len(scores)) if i not in protect), key=lambda i: scores[i])
    if len(order) < n:
        raise UserError(f"Only {len(order)} blocks may be removed here; choose fewer.")
    return sorted(order[:n])


def select(lay: arch.Layout, scores: list[float] | None, *, n: int | None, selector: str,
           layers: list[int] | None = None) -> list[int]:  # fmt: skip
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
            chosen = choose(scores or [], n, protect=(0, total - 1))
        else:
            raise UserError(f"Unknown block selector {selector!r}; choose one of {', '.join(SELECTORS)}.")  # fmt: skip
    if len(chosen) >= total:
        raise UserError("That would remove every block; keep at least one.")
    return chosen


def apply(lay: arch.Layout, removed: list[int]) -> None:
    arch.keep_blocks(lay, [i for i in range(lay.n_layers) if i not in set(removed)])
