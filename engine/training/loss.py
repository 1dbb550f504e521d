"""Causal-LM loss without the full logits tensor: the fused linear + cross-entropy block.

A causal LM's loss normally materialises logits for every position, (B, T, V) floats, then a
log-softmax of the same size and its gradient: for the bundled Gemma (V = 262,144) that is about
1 GB per 1,000 tokens, most of the peak memory of a LoRA step, and a third of its compute goes
into rows whose labels are masked (the prompt). Here the last hidden states are gathered at the
positions that have a label, and the LM head + cross-entropy run over them a chunk of rows at a
time; the gradient with respect to the hidden states (and the head, when it is trained) is worked
out in the same pass, so nothing of size V outlives its chunk and backward costs no extra matmul.
This is the "fused linear cross-entropy" of Liger/Unsloth, written in plain torch.

``lm_loss(model, batch)`` returns ``(sum of token losses, tokens)``; callers divide by the tokens
of the whole optimizer step so gradient accumulation weighs every token equally.
``check_fused(model, batch)`` compares it once with the model's own loss and the trainer falls
back to the model's forward when an architecture post-processes its logits in a way this block
does not know.
"""

from __future__ import annotations

from typing import Any

IGNORE = -100
_CHUNK_ELEMENTS = 1 << 25  # logits per chunk: 32M floats = 128 MB


def _torch() -> Any:
    import torch

    return torch


def _rows_ce(h: Any, weight: Any, y: Any, softcap: float | None, scale: float, grad: bool) -> tuple[Any, Any]:  # fmt: skip
    """Cross-entropy of each row of ``softcap(scale * h W^T)`` against ``y``, and when ``grad``
    its derivative with respect to the logits, (n, V), computed in the logits' own buffer."""
    torch = _torch()
    rows = torch.arange(h.shape[0], device=h.device)
    z = (h.to(weight.dtype) @ weight.t()).float()  # (n, V)
    if scale != 1.0:
        z.mul_(scale)
    t = None
    if softcap:
        t = z.div_(softcap).tanh_()  # z now holds tanh(z / c)
        z = t * softcap
    lse = torch.logsumexp(z, dim=-1)  # (n,)
    ce = lse - z[rows, y]
    if not grad:
        return ce, None
    g = z.sub_(lse[:, None]).exp_()  # softmax, in place: (n, V)
    g[rows, y] -= 1.0
    if t is not None:
        g.mul_(t.mul_(t).neg_().add_(1.0))  # d softcap: 1 - tanh^2
    if scale != 1.0:
        g.mul_(scale)
    return ce, g


def _make_function() -> Any:
    torch = _torch()

    class FusedLinearCrossEntropy(torch.autograd.Function):
        """sum_i CE(softcap(scale * h_i W^T), y_i), gradients computed in the forward pass."""

        @staticmethod
        def forward(ctx, hidden, weight, targets, softcap, scale, chunk):  # type: ignore[override]
            # hidden (N, H), weight (V, H), targets (N,)
            n = hidden.shape[0]
            need_h = hidden.requires_grad
            need_w = weight.requires_grad
            grad_h = torch.empty_like(hidden) if need_h else None
            grad_w = (
                torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
                if need_w
                else None
            )
            total = torch.zeros((), dtype=torch.float32, device=hidden.device)
            for start in range(0, n, chunk):
                h = hidden[start : start + chunk]
                ce, g = _rows_ce(h, weight, targets[start : start + chunk], softcap, scale,
                                 need_h or need_w)  # fmt: skip
                total += ce.sum()
                if g is None:
                    continue
                if need_h:
                    grad_h[start : start + chunk] = (g.to(weight.dtype) @ weight).to(hidden.dtype)
                if need_w:
                    grad_w.addmm_(g.t(), h.float())
                del g
            ctx.save_for_backward(
                grad_h if grad_h is not None else torch.empty(0),
                grad_w if grad_w is not None else torch.empty(0),
            )
            ctx.need = (need_h, need_w)
            ctx.weight_dtype = weight.dtype
            return total

        @staticmethod
        def backward(ctx, grad_out):  # type: ignore[override]
            grad_h, grad_w = ctx.saved_tensors
            need_h, need_w = ctx.need
            gh = grad_h * grad_out.to(grad_h.dtype) if need_h else None
            gw = (grad_w * grad_out).to(ctx.weight_dtype) if need_w else None
            return gh, gw, None, None, None, None

    class FusedLinearTokenCrossEntropy(torch.autograd.Function):
        """CE(softcap(scale * h_i W^T), y_i) for each row i, (N,): what sequence log-probabilities
        are made of. The gradient for ``hidden`` is worked out in the forward pass (row i's loss
        depends on row i only); the head's, needed only when the head is trained, is recomputed
        chunk by chunk in the backward pass, once the weight of each row is known."""

        @staticmethod
        def forward(ctx, hidden, weight, targets, softcap, scale, chunk):  # type: ignore[override]
            need_h = hidden.requires_grad
            need_w = weight.requires_grad
            out = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
            grad_h = torch.empty_like(hidden) if need_h else None
            for start in range(0, hidden.shape[0], chunk):
                stop = start + chunk
                ce, g = _rows_ce(hidden[start:stop], weight, targets[start:stop], softcap, scale,
                                 need_h)  # fmt: skip
                out[start:stop] = ce
                if g is not None:
                    grad_h[start:stop] = (g.to(weight.dtype) @ weight).to(hidden.dtype)
                del g
            keep = (grad_h if need_h else torch.empty(0),
                    hidden if need_w else torch.empty(0), weight if need_w else torch.empty(0),
                    targets if need_w else torch.empty(0))  # fmt: skip
            ctx.save_for_backward(*keep)
            ctx.setup = (need_h, need_w, softcap, scale, chunk)
            return out

        @staticmethod
        def backward(ctx, grad_out):  # type: ignore[override]
            grad_h, hidden, weight, targets = ctx.saved_tensors
            need_h, need_w, softcap, scale, chunk = ctx.setup
            gh = grad_h * grad_out[:, None].to(grad_h.dtype) if need_h else None
            gw = None
            if need_w:
                acc = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
                for start in range(0, hidden.shape[0], chunk):
                    stop = start + chunk
                    h = hidden[start:stop]
                    _ce, g = _rows_ce(h, weight, targets[start:stop], softcap, scale, True)
                    g.mul_(grad_out[start:stop, None].float())
                    acc.addmm_(g.t(), h.float())
                    del g
                gw = acc.to(weight.dtype)
            return gh, gw, None, None, None, None

    return FusedLinearCrossEntropy, FusedLinearTokenCrossEntropy


_FN: list[Any] = []


def fused_linear_cross_entropy(
    hidden: Any, weight: Any, targets: Any, *, softcap: float | None = None, scale: float = 1.0
) -> Any:
    """Sum of the cross-entropy of ``hidden @ weight.T`` against ``targets`` (no (N, V) kept)."""
    return _functions()[0].apply(
        hidden, weight, targets, softcap or None, float(scale), _chunk(weight)
    )


def fused_token_cross_entropy(
    hidden: Any, weight: Any, targets: Any, *, softcap: float | None = None, scale: float = 1.0
) -> Any:
    """The cross-entropy of each row of ``hidden @ weight.T`` against ``targets``, (N,)."""
    return _functions()[1].apply(
        hidden, weight, targets, softcap or None, float(scale), _chunk(weight)
    )


def _functions() -> Any:
    if not _FN:
        _FN.extend(_make_function())
    return _FN


def _chunk(weight: Any) -> int:
    return max(16, min(8192, _CHUNK_ELEMENTS // max(int(weight.shape[0]), 1)))


def unwrap(model: Any) -> Any:
    """The transformers CausalLM inside a peft wrapper (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def head_settings(lm: Any) -> tuple[float | None, float] | None:
    """(softcap, scale) of the LM head's logits; None when the fused path cannot stand in."""
    head = lm.get_output_embeddings()
    torch = _torch()
    if not isinstance(head, torch.nn.Linear) or head.bias is not None:
        return None
    config = lm.config
    softcap = getattr(config, "final_logit_softcapping", None) or None
    scale = 1.0
    if getattr(config, "logit_scale", None):  # Cohere
        scale *= float(config.logit_scale)
    if getattr(config, "logits_scaling", None):  # Granite
        scale /= float(config.logits_scaling)
    return softcap, scale


def _decoder(lm: Any) -> Any:
    getter = getattr(lm, "get_decoder", None)
    if callable(getter):
        try:
            return getter()
        except (AttributeError, NotImplementedError, ValueError):
            pass
    return getattr(lm, lm.base_model_prefix)


def virtual_tokens(model: Any) -> int:
    """How many prompt-tuning virtual tokens ``model`` puts in front of its input (0 when it is
    not prompt-tuned, or inside peft's ``disable_adapter``)."""
    config = getattr(model, "active_peft_config", None)
    if not getattr(config, "is_prompt_learning", False) or getattr(model, "_adapters_disabled", False):  # fmt: skip
        return 0
    return int(config.num_virtual_tokens)


def last_hidden(model: Any, batch: Any) -> tuple[Any, Any]:
    """(the CausalLM, its decoder's last hidden states (B, T, H)) for ``batch``, no LM head.
    A prompt-tuned model's virtual tokens go first, as peft's forward puts them, and their
    positions are dropped from the result."""
    lm = unwrap(model)
    n = virtual_tokens(model)
    if n:
        from engine.models.prompt_tuning import in_front

        prompts = model.get_prompt(batch_size=batch.input_ids.shape[0])
        embeds, mask = in_front(lm, prompts, batch.input_ids, batch.attention_mask)
        out = _decoder(lm)(inputs_embeds=embeds, attention_mask=mask, use_cache=False)
        hidden = out[0] if isinstance(out, tuple) else out.last_hidden_state
        return lm, hidden[:, n:]
    out = _decoder(lm)(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        use_cache=False,
    )
    return lm, out[0] if isinstance(out, tuple) else out.last_hidden_state


def fused_loss(model: Any, batch: Any) -> tuple[Any, int]:
    """(sum of token losses, tokens) of ``batch`` via the decoder + fused head."""
    lm, hidden = last_hidden(model, batch)
    softcap, scale = head_settings(lm)  # type: ignore[misc]
    labels = batch.labels[:, 1:]  # (B, T-1)
    keep = labels != IGNORE
    h = hidden[:, :-1][keep]  # (N, H)
    y = labels[keep]  # (N,)
    head = lm.get_output_embeddings()
    return fused_linear_cross_entropy(h, head.weight, y, softcap=softcap, scale=scale), int(
        y.numel()
    )


def model_loss(model: Any, batch: Any) -> tuple[Any, int]:
    """(sum of token losses, tokens) through the model's own forward and loss (the fallback)."""
    out = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=None if virtual_tokens(model) else batch.position_ids,  # peft drops them
        labels=batch.labels,
        use_cache=False,
    )
    n = int((batch.labels[:, 1:] != IGNORE).sum())
    return out.loss * n, n


def check_fused(model: Any, batch: Any, *, rtol: float = 2e-3) -> bool:
    """True when the fused loss matches the model's own loss on ``batch`` (no RNG used)."""
    torch = _torch()
    if head_settings(unwrap(model)) is None:
        return False
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            fused, n = fused_loss(model, batch)
            ref, _ = model_loss(model, batch)
    except (AttributeError, TypeError, ValueError, NotImplementedError):
        return False
    finally:
        model.train(was_training)
    if n == 0:
        return True
    a, b = float(fused) / n, float(ref) / n
    return abs(a - b) <= rtol * max(1.0, abs(b))
