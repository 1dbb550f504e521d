"""The fused linear + cross-entropy block gives the model's own loss and gradients."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def _model(**config):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, **config)  # fmt: skip
    return LlamaForCausalLM(cfg)


def _batch():
    from engine.training.data import Batch

    ids = torch.randint(0, 300, (3, 24), generator=torch.Generator().manual_seed(1))
    labels = ids.clone()
    labels[:, :6] = -100  # prompt
    labels[2, 18:] = -100  # padding
    mask = torch.ones_like(ids)
    mask[2, 18:] = 0
    return Batch(ids, labels, mask, None, 0, 0)


@pytest.mark.parametrize("tied", [False, True])
def test_fused_loss_and_gradients_match_the_model(tied):
    from engine.training import loss

    model = _model(tie_word_embeddings=tied)
    batch = _batch()
    fused, n = loss.fused_loss(model, batch)
    fused.backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    ref, n_ref = loss.model_loss(model, batch)
    ref.backward()
    assert n == n_ref == int((batch.labels[:, 1:] != -100).sum())
    assert torch.allclose(fused, ref, rtol=1e-5)
    for name, p in model.named_parameters():
        assert torch.allclose(grads[name], p.grad, atol=1e-5), name
    assert loss.check_fused(model, batch)


def test_softcap_and_scale_gradients():
    from engine.training.loss import fused_linear_cross_entropy

    g = torch.Generator().manual_seed(0)
    h = torch.randn(37, 16, generator=g, requires_grad=True)
    w = torch.randn(500, 16, generator=g, requires_grad=True)
    y = torch.randint(0, 500, (37,), generator=g)
    out = fused_linear_cross_entropy(h, w, y, softcap=5.0, scale=0.5)
    out.backward()
    gh, gw = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    z = torch.tanh((h @ w.t()) * 0.5 / 5.0) * 5.0
    ref = torch.nn.functional.cross_entropy(z, y, reduction="sum")
    ref.backward()
    assert torch.allclose(out, ref, rtol=1e-5)
    assert torch.allclose(gh, h.grad, atol=1e-5) and torch.allclose(gw, w.grad, atol=1e-5)


def test_a_model_with_unknown_logit_processing_falls_back():
    from engine.training import loss

    model = _model()
    original = model.forward

    def doubled(*args, **kw):  # an architecture that rescales its logits in its own way
        out = original(*args, **{**kw, "labels": None})
        logits = out.logits * 2
        labels = kw["labels"]
        ce = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]),
            labels[:, 1:].reshape(-1),
            ignore_index=-100,
        )
        out.loss = ce
        return out

    model.forward = doubled
    assert not loss.check_fused(model, _batch())
