"""Token windows and their log-likelihood: the scorer every perplexity in Hearth uses (the
evaluation service's, pruning's before/after, depth pruning's block scores).

A window is a list of token ids (BOS first when the model has one) and the number of trailing
targets it scores; ``windows`` cuts a token stream so that every token is scored exactly once
(see ``engine.evaluation.perplexity``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from engine.core.errors import UserError

Window = tuple[list[int], int]  # token ids (BOS first), and how many trailing targets are scored


def windows(ids: Sequence[int], *, bos: int | None, seq_len: int, stride: int | None = None) -> list[Window]:  # fmt: skip
    """Windows of a token stream (without BOS): see the module docstring."""
    content = seq_len - 1 if bos is not None else seq_len
    step = content if stride is None else int(stride)
    if not 1 <= step <= content:
        raise UserError(f"stride must be from 1 to {content} (the tokens of a window after BOS).")
    ids = list(ids)
    if len(ids) < content:
        raise UserError(
            f"The text is {len(ids)} tokens, shorter than one window of {seq_len}; use a longer "
            "text or a smaller window (seq_len)."
        )
    head = [bos] if bos is not None else []
    out: list[Window] = []
    start = done = 0  # done: the targets scored so far
    while True:
        end = min(start + content, len(ids))
        window = [*head, *ids[start:end]]
        out.append((window, min(end - done, len(window) - 1)))  # a window's first token has no past
        done = end
        if end >= len(ids):
            return out
        start += step


def torch_window_nll(lm: Any, wins: Sequence[Window], *, cancelled: Callable[[], None] | None = None) -> tuple[float, int]:  # fmt: skip
    """Summed negative log-likelihood of each window's last ``k`` targets (the vocabulary
    projection runs on those positions only), and how many there were."""
    import torch
    import torch.nn.functional as F

    device = next(lm.parameters()).device
    total, count = 0.0, 0
    with torch.no_grad():
        for ids, k in wins:
            if cancelled is not None:
                cancelled()
            tensor = torch.tensor([ids], dtype=torch.long, device=device)
            keep = min(k + 1, len(ids))
            try:
                out = lm(input_ids=tensor, use_cache=False, logits_to_keep=keep)
            except TypeError:
                out = lm(input_ids=tensor, use_cache=False)
            logits = out.logits[0, -keep:-1].float()
            targets = tensor[0, len(ids) - keep + 1 :]
            total += float(F.cross_entropy(logits, targets, reduction="sum"))
            count += int(targets.numel())
    return total, count


def gguf_window_nll(model: Any, wins: Sequence[Window], *, cancelled: Callable[[], None] | None = None) -> tuple[float, int]:  # fmt: skip
    total, count = 0.0, 0
    for ids, k in wins:
        if cancelled is not None:
            cancelled()
        picked = model.logprobs(ids, len(ids) - k)
        total -= float(sum(picked))
        count += len(picked)
    return total, count


def mean_batch_loss(model: Any, batches: Iterable[Any], score: Callable[[Any], tuple[Any, int]], *,
                    cancelled: Callable[[], bool] | None = None) -> tuple[float | None, int]:  # fmt: skip
    """Mean token loss of ``model`` over ready batches: ``score(batch)`` gives a batch's summed
    loss and its scored tokens (the caller picks which tokens count: Training scores the replies
    of its validation rows). Gradients off and dropout off while scoring, the model's mode put
    back after; no random numbers are drawn, so scoring never changes what a run computes next.
    None when nothing was scored."""
    import torch

    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    try:
        with torch.no_grad():
            for batch in batches:
                if cancelled is not None and cancelled():
                    break
                loss_sum, n = score(batch)
                total += float(loss_sum)
                tokens += int(n)
    finally:
        model.train(was_training)
    return (total / tokens if tokens else None), tokens


def perplexity(mean_nll: float | None) -> float | None:
    """exp of a mean token loss (capped at exp(50), where a broken model would overflow)."""
    if mean_nll is None:
        return None
    return math.exp(min(mean_nll, 50.0))
