"""Prompt tuning: only the virtual tokens learn, the fused loss puts them where peft does, the run
lands in the library as a prompt-tuned model that chats and is scored in transformers, and what
cannot take virtual tokens (llama.cpp, merge, GGUF export, quantization) says so."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest

from engine.core.errors import UserError
from engine.runtimes.base import SamplingParams
from engine.training.config import TrainOptions
from tests.engine.training.conftest import new_run, straight_and_resumed, train

PROMPT = {"method": "prompt", "virtual_tokens": 6, "learning_rate": 3e-2}


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for file in sorted(folder.rglob("*")):
        if file.is_file():
            h.update(file.name.encode() + file.read_bytes())
    return h.hexdigest()


def _tiny(tiny_folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm = AutoModelForCausalLM.from_pretrained(tiny_folder, local_files_only=True)
    return lm, AutoTokenizer.from_pretrained(tiny_folder, local_files_only=True)


def _prepared(tiny_folder: Path, **options):
    from engine.training import modeling

    lm, tok = _tiny(tiny_folder)
    opts = TrainOptions.from_dict({**PROMPT, **options})
    return modeling.prepare(lm, tok, opts, device="cpu", precision="fp32"), tok


def _batch(tok, texts: list[str], prompt_len: int = 3):
    import torch

    from engine.training.data import IGNORE, Batch

    rows = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(map(len, rows))
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, IGNORE)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
        labels[i, prompt_len : len(row)] = torch.tensor(row[prompt_len:])
    return Batch(ids, labels, mask, None, learned=int((labels != IGNORE).sum()), tokens=int(mask.sum()))  # fmt: skip


# -- the model -------------------------------------------------------------------------------
def test_only_the_virtual_tokens_are_trainable(tiny_folder):
    loaded, _tok = _prepared(tiny_folder)
    trainable = {n: p.shape for n, p in loaded.model.named_parameters() if p.requires_grad}
    assert list(trainable) == ["prompt_encoder.default.embedding.weight"]
    assert tuple(trainable["prompt_encoder.default.embedding.weight"]) == (6, 64)
    assert loaded.trainable_params == 6 * 64


def test_virtual_tokens_start_from_the_init_text(tiny_folder):
    import torch

    loaded, tok = _prepared(tiny_folder, prompt_init="fox dog")
    ids = tok("fox dog", add_special_tokens=False)["input_ids"]
    want = (ids * 6)[:6]
    embed = loaded.model.get_input_embeddings()
    table = loaded.model.prompt_encoder["default"].embedding.weight
    assert torch.equal(table, embed(torch.tensor(want)))
    other, _ = _prepared(tiny_folder, seed=1)  # no text: random vocabulary rows, per seed
    again, _ = _prepared(tiny_folder, seed=1)
    t1 = other.model.prompt_encoder["default"].embedding.weight
    assert torch.equal(t1, again.model.prompt_encoder["default"].embedding.weight)
    assert not torch.equal(t1, table)


def test_fused_loss_puts_the_virtual_tokens_where_peft_does(tiny_folder):
    """The fused path builds the prompt-tuned input itself; peft's own forward (with labels) is
    the reference, for the loss and the virtual tokens' gradient; with the adapter disabled it is
    the base model's loss."""
    import torch

    from engine.training import loss

    loaded, tok = _prepared(tiny_folder)
    model = loaded.model
    model.eval()
    with torch.no_grad():  # trained-looking tokens, not the initial vocabulary rows
        model.prompt_encoder["default"].embedding.weight.add_(torch.randn(6, 64) * 0.5)
    batch = _batch(tok, ["word 3 is fox dog 3", "say the word number 11 now"])
    fused, n = loss.fused_loss(model, batch)
    (g_fused,) = torch.autograd.grad(fused, model.prompt_encoder["default"].embedding.weight)
    ref, n_ref = loss.model_loss(model, batch)
    (g_ref,) = torch.autograd.grad(ref, model.prompt_encoder["default"].embedding.weight)
    assert n == n_ref == batch.learned
    assert torch.allclose(fused, ref, rtol=1e-5, atol=1e-5)
    assert torch.allclose(g_fused, g_ref, rtol=1e-4, atol=1e-6)
    assert g_fused.abs().sum() > 0
    base_lm, _ = _tiny(tiny_folder)
    with torch.no_grad():
        plain, _ = loss.model_loss(base_lm, batch)
        with model.disable_adapter():
            assert loss.virtual_tokens(model) == 0
            off, _ = loss.fused_loss(model, batch)
    assert torch.allclose(off, plain, rtol=1e-5)
    assert not torch.allclose(fused.detach(), plain, rtol=1e-3)


def test_options_that_do_not_fit_prompt_tuning_are_refused():
    for extra, word in (({"packing": True}, "packing"), ({"objective": "dpo"}, "DPO"),
                        ({"teacher": "x"}, "a teacher")):  # fmt: skip
        with pytest.raises(UserError, match=f"Prompt tuning .*{word}"):
            TrainOptions.from_dict({**PROMPT, **extra}).validate()
    # its own rate by default, over a preset's LoRA one, but never over a given one
    assert TrainOptions.from_dict({"method": "prompt"}).learning_rate == 3e-2
    assert TrainOptions.from_dict({"method": "prompt"}, preset="quick").learning_rate == 3e-2
    slow = TrainOptions.from_dict({"method": "prompt", "learning_rate": 2e-4})
    assert slow.learning_rate == 2e-4 and "low for prompt tuning" in slow.rate_warning()
    assert TrainOptions.from_dict(PROMPT).rate_warning() is None


# -- a run -----------------------------------------------------------------------------------
def test_run_trains_the_virtual_tokens_only_and_registers_a_prompt_tuned_model(services, tiny_id, tiny_folder, memo):  # fmt: skip
    from safetensors.torch import load_file

    from engine.runtimes.manager import choose_runtime
    from engine.training.runs import RunStore

    before = _digest(tiny_folder)
    run_id = new_run(services, tiny_id, memo, **PROMPT, max_steps=16)
    summary = train(services, run_id)
    run = RunStore(services).get(run_id)
    assert _digest(tiny_folder) == before  # the base is untouched
    assert run["trainable_params"] == 6 * 64 and run["summary"]["fused_loss"] is True
    assert run["summary"]["perplexity_after"] < run["summary"]["perplexity_before"]
    folder = Path(summary["artifacts"]["adapter"])
    tensors = load_file(folder / "adapter_model.safetensors")
    assert {k: tuple(v.shape) for k, v in tensors.items()} == {"prompt_embeddings": (6, 64)}
    assert sum(f.stat().st_size for f in folder.iterdir()) < 16_000  # a few KB per task

    entry = services.library.get(run["models"]["prompt"])
    assert (entry["role"], entry["format"], entry["virtual_tokens"]) == ("adapter", "peft", 6)
    assert entry["base_model_id"] == tiny_id and not entry["missing"]
    assert entry["capabilities"]["chat_transformers"] and not entry["capabilities"]["chat_llama_cpp"]  # fmt: skip
    assert choose_runtime(entry, {}) == "transformers"
    with pytest.raises(UserError, match=r"llama\.cpp cannot run a prompt-tuned model"):
        choose_runtime(entry, {"runtime": "llama_cpp"})
    from engine.training.runs import chat_targets

    assert chat_targets(run)["model"] == {"model_id": entry["id"], "runtime": "transformers", "artifact": "prompt"}  # fmt: skip


def _greedy_with_virtual_tokens(tiny_folder: Path, table, ids: list[int], n: int) -> list[int]:
    """The reference decode: the base model on [virtual tokens; embedded ids], no peft, no cache."""
    import torch

    lm, _ = _tiny(tiny_folder)
    lm.eval()
    seq = list(ids)
    with torch.no_grad():
        for _ in range(n):
            embeds = torch.cat([table[None], lm.get_input_embeddings()(torch.tensor([seq]))], 1)
            seq.append(int(lm(inputs_embeds=embeds).logits[0, -1].argmax()))
    return seq[len(ids) :]


def test_prompt_tuned_model_chats_with_its_virtual_tokens(services, tiny_id, tiny_folder, memo):
    from safetensors.torch import load_file

    from engine.training.runs import RunStore

    run_id = new_run(services, tiny_id, memo, **PROMPT, max_steps=8)
    train(services, run_id)
    run = RunStore(services).get(run_id)
    table = load_file(Path(run["artifacts"]["adapter"]) / "adapter_model.safetensors")["prompt_embeddings"]  # fmt: skip
    greedy = SamplingParams(temperature=0.0, max_tokens=8, ignore_eos=True, repeat_penalty=1.0)
    with services.runtimes.use(run["models"]["prompt"]) as rt:
        assert rt.name == "transformers"
        ids = rt.tokenize("Say the word number 4")
        done = rt.generate(ids, sampling=greedy, raw=True)
    want = _greedy_with_virtual_tokens(tiny_folder, table, ids, 8)
    assert done.text == rt._tok.decode(want)
    with services.runtimes.use(tiny_id) as base:
        plain = base.generate(ids, sampling=greedy, raw=True)
    assert plain.text != done.text  # the virtual tokens change the answer


def test_prompt_tuned_model_is_scored_in_evaluate(services, tiny_id, memo):
    from engine.evaluation.perplexity import measure
    from engine.training.runs import RunStore

    run_id = new_run(services, tiny_id, memo, **PROMPT, max_steps=16)
    train(services, run_id)
    entry = services.library.get(RunStore(services).get(run_id)["models"]["prompt"])
    text = " ".join(f"word {i} is fox dog {i}" for i in range(40))
    tuned = measure(services, entry, text, max_tokens=200, seq_len=64)
    base = measure(services, services.library.get(tiny_id), text, max_tokens=200, seq_len=64)
    assert tuned["runtime"] == "transformers" and tuned["tokens"] == base["tokens"]
    assert tuned["ppl"] != base["ppl"]


def test_cancelled_prompt_tuning_resumes_to_the_same_losses(services, tiny_id, memo):
    a, b = straight_and_resumed(services, tiny_id, memo, cancel_at=5, **PROMPT, max_steps=8, save_every=3)  # fmt: skip
    assert sorted(a) == sorted(b) == list(range(1, 9))
    for step in a:
        assert math.isclose(a[step], b[step], rel_tol=1e-5, abs_tol=1e-6), (step, a[step], b[step])


def test_merge_export_and_quantize_say_why_not(services, tiny_id, memo):
    from engine.models.quantize import parse_type, refusal
    from engine.training.runs import RunStore
    from tests.engine.chat.rpc import Client, call

    run_id = new_run(services, tiny_id, memo, **PROMPT, max_steps=2)
    train(services, run_id)
    client = Client(services)
    try:
        for method, params in (("train.merge", {}), ("train.export", {"what": "merged"}),
                               ("train.export", {"what": "adapter"})):  # fmt: skip
            error = call(client, method, {"run": run_id, **params})["error"]
            assert "llama.cpp cannot run a prompt-tuned model" in error["message"]
    finally:
        client.close()
    entry = services.library.get(RunStore(services).get(run_id)["models"]["prompt"])
    assert "prompt-tuned" in refusal(entry, parse_type("q4_k_m"))


# -- the library -----------------------------------------------------------------------------
def test_a_prompt_tuning_folder_imports_on_a_base_that_fits(services, tiny_id, memo, tmp_path):
    from engine.training.runs import RunStore

    run_id = new_run(services, tiny_id, memo, **PROMPT, max_steps=2)
    train(services, run_id)
    folder = shutil.copytree(RunStore(services).get(run_id)["artifacts"]["adapter"], tmp_path / "task-a")  # fmt: skip
    with pytest.raises(UserError, match="pick the base model") as info:
        services.library.import_model(folder)
    assert info.value.data["needs_base"] is True
    entry = services.library.import_model(folder, base_model_id=tiny_id, name="Task A")
    assert (entry["format"], entry["base_model_id"], entry["virtual_tokens"]) == ("peft", tiny_id, 6)  # fmt: skip
    with services.runtimes.use(entry["id"]) as rt:
        assert rt.generate(rt.tokenize("hi"), sampling=SamplingParams(max_tokens=3)).completion_tokens > 0  # fmt: skip

    wide = tmp_path / "wide"
    shutil.copytree(folder, wide)
    config = json.loads((wide / "adapter_config.json").read_text())
    (wide / "adapter_config.json").write_text(json.dumps({**config, "token_dim": 640}))
    with pytest.raises(UserError, match=r"640-wide virtual tokens but Tiny embeds tokens 64 wide"):
        services.library.import_model(wide, base_model_id=tiny_id)

    lora = tmp_path / "lora"
    lora.mkdir()
    (lora / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    with pytest.raises(UserError, match=r"peft LORA folder, not a model.*export its adapter"):
        services.library.import_model(lora)


def test_cli_prompt_tuning(services, tiny_id, memo, capsys):
    from engine.cli import main
    from engine.training.runs import RunStore

    code = main(["train", "prompt-tuning", "--model", tiny_id, "--dataset", memo,
                 "--virtual-tokens", "4", "--max-steps", "3", "--seq-len", "64",
                 "--eval-every", "0", "--json"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    run = RunStore(services).get(out["run_id"])
    assert run["options"]["method"] == "prompt" and run["options"]["virtual_tokens"] == 4
    assert run["options"]["learning_rate"] == 3e-2  # prompt tuning's own default rate
    assert out["steps"] == 3 and run["models"]["prompt"]


def test_stopping_criteria_see_the_prompt_before_the_new_tokens(tiny_folder):
    """Generation goes in as embeddings; a stopping criterion still gets the usual ids (the
    prompt, then what was generated), so a stop string is looked for where it would be."""
    import torch
    from transformers import StoppingCriteria

    from engine.models.prompt_tuning import generate

    lm, tok = _tiny(tiny_folder)
    seen: list[list[int]] = []

    class Watch(StoppingCriteria):
        def __call__(self, ids, scores, **kw):
            seen.append(ids[0].tolist())
            return torch.zeros(ids.shape[0], dtype=torch.bool)

    ids = torch.tensor([tok("say the word", add_special_tokens=False)["input_ids"]])
    out = generate(lm, torch.randn(4, 64), ids, max_new_tokens=3, do_sample=False,
                   stopping_criteria=[Watch()], pad_token_id=0)  # fmt: skip
    assert out.shape[1] == ids.shape[1] + 3 and out[0, : ids.shape[1]].tolist() == ids[0].tolist()
    assert [len(s) for s in seen] == [ids.shape[1] + k for k in (1, 2, 3)]
    assert seen[-1] == out[0].tolist()
