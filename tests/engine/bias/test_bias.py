"""The bias lab's engine side: pair sets, alignment, one capture per model and set, the metric
(checked against a hand computation), the cache and its invalidation, and bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from engine.bias import pairs as pair_sets
from engine.bias import store
from engine.bias.align import align
from engine.bias.pairs import Pair
from engine.bias.run import choose, run
from engine.core.errors import NotFoundError, UserError
from engine.jobs.registry import SimpleContext


# -- sets ----------------------------------------------------------------------------------------
def test_builtin_set_covers_every_category_with_held_out_templates():
    s = pair_sets.builtin_set()
    cats = s.categories()
    assert set(cats) == {"race/ethnicity", "gender", "religion", "nationality", "age",
                         "disability", "socioeconomic status"}  # fmt: skip
    assert all(n >= 10 for n in cats.values())
    held = s.heldout()
    assert {p.category for p in held} == set(cats)  # every category is measured out of sample
    selection_sentences = {p.a.replace(p.note.split(" / ")[0], "") for p in s.selection()}
    assert not any(p.a.replace(p.note.split(" / ")[0], "") in selection_sentences for p in held)
    assert all(p.a != p.b for p in s.pairs)


def test_import_checks_every_line_and_holds_out_a_quarter(services, tmp_path):
    good = tmp_path / "mine.jsonl"
    rows = [{"category": "c", "a": f"The {w} man", "b": f"The {w} woman"} for w in "abcdefgh"]
    good.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    made = pair_sets.import_set(services, good)
    assert made.summary()["pairs"] == 8 and made.summary()["heldout"] == 2
    assert pair_sets.get_set(services, "mine").pairs == made.pairs
    with pytest.raises(UserError, match="exists"):
        pair_sets.import_set(services, good)
    for text, message in [
        ('{"category": "c", "a": "x"}\n', "line 1 needs a non-empty text 'b'"),
        ('{"category": "c", "a": "same", "b": "same"}\n', "identical"),
        ('{"category": "c", "a": "x", "b": "y"}\nnot json\n', "line 2 is not valid JSON"),
        ("\n\n", "has no pairs"),
        ('{"category": "c", "a": "x", "b": "y", "colour": 1}\n', "unknown field"),
    ]:
        bad = tmp_path / "bad.jsonl"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(UserError, match=message):
            pair_sets.import_set(services, bad, name="bad")
    with pytest.raises(NotFoundError, match="known sets: hearth-builtin, mine"):
        pair_sets.get_set(services, "nope")


def test_choose_spreads_pairs_over_categories():
    s = pair_sets.builtin_set()
    chosen = choose(s.pairs, 14)
    assert len(chosen) == 14 and len({p.category for p in chosen}) == 7


# -- alignment -------------------------------------------------------------------------------------
def test_alignment_of_equal_and_unequal_token_counts():
    same = align([1, 2, 3, 4], [1, 9, 3, 4], list("abcd"), list("aXcd"))
    assert same.equal_length and same.differing == [1] and same.labels()[1] == "b / X"
    # "The 70-year-old man" vs "The young man": one side has three tokens where the other has one
    uneven = align([1, 5, 6, 7, 4], [1, 8, 4], ["The", "70", "-year", "-old", "man"],
                   ["The", "young", "man"])  # fmt: skip
    assert not uneven.equal_length
    assert uneven.rows == [([0], [0], False), ([1, 2, 3], [1], True), ([4], [2], False)]
    assert uneven.labels() == ["The", "70-year-old / young", "man"]
    # one side only adds a token: joined to the token before, never dropped
    added = align([1, 2, 3], [1, 2, 7, 3], list("abc"), list("abzc"))
    assert added.rows[-2] == ([1], [1, 2], True) and added.rows[-1] == ([2], [3], False)


def test_alignment_check_before_capture_matches_the_capture(services, llama_id):
    from engine.bias.run import alignment

    _save_set(services)
    checked = alignment(services, llama_id, "tiny", None)
    assert checked["tokenizer"].endswith("tokenizer.json") and len(checked["pairs"]) == 3
    captured = run(services, {"model_id": llama_id, "set": "tiny"}, SimpleContext(services=services))  # fmt: skip
    meta = store.load_meta(services, captured["run_id"])
    for row, al in zip(checked["pairs"], meta["alignments"], strict=True):
        assert row["tokens_a"] == al["tokens_a"] and row["tokens_b"] == al["tokens_b"]
        differ_a = sorted({i for r in al["rows"] if r["differs"] for i in r["a"]})
        assert row["differ_a"] == differ_a and differ_a  # the group words, and only they
        assert all(row["tokens_a"][i] == row["tokens_b"][i] for i in range(len(row["tokens_a"]))
                   if i not in row["differ_a"] and row["equal_length"])  # fmt: skip
        assert row["joined"] == (not al["equal_length"] or any(
            len(r["a"]) != 1 or len(r["b"]) != 1 for r in al["rows"] if r["differs"]))  # fmt: skip


@pytest.mark.slow
def test_alignment_of_an_unconverted_gguf_reads_its_own_vocabulary(hearth_home, tmp_path):
    """The bundled Gemma before any conversion: llama.cpp's vocabulary, no weights read; pairs of
    one and of several differing tokens, the latter marked joined (never dropped)."""
    from engine.bias.run import alignment
    from engine.services import Services
    from tests.engine.runtimes.fixtures import bundled_home

    bundled_home(hearth_home)
    services = Services(hearth_home)
    try:
        gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
        pair_sets.save_set(services, "two", [
            Pair("race/ethnicity", "The Black man was walking", "The white man was walking"),
            Pair("disability", "The disabled candidate came", "The able-bodied candidate came")])  # fmt: skip
        checked = alignment(services, gemma["id"], "two", None)
    finally:
        services.close()
    assert "GGUF" in checked["tokenizer"]
    one, many = checked["pairs"]
    assert one["tokens_a"][:3] == ["<bos>", "The", "▁Black"] and one["tokens_b"][2] == "▁white"
    assert one["differ_a"] == [2] and one["differ_b"] == [2] and not one["joined"]
    assert [many["tokens_b"][i] for i in many["differ_b"]] == ["▁able", "-", "bodied"]
    assert many["joined"] and checked["joined"] == 1


# -- capture -------------------------------------------------------------------------------------
def _pairs() -> list[Pair]:
    return [Pair("c", "The old man said that", "The young man said that"),
            Pair("c", "A rich woman thought", "A poor woman thought"),
            Pair("d", "The nurse is kind", "The doctor is kind", heldout=True)]  # fmt: skip


def _save_set(services) -> None:
    pair_sets.save_set(services, "tiny", _pairs())


def test_capture_shapes_keys_and_the_metric_by_hand(services, llama_id):
    import torch

    from engine.pruning.pipeline import load

    _save_set(services)
    result = run(services, {"model_id": llama_id, "set": "tiny"}, SimpleContext(services=services))
    assert result["pairs"] == 3 and result["layers"] == 4 and not result["cached"]
    assert result["components"] == [
        "input_norm",
        "attention",
        "mlp",
        "gate",
        "up",
        "down",
        "residual",
    ]
    arrays = store.load_arrays(services, result["run_id"])
    meta = store.load_meta(services, result["run_id"])
    model = services.library.get(llama_id)
    lm, tok = load(services, model, SimpleContext(services=services))
    width = lm.config.intermediate_size
    assert arrays["neuron__gate"].shape == (3, 4, width)
    assert arrays["neuron__residual"].shape == (3, 4, lm.config.hidden_size)
    assert arrays["mean__mlp"].shape == (3, 4)
    rows = sum(len(a["rows"]) for a in meta["alignments"])
    assert arrays["rows__up"].shape == (rows, 4)
    tokens = sum(len(a["tokens_a"]) + len(a["tokens_b"]) for a in meta["alignments"])
    assert arrays["pca__residual"].shape == (tokens, 4, 2)

    # the metric by hand for pair 0, layer 2, the up projection
    seen = {}
    hook = lm.model.layers[2].mlp.up_proj.register_forward_hook(
        lambda _m, _i, out: seen.setdefault(len(seen), out[0].detach())
    )
    with torch.no_grad():
        for text in (_pairs()[0].a, _pairs()[0].b):
            lm(**tok(text, return_tensors="pt"))
    hook.remove()
    a, b = seen[0], seen[1]
    al = meta["alignments"][0]
    by_row = [(a[r["a"]].mean(0) - b[r["b"]].mean(0)).abs().mean().item() for r in al["rows"]]
    assert arrays["rows__up"][: len(by_row), 2] == pytest.approx(by_row, rel=1e-4, abs=1e-6)
    assert arrays["mean__up"][0, 2] == pytest.approx(float(np.mean(
        [(a[r["a"]].mean(0) - b[r["b"]].mean(0)).abs().mean().item() for r in al["rows"]])),
        rel=1e-4)  # fmt: skip
    pooled = (a.mean(0) - b.mean(0)).abs().numpy()
    assert np.allclose(arrays["neuron__up"][0, 2].astype(np.float32), pooled, rtol=2e-3, atol=1e-4)
    # the overall metric leaves the residual stream out
    counted = [c for c in result["components"] if c != "residual"]
    assert result["overall_mean_diff"] == pytest.approx(
        float(np.mean([arrays[f"mean__{c}"].mean() for c in counted])), rel=1e-4
    )


def test_cache_is_reused_and_recomputed_when_the_model_file_changes(services, llama_id):
    _save_set(services)
    ctx = SimpleContext(services=services)
    first = run(services, {"model_id": llama_id, "set": "tiny"}, ctx)
    again = run(services, {"model_id": llama_id, "set": "tiny"}, ctx)
    assert again["cached"] and again["run_id"] == first["run_id"]
    model = services.library.get(llama_id)
    weights = next(p for p in __import__("pathlib").Path(model["path"]).rglob("*.safetensors"))
    stat = weights.stat()
    os.utime(weights, (stat.st_atime, stat.st_mtime + 10))  # an older capture of a changed file
    fresh = run(services, {"model_id": llama_id, "set": "tiny"}, ctx)
    assert not fresh["cached"]
    # an edited set is a different capture too
    pair_sets.save_set(
        services, "tiny", [*_pairs(), Pair("e", "He sings", "She sings")], replace=True
    )
    assert not run(services, {"model_id": llama_id, "set": "tiny"}, ctx)["cached"]


def test_a_model_without_a_gate_says_which_components_it_lacks(services, gpt2_id):
    _save_set(services)
    result = run(services, {"model_id": gpt2_id, "set": "tiny"}, SimpleContext(services=services))
    meta = store.load_meta(services, result["run_id"])
    assert "gate" not in result["components"] and "up" in result["components"]
    assert "no gate projection" in meta["missing"]["gate"]


def test_bad_requests_are_refused_before_any_work(services, llama_id):
    ctx = SimpleContext(services=services)
    with pytest.raises(NotFoundError, match="No prompt pair set 'nope'"):
        run(services, {"model_id": llama_id, "set": "nope"}, ctx)
    with pytest.raises(UserError, match="pairs must be at least 1"):
        run(services, {"model_id": llama_id, "set": "hearth-builtin", "pairs": 0}, ctx)
    with pytest.raises(UserError, match="two prompts are identical"):
        pair_sets.save_set(services, "same", [Pair("c", "x y", "x y")])


# -- views ---------------------------------------------------------------------------------------
def test_views_come_from_the_stored_arrays(services, llama_id, monkeypatch):
    from engine.bias import views

    _save_set(services)
    rid = run(services, {"model_id": llama_id, "set": "tiny"}, SimpleContext(services=services))["run_id"]  # fmt: skip
    arrays = store.load_arrays(services, rid)
    # no model is loaded for any view
    monkeypatch.setattr(
        "engine.pruning.pipeline.load", lambda *a, **k: pytest.fail("loaded a model")
    )
    over = views.overview(services, rid)
    assert len(over["matrix"]) == 7 and len(over["matrix"][0]) == 4
    assert over["matrix"][1][2] == pytest.approx(float(arrays["mean__attention"][:, 2].mean()))
    held = views.overview(services, rid, part="heldout")
    assert held["pairs"] == [2] and held["matrix"][1][2] == pytest.approx(float(arrays["mean__attention"][2, 2]))  # fmt: skip
    one = views.pair_view(services, rid, pair=0, component="up")
    assert len(one["matrix"]) == len(one["labels"]) == len(one["differs"])
    marked = [label for label, d in zip(one["labels"], one["differs"], strict=True) if d]
    assert marked and all(" / " in label for label in marked)  # "old / young" where they differ
    top = views.neurons(services, rid, layer=1, component="gate", k=5)
    assert len(top["neurons"]) == 5 and top["scores"] == sorted(top["scores"], reverse=True)
    assert set(top["by_category"]) == {"c", "d"}
    pca = views.pca_view(services, rid, pair=1, layer=3)
    assert len(pca["a"]) == len(pca["tokens_a"]) and 0 <= sum(pca["explained"]) <= 1.0001
    meta = store.load_meta(services, rid)
    first = meta["alignments"][1]["tokens_a"][0]
    # a leading BOS (the attention sink) is not placed; every word is
    assert (pca["a"][0] is None) == (first in ("<s>", "<bos>", "<|begin_of_text|>"))
    assert all(point is not None for point in pca["a"][1:] + pca["b"][1:])
    with pytest.raises(UserError, match=r"no 'gate_x' component\. It has input_norm"):
        views.neurons(services, rid, layer=0, component="gate_x")
    with pytest.raises(UserError, match="No pairs of category 'zzz'"):
        views.overview(services, rid, category="zzz")


def test_compare_two_models_and_refuse_other_tokenizers(services, llama_id, gpt2_id, model_root):
    from engine.bias import views
    from tests.engine.pruning.fixtures import build

    _save_set(services)
    ctx = SimpleContext(services=services)
    a = run(services, {"model_id": llama_id, "set": "tiny"}, ctx)["run_id"]
    same = run(services, {"model_id": llama_id, "set": "tiny"}, ctx)["run_id"]
    result = views.compare(services, a, same)
    assert result["change"] == 0 and all(v == 0 for row in result["difference"] for v in row)
    other = services.library.import_model(build(model_root, "llama", layers=4), mode="copy",
                                          name="Tiny Llama copy")["id"]  # fmt: skip
    b = run(services, {"model_id": other, "set": "tiny"}, ctx)["run_id"]
    assert views.compare(services, a, b)["components"][0] == "input_norm"
    g = run(services, {"model_id": gpt2_id, "set": "tiny"}, ctx)["run_id"]  # 3 layers
    with pytest.raises(UserError, match="has 4 layers and Tiny GPT-2 3"):
        views.compare(services, a, g)
    # a model whose tokenizer cuts the prompts differently (the tiny models share one, so a
    # stored run of another tokenizer is made by hand)
    import shutil

    folder = store.runs_folder(services)
    shutil.copytree(folder / b, folder / "other-tokenizer")
    meta = json.loads((folder / "other-tokenizer" / "meta.json").read_text())
    meta["alignments"][0]["tokens_a"] = ["▁The", "▁o", "ld", *meta["alignments"][0]["tokens_a"][3:]]
    meta["model_name"] = "Other"
    (folder / "other-tokenizer" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="tokenize the prompts differently"):
        views.compare(services, a, "other-tokenizer")
    small = run(services, {"model_id": llama_id, "set": "tiny", "pairs": 2}, ctx)["run_id"]
    with pytest.raises(UserError, match="different pairs"):
        views.compare(services, a, small)


def test_a_view_needing_the_gate_on_gpt2_says_why(services, gpt2_id):
    from engine.bias import views

    _save_set(services)
    rid = run(services, {"model_id": gpt2_id, "set": "tiny"}, SimpleContext(services=services))["run_id"]  # fmt: skip
    with pytest.raises(UserError, match="no 'gate' component: this model's MLP has no gate"):
        views.neurons(services, rid, layer=0, component="gate")


# -- bias-targeted pruning -----------------------------------------------------------------------
def test_bias_pruning_with_its_random_control_on_a_tiny_model(services, llama_id, text_file):
    from engine.bias.prune import run as prune
    from engine.pruning.pipeline import load

    _save_set(services)
    ctx = SimpleContext(services=services)
    request = {"model_id": llama_id, "set": "tiny", "neurons": 8, "file": str(text_file)}
    result = prune(services, request, ctx)
    assert result["width_after"] == result["width_before"] - 8
    assert result["selection_pairs"] == 2 and result["heldout_pairs"] == 1
    for key in ("heldout_bias_before", "heldout_bias_after", "control_bias_after", "ppl_before",
                "ppl_after", "ppl_control", "insample_bias_before", "insample_bias_after"):  # fmt: skip
        assert result[key] is not None and result[key] > 0, key
    assert result["heldout_bias_after"] != result["control_bias_after"]  # two different cuts
    pruned = services.library.get(result["model_id"])
    assert pruned["lineage"]["parent_id"] == llama_id and pruned["lineage"]["method"] == "bias"
    lm, _tok = load(services, pruned, ctx)  # it reloads like any width-pruned model
    assert lm.config.intermediate_size == result["width_after"]
    with pytest.raises(UserError, match="neurons must be from 1 to"):
        prune(services, {**request, "neurons": 10_000}, ctx)


def test_outputs_continuations_and_log_probabilities_by_hand(services, llama_id):
    import torch

    from engine.bias.outputs import run as outputs
    from engine.pruning.pipeline import load

    _save_set(services)
    ctx = SimpleContext(services=services)
    result = outputs(services, {"model_id": llama_id, "set": "tiny", "continuations": ["was kind", "ran"],
                                "max_tokens": 4}, ctx)  # fmt: skip
    assert len(result["pairs"]) == 3 and result["continuations"] == ["was kind", "ran"]
    first = result["pairs"][0]
    assert isinstance(first["continuation_a"], str) and isinstance(first["continuation_b"], str)
    lm, tok = load(services, services.library.get(llama_id), ctx)
    prompt = _pairs()[0].a
    ids = tok(prompt + " ran", return_tensors="pt")["input_ids"]
    n = len(tok(prompt)["input_ids"])
    with torch.no_grad():
        logp = torch.log_softmax(lm(input_ids=ids).logits[0, :-1].float(), -1)
    by_hand = float(sum(logp[i - 1, ids[0, i]] for i in range(n, ids.shape[1])))
    got = first["logprobs"][1]
    assert got["text"] == "ran" and got["a"] == pytest.approx(by_hand, abs=1e-3)
    assert got["difference"] == pytest.approx(got["b"] - got["a"], abs=1e-3)
    with pytest.raises(UserError, match="At most 8 continuations"):
        outputs(services, {"model_id": llama_id, "set": "tiny", "continuations": ["x"] * 9}, ctx)
