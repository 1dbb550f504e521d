"""DPO and ORPO: the losses equal TRL's on a fixed batch, the reference model is the base with the
adapter switched off, runs learn to prefer the chosen replies and resume exactly, and each bad
input of the issue is refused or counted with a message saying what to do."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest

from engine.core.errors import UserError
from engine.training import launch, preference
from engine.training.config import TrainOptions
from engine.training.runs import RunStore
from tests.engine.training.conftest import (
    StepContext,
    import_dataset,
    memo_rows,
    new_run,
    straight_and_resumed,
    train,
)


def pref_rows(n: int = 12) -> list[dict[str, str]]:
    """Chosen: the memorisable answer; rejected: a reply that ignores the prompt."""
    return [
        {"prompt": f"Say the word number {i}", "chosen": f"word {i} is fox dog {i}",
         "rejected": "hello world, how are you today?"}
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture
def prefs(services, tmp_path) -> str:
    return import_dataset(services, tmp_path, pref_rows(), name="prefs")


PREF = {"eval_every": 4, "validation_fraction": 0.25, "learning_rate": 5e-3, "max_steps": 12,
        "batch_size": 2, "gradient_accumulation": 2}  # fmt: skip


# -- against TRL on a fixed batch ------------------------------------------------------------
def _tiny(folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.chat import templates
    from engine.training import data

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    template = templates.resolve({"name": "Tiny"}, choice="chatml")
    return tok, model, template, data


def _fixed_batch(tok, template, data, *, train_on_prompt: bool = False):
    encoder = data.hf_encoder(tok, template, train_on_prompt=False, model_name="Tiny")
    rows = [*pref_rows(3), {"prompt": "hi", "chosen": "the quick brown fox jumps over the lazy dog",
                            "rejected": "no"}]  # fmt: skip
    pairs, report = preference.encode_pairs(encoder, [data.pair_of(r) for r in rows], 64)
    assert report.kept == 4
    return pairs, preference.collate(pairs, [0, 1, 2, 3], pad_id=tok.pad_token_id)


def _ours(model, batch, pairs, reference, **options):
    opts = TrainOptions.from_dict(options)
    fn = preference.PreferenceLoss(opts, reference, fused=True)
    model.eval()
    total, n = fn(model, batch)
    return float(total.detach()) / n, fn.take()


@pytest.mark.parametrize("kind", ["sigmoid", "ipo"])
def test_dpo_loss_equals_trls_on_a_fixed_batch(tiny_folder, tmp_path, kind):
    import torch
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    tok, model, template, data = _tiny(tiny_folder)
    ref_model = copy.deepcopy(model)
    with torch.no_grad():  # a reference that differs from the policy
        for p in ref_model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    pairs, batch = _fixed_batch(tok, template, data)
    reference = preference.reference_logps(ref_model, pairs, batch_size=4, pad_id=tok.pad_token_id,
                                           device="cpu", precision="fp32", fused=True,
                                           cancelled=lambda: False)  # fmt: skip
    ours, stats = _ours(model, batch, pairs, reference, objective="dpo", beta=0.2, dpo_loss=kind)

    # bf16 off: TRL defaults to it, and its reference model would then run in bf16 autocast
    args = DPOConfig(output_dir=str(tmp_path / "trl"), report_to=[], use_cpu=True, bf16=False, beta=0.2,
                     loss_type=[kind])  # fmt: skip
    ds = Dataset.from_list(pref_rows(2))
    trainer = DPOTrainer(model=model, ref_model=ref_model, args=args, train_dataset=ds,
                         processing_class=tok)  # fmt: skip
    trainer.model.eval()
    inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
              "completion_mask": (batch.labels != data.IGNORE).long()}  # fmt: skip
    with torch.no_grad():
        theirs = float(trainer._compute_loss(trainer.model, inputs, False))
    assert ours == pytest.approx(theirs, abs=1e-4)
    logged = trainer._metrics["eval"]
    assert stats["reward_margin"] == pytest.approx(logged["rewards/margins"][-1], abs=1e-4)
    assert stats["reward_accuracy"] == pytest.approx(logged["rewards/accuracies"][-1], abs=1e-6)
    assert stats["reward_chosen"] == pytest.approx(logged["rewards/chosen"][-1], abs=1e-4)
    assert abs(ours - math.log(2)) > 1e-3  # the reference really differs from the policy


def test_orpo_loss_equals_trls_on_a_fixed_batch(tiny_folder, tmp_path):
    import torch
    from datasets import Dataset
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    tok, model, template, data = _tiny(tiny_folder)
    pairs, batch = _fixed_batch(tok, template, data)
    # TRL's ORPO learns the prompt tokens too in its NLL term; Hearth does with train_on_prompt
    ours, stats = _ours(model, batch, pairs, None, objective="orpo", beta=0.3, train_on_prompt=True)
    only_replies, _ = _ours(model, batch, pairs, None, objective="orpo", beta=0.3)
    assert abs(ours - only_replies) > 1e-3

    args = ORPOConfig(
        output_dir=str(tmp_path / "trl"), report_to=[], use_cpu=True, bf16=False, beta=0.3
    )
    trainer = ORPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(pref_rows(2)),
                          processing_class=tok)  # fmt: skip
    n = batch.learned
    theirs_batch = {f"{side}_{key}": value[sl] for side, sl in (("chosen", slice(0, n)), ("rejected", slice(n, None)))
                    for key, value in (("input_ids", batch.input_ids), ("attention_mask", batch.attention_mask),
                                       ("labels", batch.labels))}  # fmt: skip
    model.eval()
    with torch.no_grad():
        theirs, metrics = trainer.get_batch_loss_metrics(model, theirs_batch, train_eval="eval")
    assert ours == pytest.approx(float(theirs), abs=1e-4)
    assert stats["reward_margin"] == pytest.approx(float(metrics["eval_rewards/margins"]), abs=1e-4)
    assert stats["nll_loss"] == pytest.approx(float(metrics["eval_nll_loss"]), abs=1e-4)


def test_the_fused_sequence_scores_and_their_gradients_equal_the_plain_ones(tiny_folder):
    import torch

    tok, model, template, data = _tiny(tiny_folder)
    _pairs, batch = _fixed_batch(tok, template, data)
    model.eval()
    results = []
    for fused in (True, False):
        model.zero_grad()
        logps, counts, _ce, _rows = preference.sequence_logps(model, batch, fused=fused)
        (logps * torch.linspace(0.5, 1.5, logps.numel())).sum().backward()  # unequal row weights
        head = model.get_output_embeddings().weight.grad.clone()
        inner = model.model.layers[0].self_attn.q_proj.weight.grad.clone()
        results.append((logps.detach(), head, inner))
    (a, ha, ia), (b, hb, ib) = results
    assert torch.allclose(a, b, atol=1e-4)
    assert torch.allclose(ha, hb, atol=1e-5) and torch.allclose(ia, ib, atol=1e-5)
    assert counts.tolist() == (batch.labels[:, 1:] != data.IGNORE).sum(1).tolist()


def test_the_reference_is_the_model_with_its_adapter_switched_off(tiny_folder):
    import torch
    from peft import LoraConfig, get_peft_model

    tok, model, template, data = _tiny(tiny_folder)
    pairs, _batch = _fixed_batch(tok, template, data)
    kw = dict(batch_size=2, pad_id=tok.pad_token_id, device="cpu", precision="fp32", fused=True,
              cancelled=lambda: False)  # fmt: skip
    base = preference.reference_logps(model, pairs, **kw)
    tuned = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))  # fmt: skip
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if "lora_B" in name:
                p.add_(0.5)
    assert torch.allclose(preference.reference_logps(tuned, pairs, **kw), base, atol=1e-5)
    batch = preference.collate(pairs, list(range(len(pairs))), pad_id=tok.pad_token_id)
    with torch.no_grad():
        policy, *_ = preference.sequence_logps(tuned.eval(), batch, fused=True)
    assert not torch.allclose(policy[: len(pairs)], base[:, 0], atol=1e-2)
    assert tuned.training is False and all(not m.disable_adapters for m in _lora_layers(tuned))


def _lora_layers(model):
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


# -- runs ----------------------------------------------------------------------------------
def test_dpo_learns_to_prefer_the_chosen_replies(services, tiny_id, prefs):
    run_id = new_run(services, tiny_id, prefs, objective="dpo", beta=0.1, **PREF)
    ctx = StepContext(services=services)
    result = train(services, run_id, ctx)
    metrics = RunStore(services).metrics(run_id, after_step=-1)
    evals = [m for m in metrics if "eval_reward_accuracy" in m]
    assert [m["step"] for m in evals] == [0, 4, 8, 12]
    assert evals[0]["eval_reward_margin"] == pytest.approx(0.0, abs=1e-4)  # policy = reference
    assert evals[-1]["eval_reward_margin"] > 0.5 and evals[-1]["eval_reward_accuracy"] == 1.0
    steps = [m for m in metrics if "loss" in m]
    assert steps[0]["loss"] == pytest.approx(math.log(2), abs=0.05)
    assert steps[-1]["loss"] < 0.4 and {"reward_margin", "reward_accuracy", "reward_chosen"} <= set(steps[-1])  # fmt: skip
    assert result["reward_margin"] == evals[-1]["eval_reward_margin"]
    assert result["reward_accuracy"] == 1.0
    assert Path(result["artifacts"]["adapter"], "adapter_model.safetensors").is_file()
    folder = RunStore(services).folder(run_id)
    assert (folder / preference.REFERENCE_FILE).is_file()
    run = RunStore(services).get(run_id)
    assert run["objective"] == "dpo" and run["data"]["kept"] == 9  # 3 of 12 held out
    logs = [m for kind, (_lvl, m) in ((k, v) for k, v in ctx.events if k == "log")]
    assert any(m.startswith("Dropout is off for DPO") for m in logs)  # as TRL runs DPO


def test_orpo_trains_without_a_reference(services, tiny_id, prefs):
    run_id = new_run(services, tiny_id, prefs, objective="orpo", beta=0.5, **PREF)
    result = train(services, run_id)
    assert not (RunStore(services).folder(run_id) / preference.REFERENCE_FILE).exists()
    steps = [m for m in RunStore(services).metrics(run_id) if "loss" in m]
    assert steps[-1]["nll_loss"] < steps[0]["nll_loss"]
    assert result["reward_accuracy"] == 1.0 and result["reward_margin"] > 0


def test_a_cancelled_dpo_run_resumes_to_the_same_losses(services, tiny_id, prefs):
    options = {"objective": "dpo", **PREF, "eval_every": 0, "save_every": 4, "dropout": 0.1}
    a, b = straight_and_resumed(services, tiny_id, prefs, cancel_at=5, **options)
    assert sorted(a) == sorted(b) == list(range(1, 13))
    for step in a:
        assert math.isclose(a[step], b[step], rel_tol=1e-5, abs_tol=1e-6), (step, a[step], b[step])


# -- bad input -----------------------------------------------------------------------------
def test_dpo_on_a_dataset_without_rejected_replies_is_refused(services, tiny_id, tmp_path):
    memo = import_dataset(services, tmp_path, memo_rows(), name="memo")
    with pytest.raises(UserError) as info:
        launch.create_run(services, model_id=tiny_id, dataset=memo, options={"objective": "dpo"})
    text = info.value.message
    assert "memo is a alpaca dataset, with no rejected replies" in text
    assert "prompt, chosen and rejected" in text


def test_pairs_whose_replies_are_the_same_are_left_out_and_counted(services, tiny_id, tmp_path):
    rows = pref_rows(8)
    for row in rows[:3]:
        row["rejected"] = row["chosen"] + "  "
    name = import_dataset(services, tmp_path, rows, name="some-same")
    run_id = new_run(services, tiny_id, name, objective="dpo", **{**PREF, "max_steps": 2, "validation_fraction": 0.0})  # fmt: skip
    ctx = StepContext(services=services)
    train(services, run_id, ctx)
    run = RunStore(services).get(run_id)
    assert run["data"]["identical"] == 3 and run["data"]["kept"] == 5
    logs = [m for kind, (_lvl, m) in ((k, v) for k, v in ctx.events if k == "log")]
    assert any("Left out 3 pairs whose chosen and rejected replies are the same" in m for m in logs)

    same = [{**r, "rejected": r["chosen"]} for r in pref_rows(4)]
    name = import_dataset(services, tmp_path, same, name="all-same")
    with pytest.raises(UserError, match="4 whose chosen and rejected replies are the same"):
        launch.create_run(services, model_id=tiny_id, dataset=name,
                          options={"objective": "dpo", "validation_fraction": 0.0})  # fmt: skip


@pytest.mark.parametrize(
    ("options", "words"),
    [({"objective": "dpo", "packing": True}, "turn packing off"),
     ({"objective": "orpo", "teacher": "x"}, "does not take a teacher"),
     ({"objective": "dpo", "dpo_loss": "ipo", "label_smoothing": 0.1}, "not ipo"),
     ({"objective": "kto"}, "objective must be one of sft, dpo, orpo")],
)  # fmt: skip
def test_option_combinations_that_cannot_work_are_refused(options, words):
    with pytest.raises(UserError, match=words):
        TrainOptions.from_dict(options)


def test_the_plan_counts_both_replies_of_each_pair():
    from engine.training.planner import Shape, estimate

    shape = Shape(params=200_000, vocab=1000, hidden=64, intermediate=128, layers=2, heads=4,
                  kv_heads=2, head_dim=16)  # fmt: skip
    sft = estimate(shape, TrainOptions.from_dict({}))
    dpo = estimate(shape, TrainOptions.from_dict({"objective": "dpo"}))
    assert dpo["activations"] == pytest.approx(2 * sft["activations"], rel=0.01)


def test_cli_train_dpo_and_orpo(services, tiny_id, prefs, capsys):
    import json

    from engine.cli import main

    flags = ["--model", tiny_id, "--dataset", prefs, "--max-steps", "4", "--seq-len", "64",
             "--lr", "0.005", "--eval-every", "0", "--json"]  # fmt: skip
    for command in ("dpo", "orpo"):
        assert main(["train", command, *flags, "--beta", "0.2"]) == 0, capsys.readouterr().err
        summary = json.loads(capsys.readouterr().out)
        assert list(summary) == ["run_id", "steps", "first_loss", "final_loss", "tokens_per_s",
                                 "peak_rss_mb", "artifacts", "reward_margin", "reward_accuracy"]  # fmt: skip
        run = RunStore(services).get(summary["run_id"])
        assert run["objective"] == command and run["options"]["beta"] == 0.2
        assert 0.0 <= summary["reward_accuracy"] <= 1.0 and summary["steps"] == 4
    memo = import_dataset(services, Path(RunStore(services).folder(summary["run_id"])), memo_rows(), name="memo")  # fmt: skip
    assert main(["train", "dpo", "--model", tiny_id, "--dataset", memo]) == 2
    assert "no rejected replies" in capsys.readouterr().err


def test_orpo_with_train_on_prompt_compares_the_replies_alone(services, tiny_id, prefs):
    """train_on_prompt widens ORPO's NLL term to the prompts; the rewards stay the replies'."""
    first = {}
    for on_prompt in (False, True):
        run_id = new_run(services, tiny_id, prefs, objective="orpo", train_on_prompt=on_prompt,
                         **{**PREF, "max_steps": 1, "eval_every": 0})  # fmt: skip
        train(services, run_id)
        first[on_prompt] = next(m for m in RunStore(services).metrics(run_id) if "loss" in m)
    assert first[True]["reward_chosen"] == pytest.approx(first[False]["reward_chosen"], abs=1e-6)
    assert first[True]["reward_rejected"] == pytest.approx(first[False]["reward_rejected"], abs=1e-6)  # fmt: skip
    assert abs(first[True]["nll_loss"] - first[False]["nll_loss"]) > 1e-3


def test_pairs_that_become_the_same_once_cut_are_left_out(tiny_folder):
    tok, _model, template, data = _tiny(tiny_folder)
    encoder = data.hf_encoder(tok, template, train_on_prompt=False, model_name="Tiny")
    shared = "the quick brown fox jumps over the lazy dog " * 3
    rows = [{"prompt": "hi", "chosen": shared + "yes", "rejected": shared + "no"}]
    pairs, report = preference.encode_pairs(encoder, [data.pair_of(r) for r in rows], 24)
    assert pairs == [] and report.identical == 1
    pairs, report = preference.encode_pairs(encoder, [data.pair_of(r) for r in rows], 256)
    assert len(pairs) == 1 and report.identical == 0
