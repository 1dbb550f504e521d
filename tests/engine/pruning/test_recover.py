"""Recovery of a pruned model by distillation from its parent, as a training run."""

from __future__ import annotations

import json

import pytest
import torch

from engine.cli import main
from engine.jobs.registry import SimpleContext


def kl_to_teacher(teacher, student, windows) -> float:
    """Mean token KL(teacher || student) on ``windows``."""
    with torch.no_grad():
        t = torch.log_softmax(teacher(input_ids=windows).logits.float(), -1)
        s = torch.log_softmax(student(input_ids=windows).logits.float(), -1)
    return float((t.exp() * (t - s)).sum(-1).mean())


def test_distillation_lowers_the_students_kl_to_the_teacher(services, llama_id, text_file, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.pruning import calibrate, pipeline
    from engine.pruning.request import Request
    from engine.pruning.runs import PruneRunStore

    store = PruneRunStore(services)
    req = Request.from_dict({"model_id": llama_id, "method": "depth", "layers": 4, "selector": "first",
                             "file": str(text_file), "seq_len": 32, "calibration_tokens": 512,
                             "eval_tokens": 256})  # fmt: skip
    run = store.create({"name": "half", "request": req.to_dict(), "model_id": llama_id})
    pruned = pipeline.run(services, run["id"], SimpleContext(services=services))

    parent = services.library.get(llama_id)
    teacher = AutoModelForCausalLM.from_pretrained(parent["path"]).eval()
    tok = AutoTokenizer.from_pretrained(parent["path"])
    held = calibrate.windows(tok, text_file.read_text()[::-1], seq_len=32, max_tokens=256)
    student = AutoModelForCausalLM.from_pretrained(services.library.get(pruned["model_id"])["path"]).eval()  # fmt: skip
    before = kl_to_teacher(teacher, student, held)

    args = ["prune", "recover", run["id"], "--file", str(text_file), "--max-steps", "20", "--lr", "1e-3",
            "--kd-weight", "1.0", "--json"]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"run_id", "model_id", "ppl_before", "ppl_after"}
    assert out["ppl_before"] > 0 and out["ppl_after"] > 0
    recovered = services.library.get(out["model_id"])
    assert recovered["lineage"]["method"] == "distill"
    assert recovered["lineage"]["parent_id"] == pruned["model_id"]
    assert recovered["lineage"]["teacher_id"] == llama_id
    after = kl_to_teacher(teacher, AutoModelForCausalLM.from_pretrained(recovered["path"]).eval(), held)  # fmt: skip
    assert after < 0.8 * before

    # the run is an ordinary training run (curves, resume) and the pruning run lists it
    from engine.training.runs import RunStore

    train_run = RunStore(services).get(out["run_id"])
    assert train_run["options"]["teacher"] == llama_id and train_run["recover"]["prune_run"] == run["id"]  # fmt: skip
    assert train_run["chat"]["model"]["model_id"] == out["model_id"]
    assert [r["model_id"] for r in store.get(run["id"])["recoveries"]] == [out["model_id"]]


def test_recover_refuses_an_unfinished_run(services, llama_id, text_file):
    from engine.core.errors import UserError
    from engine.pruning import recover
    from engine.pruning.runs import PruneRunStore

    run = PruneRunStore(services).create({"name": "x", "request": {"model_id": llama_id}, "model_id": llama_id})  # fmt: skip
    with pytest.raises(UserError, match="no pruned model yet"):
        recover.start(services, run["id"])
