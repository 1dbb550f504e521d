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
                y = targets[start : start + chunk]
                rows = torch.arange(h.shape[0], device=h.device)
                z = (h.to(weight.dtype) @ weight.t()).float()  # (n, V)
                if scale != 1.0:
                    z.mul_(scale)
                t = None
                if softcap:
                    t = z.div_(softcap).tanh_()  # z now holds tanh(z / c)
                    z = t * softcap
                lse = torch.logsumexp(z, dim=-1)  # (n,)
                total += (lse - z[rows, y]).sum()
                if not (need_h or need_w):
                    continue
                g = z.sub_(lse[:, None]).exp_()  # softmax, in place: (n, V)
                g[rows, y] -= 1.0
                if t is not None:
                    g.mul_(t.mul_(t).neg_().add_(1.0))  # d softcap: 1 - tanh^2
                if scale != 1.0:
                    g.mul_(scale)
                if need_h:
                    grad_h[start : start + chunk] = (g.to(weight.dtype) @ weight).to(hidden.dtype)
                if need_w:
                    grad_w.addmm_(g.t(), h.float())
                del g, z, t
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

    return FusedLinearCrossEntropy


_FN: list[Any] = []


def fused_linear_cross_entropy(
    hidden: Any, weight: Any, targets: Any, *, softcap: float | None = None, scale: float = 1.0
) -> Any:
    """Sum of the cross-entropy of ``hidden @ weight.T`` against ``targets`` (no (N, V) kept)."""
    if not _FN:
        _FN.append(_make_function())
    vocab = int(weight.shape[0])
    chunk = max(16, min(8192, _CHUNK_ELEMENTS // max(vocab, 1)))
    return _FN[0].apply(hidden, weight, targets, softcap or None, float(scale), chunk)


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


def fused_loss(model: Any, batch: Any) -> tuple[Any, int]:
    """(sum of token losses, tokens) of ``batch`` via the decoder + fused head."""
    lm = unwrap(model)
    softcap, scale = head_settings(lm)  # type: ignore[misc]
    out = _decoder(lm)(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        use_cache=False,
    )
    hidden = out[0] if isinstance(out, tuple) else out.last_hidden_state  # (B, T, H)
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
        position_ids=batch.position_ids,
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
