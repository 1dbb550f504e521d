"""The pruning operations on tiny random models: what each cut keeps consistent."""

from __future__ import annotations

import pytest
import torch

from engine.core.errors import UserError
from engine.pruning import arch, attention, bypass, calibrate, depth, measure, width
from tests.engine.pruning.fixtures import TEXT, build

KINDS = ("gemma3", "llama", "gpt2")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("pruning-models")


def load(root, kind, layers=8):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = build(root, kind, layers=layers)
    lm = AutoModelForCausalLM.from_pretrained(folder)
    lm.eval()
    return lm, AutoTokenizer.from_pretrained(folder)


def windows(tok, n=1024):
    return calibrate.windows(tok, TEXT, seq_len=32, max_tokens=n)


def greedy(lm, tok, *, cache=True, n=8):
    ids = tok("the quick brown", return_tensors="pt").input_ids
    with torch.no_grad():
        return lm.generate(ids, max_new_tokens=n, do_sample=False, use_cache=cache, pad_token_id=0)


@pytest.mark.parametrize("kind", KINDS)
def test_width_pair_pruning_keeps_gate_up_down_consistent(root, kind):
    lm, tok = load(root, kind)
    lay = arch.layout(lm)
    ids = windows(tok)[:2]
    # expected: the kept neurons' contributions, computed by hand from the original weights
    block = 3
    x_in = {}
    h = lay.blocks[block].mlp.register_forward_pre_hook(lambda _m, a: x_in.update(x=a[0]))
    with torch.no_grad():
        lm(input_ids=ids)
    h.remove()
    keep = torch.arange(0, lay.intermediate_size, 2)  # every other neuron
    with torch.no_grad():
        if lay.mlp_kind == arch.GLU:
            gate, up, down = lay.mlp(block)
            act = lay.blocks[block].mlp.act_fn
            hidden = act(x_in["x"] @ gate.weight[keep].T) * (x_in["x"] @ up.weight[keep].T)
            expected = hidden @ down.weight[:, keep].T
        else:
            c_fc, c_proj = lay.mlp(block)
            hidden = lay.blocks[block].mlp.act(x_in["x"] @ c_fc.weight[:, keep] + c_fc.bias[keep])
            expected = hidden @ c_proj.weight[keep] + c_proj.bias
        arch.keep_neurons(lay, block, keep)
        got = lay.blocks[block].mlp(x_in["x"])
    assert torch.allclose(got, expected, atol=1e-5)
    assert lay.width_of(block) == len(keep)


@pytest.mark.parametrize("kind", KINDS)
def test_width_pruned_model_saves_reloads_and_generates_with_cache(root, kind, tmp_path):
    from transformers import AutoModelForCausalLM

    lm, tok = load(root, kind)
    lay = arch.layout(lm)
    stats = width.collect(lm, lay, windows(tok), gram=True)
    keep = width.kept_width(lay.intermediate_size, lay.hidden_size, percent=30, divisor=32)
    assert keep % 32 == 0 and keep <= lay.intermediate_size * 0.7
    width.apply(lay, width.plan(lay, keep, "activation", stats), stats, refit=True)
    before = greedy(lm, tok)
    lm.save_pretrained(tmp_path / "m")
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    again.eval()
    assert arch.layout(again).intermediate_size == keep
    assert torch.equal(greedy(again, tok), before)
    assert torch.equal(greedy(again, tok, cache=False), before)
    if kind == "gemma3":  # tied embeddings stay tied
        assert again.lm_head.weight.data_ptr() == again.model.embed_tokens.weight.data_ptr()


def test_refit_reconstructs_the_mlp_output_better_than_cutting(root):
    lm, tok = load(root, "llama")
    lay = arch.layout(lm)
    cal = windows(tok)
    stats = width.collect(lm, lay, cal, gram=True)
    keep = width.kept_width(lay.intermediate_size, lay.hidden_size, percent=40)
    chosen = width.plan(lay, keep, "activation", stats)
    x = {}
    h = lay.down(2).register_forward_pre_hook(lambda _m, a: x.update(x=a[0].reshape(-1, a[0].shape[-1])))  # fmt: skip
    with torch.no_grad():
        lm(input_ids=cal[:8])
    h.remove()
    d = width.down_matrix(lay, 2)
    target = x["x"] @ d.T
    idx = chosen[2]["keep"]
    plain = x["x"][:, idx] @ d[:, idx].T
    refit = x["x"][:, idx] @ width.refit_down(lay, 2, idx, stats.gram[2]).T
    assert (refit - target).pow(2).mean() < 0.8 * (plain - target).pow(2).mean()


def test_static_selectors_follow_their_formulas(root):
    lm, _tok = load(root, "llama")
    lay = arch.layout(lm)
    gate, up, _ = lay.mlp(0)
    g, u = gate.weight.detach(), up.weight.detach()
    maw = width.static_scores(lay, 0, "maw")
    assert torch.allclose(maw, g.max(1).values + g.min(1).values.abs() + u.max(1).values + u.min(1).values.abs())  # fmt: skip
    assert torch.allclose(width.static_scores(lay, 0, "pon"), g.abs().sum(1) * u.abs().sum(1))
    assert torch.allclose(width.static_scores(lay, 0, "vow"), g.var(1) + u.var(1))


def test_kept_width_rounds_down_and_refuses_everything():
    assert width.kept_width(2048, 640, percent=10, divisor=128) == 1792  # 1844 down, not up to 1920
    assert width.kept_width(2048, 640, ratio=2.0) == 1280
    with pytest.raises(UserError, match="100 would remove every neuron"):
        width.kept_width(2048, 640, percent=100)
    with pytest.raises(UserError, match="leave no neurons"):
        width.kept_width(100, 64, percent=90, divisor=32)
    with pytest.raises(UserError, match="smaller ratio"):
        width.kept_width(2048, 640, ratio=4.0)


@pytest.mark.parametrize("kind", KINDS)
def test_depth_pruning_reindexes_layers(root, kind, tmp_path):
    from transformers import AutoModelForCausalLM

    lm, tok = load(root, kind)
    lay = arch.layout(lm)
    scores = depth.influence(lm, lay, windows(tok))
    assert len(scores) == 8 and all(s >= 0 for s in scores)
    removed = depth.select(lay, scores, n=2, selector="influence")
    types = lay.layer_types()
    depth.apply(lay, removed)
    assert lay.n_layers == 6
    assert [lay.attention(i).layer_idx for i in range(6)] == list(range(6))
    if types:
        assert lay.config.layer_types == [t for i, t in enumerate(types) if i not in removed]
    # generation with the KV cache equals generation without it
    assert torch.equal(greedy(lm, tok, n=12), greedy(lm, tok, cache=False, n=12))
    lm.save_pretrained(tmp_path / "m")
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    assert arch.layout(again).n_layers == 6
    assert torch.equal(greedy(again.eval(), tok, n=12), greedy(lm, tok, n=12))


def test_depth_refuses_removing_every_block(root):
    lm, _tok = load(root, "llama")
    lay = arch.layout(lm)
    with pytest.raises(UserError, match="leave none"):
        depth.select(lay, [0.0] * 8, n=8, selector="last")
    with pytest.raises(UserError, match="not blocks"):
        depth.select(lay, None, n=None, selector="layers", layers=[3, 99])


def test_perplexity_criterion_scores_each_block(root):
    lm, tok = load(root, "llama", layers=4)
    lay = arch.layout(lm)
    scores = depth.perplexity_scores(lm, lay, windows(tok))
    assert len(scores) == 4
    base, n = measure.nll(lm, windows(tok)[: depth.PPL_WINDOWS], tail=depth.PPL_TAIL)
    assert all(abs(s - base / n) > 1e-6 for s in scores)  # skipping a block changes the loss


@pytest.mark.parametrize("kind", KINDS)
def test_bypassed_attention_adds_nothing_to_the_residual(root, kind):
    lm, tok = load(root, kind)
    lay = arch.layout(lm)
    cal = windows(tok)
    values = attention.scores(lm, lay, cal)
    chosen = attention.choose(lay, values, 2)
    assert not set(chosen) & attention.anchors(lay)
    attention.bypass(lay, chosen)
    seen = {}
    i = chosen[0]
    module, first = lay.attn_added(i)
    h = module.register_forward_hook(lambda _m, _a, out: seen.update(a=out[0] if first else out))  # fmt: skip
    with torch.no_grad():
        lm(input_ids=cal[:2])
    h.remove()
    assert torch.count_nonzero(seen["a"]) == 0
    # skipping the module at run time gives the same tokens as computing it
    reference = greedy(lm, tok, n=12)
    state = bypass.install(lm)
    assert state is not None and not state.active & set(chosen)
    assert torch.equal(greedy(lm, tok, n=12), reference)


def test_adaptive_bypass_runs_fewer_attention_modules_on_short_prompts(root):
    lm, tok = load(root, "gemma3", layers=12)
    lay = arch.layout(lm)
    values = attention.scores(lm, lay, windows(tok))
    attention.make_adaptive(lay, values, params=arch.count_params(lm))
    state = bypass.install(lm)
    short = tok("hi", return_tensors="pt").input_ids
    long = tok(TEXT[:1500], return_tensors="pt").input_ids
    with torch.no_grad():
        lm(input_ids=short)
        n_short, s_short = len(state.active), state.last_score
        lm(input_ids=long)
        n_long, s_long = len(state.active), state.last_score
    assert s_short < s_long
    assert n_short < n_long
    assert attention.anchors(lay) <= state.active
    out = lm.generate(short, max_new_tokens=5, do_sample=False, pad_token_id=0)
    assert out.shape[1] == short.shape[1] + 5


def test_layout_names_what_it_does_not_know():
    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Linear(2, 2)
            self.config = None

    with pytest.raises(UserError, match=r"does not recognise this model.s layer list.*encoder"):
        arch.layout(Odd())


def test_calibration_text_too_short_or_empty(root):
    _lm, tok = load(root, "llama", layers=2)

    class S:
        pass

    with pytest.raises(UserError, match="empty"):
        calibrate.windows(tok, "   ", seq_len=32, max_tokens=100)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        short = Path(d) / "short.txt"
        short.write_text("only a few words here", encoding="utf-8")
        with pytest.raises(UserError, match="at least 256 are needed"):
            calibrate.load(S(), tok, file=str(short))
        bad = Path(d) / "bad.jsonl"
        bad.write_text('{"text": "ok"}\nnot json\n', encoding="utf-8")
        with pytest.raises(UserError, match="line 2 is not JSON"):
            calibrate.read_file(bad)


def test_bypass_and_adaptive_settings_survive_save_and_reload(root, tmp_path):
    from transformers import AutoModelForCausalLM

    lm, tok = load(root, "gemma3", layers=12)
    lay = arch.layout(lm)
    values = attention.scores(lm, lay, windows(tok))
    attention.bypass(lay, attention.choose(lay, values, 2))
    attention.make_adaptive(lay, values, params=arch.count_params(lm))
    lm.save_pretrained(tmp_path / "m")
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "m").eval()  # no trust_remote_code
    state = bypass.install(again)
    assert state is not None and not state.active & set(lay.config.hearth_bypass_attention)
    with torch.no_grad():
        again(input_ids=tok("hi", return_tensors="pt").input_ids)
    assert state.last_score is not None and len(state.active) < 12
