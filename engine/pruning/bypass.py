"""Skipping bypassed attention modules at run time, static or adaptive (transformers runtime).

``install(model)`` reads the config a pruning left (``hearth_bypass_attention``,
``hearth_adaptive_attention``) and wraps the attention modules concerned so that, when off, they
return zeros without computing anything. A statically bypassed module's weights are already zero,
so skipping it changes no number, only the time. An adaptive model decides at each prefill how
many attention modules run for this prompt (``complexity``), most important first, and keeps that
choice for the tokens generated after it. Models without those keys are left untouched.
"""

from __future__ import annotations

import math
from typing import Any

from engine.pruning import arch
from engine.pruning.attention import ADAPTIVE_KEY, CONFIG_KEY


def complexity(model: Any, input_ids: Any, params: int) -> float:
    """A prompt's complexity in [0, 1] (course notebook 6_6b): mostly its length in tokens,
    relative to what a model of this size handles, plus how varied its token embeddings are."""
    import torch

    n = int(input_ids.shape[-1])
    size_factor = min(2.0, max(0.5, 1 + (2 - params / 1e9) * 0.1))
    length_ref = 2000 / size_factor
    token_score = min(math.log1p(n) / math.log1p(length_ref) * size_factor, 1.0)
    if n < 4:
        token_score *= (n / 4) ** 2
    variety = 0.0
    if n >= 3:
        with torch.no_grad():
            emb = model.get_input_embeddings()(input_ids[0, :512]).float()
            emb = torch.nn.functional.normalize(emb, dim=-1)
            sim = emb @ emb.T
            m = sim.shape[0]
            off = (sim.sum() - sim.diagonal().sum()) / (m * (m - 1))
        variety = (1 - float(off)) * min(n / (length_ref / 15), 1.0)
    return max(0.0, min(1.0, 0.75 * token_score + 0.25 * variety))


def active_count(spec: dict[str, Any], score: float) -> int:
    for bound, count in spec["table"]:
        if score < bound:
            return int(count)
    return int(spec["table"][-1][1])


class _State:
    def __init__(self, n: int) -> None:
        self.active: set[int] = set(range(n))
        self.last_score: float | None = None


def _wrap(attn: Any, i: int, state: _State) -> None:
    import torch

    original = attn.forward

    def forward(hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
        if i in state.active:
            return original(hidden_states, *args, **kwargs)
        return torch.zeros_like(hidden_states), None

    attn.forward = forward


def install(model: Any) -> _State | None:
    """Wrap the attention modules a pruning marked; returns the shared state (None: nothing)."""
    base = getattr(model, "get_base_model", None)  # a prompt-tuned model: its base's attention
    model = base() if callable(base) else model
    config = getattr(model.config, "text_config", None) or model.config
    static = list(getattr(config, CONFIG_KEY, None) or getattr(model.config, CONFIG_KEY, None) or [])  # fmt: skip
    spec = getattr(config, ADAPTIVE_KEY, None) or getattr(model.config, ADAPTIVE_KEY, None)
    if not static and not spec:
        return None
    lay = arch.layout(model)
    state = _State(lay.n_layers)
    state.active -= set(static)
    wrapped = set(static) | (set(range(lay.n_layers)) - set(spec["anchors"]) if spec else set())
    for i in sorted(wrapped):
        _wrap(lay.attention(i), i, state)
    if spec:
        always = set(spec["anchors"])

        def pre(_module: Any, args: tuple, kwargs: dict) -> None:
            ids = kwargs.get("input_ids", args[0] if args else None)
            past = kwargs.get("past_key_values")
            if ids is None or (past is not None and past.get_seq_length() > 0):
                return  # a decoding step: keep the prefill's choice
            score = complexity(model, ids, int(spec.get("params") or 0))
            n = active_count(spec, score)
            order = [i for i in spec["order"] if i not in set(static)]
            state.active = (set(order[:n]) | always) - set(static)
            state.last_score = score

        model.register_forward_pre_hook(pre, with_kwargs=True)
    model._hearth_bypass = state
    return state
