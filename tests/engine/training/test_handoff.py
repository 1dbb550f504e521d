"""A run handed to a cluster: the folder written, its TRL + accelerate script run here with
``accelerate launch`` on the CPU, its per-step losses against Hearth's own run of the same
options, and the adapter it wrote brought back into the library; plus what is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from engine.core.errors import UserError
from engine.jobs.registry import SimpleContext
from engine.training import handoff
from tests.engine.training.conftest import losses, new_run, train

# dropout 0: the two trainers draw their dropout masks from different random streams, and
# nothing else in a step is random (the adapters start from the same seed)
SAME = {"max_steps": 6, "batch_size": 2, "gradient_accumulation": 2, "dropout": 0.0,
        "learning_rate": 5e-3, "warmup_ratio": 0.2, "lr_schedule": "cosine", "seed": 3}  # fmt: skip
# Hearth computes the loss with its fused head in one pass, TRL through the model's forward:
# float32 sums in another order, so a few 1e-6 apart at the first step, growing with the steps
RTOL = 1e-3


def _launch(folder, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "",
           "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "2"}  # fmt: skip
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--cpu",
               "train.py", *args]  # fmt: skip
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=900)


def test_the_exported_script_trains_like_hearth_and_comes_back(services, tiny_id, memo, tmp_path):
    run_id = new_run(services, tiny_id, memo, **SAME)
    train(services, run_id)
    ours = losses(services, run_id)
    out = tmp_path / "cluster"
    written = handoff.write(services, run_id, out)
    assert written["steps"] == 6 and written["micro_batches"] == 12
    for name in ("train.py", "README.md", "hearth_handoff.json", "data/train.jsonl",
                 "data/validation.jsonl", "data/train_tokens.jsonl", "data/order.json",
                 "accelerate/ddp.yaml", "accelerate/fsdp.yaml", "accelerate/zero2.yaml", "accelerate/zero3.yaml"):  # fmt: skip
        assert (out / name).is_file(), name
    assert f"--run {run_id}" in (out / "README.md").read_text()
    tokens = [
        json.loads(line) for line in (out / "data/train_tokens.jsonl").read_text().splitlines()
    ]
    assert all(
        -100 in t["labels"] and len(t["labels"]) == len(t["input_ids"]) for t in tokens
    )  # prompts masked

    done = _launch(out)
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = {row["step"]: row["loss"] for row in map(json.loads, (out / "output/losses.jsonl").read_text().splitlines())}  # fmt: skip
    assert sorted(theirs) == sorted(ours) == list(range(1, 7))
    for step in ours:
        assert theirs[step] == pytest.approx(ours[step], rel=RTOL), (step, ours, theirs)
    assert ours[6] < ours[1]  # and it learned

    ctx = SimpleContext(services=services)
    from engine.training.jobs import import_result

    ctx.params = {"run_id": run_id, "folder": str(out)}
    got = import_result(ctx)
    made = services.library.get(got["model_id"])
    assert made["role"] == "adapter" and made["base_model_id"] == got["base_model_id"]
    from engine.training.runs import RunStore

    run = RunStore(services).get(got["run_id"])
    original = RunStore(services).get(run_id)
    assert run["name"].endswith("(cluster)") and run["dataset"] == original["dataset"]
    assert run["model_name"] == original["model_name"] and run["objective"] == "sft"
    assert losses(services, got["run_id"]) == theirs


def test_what_cannot_be_handed_off_or_brought_back(services, tiny_id, memo, tmp_path):
    packed = new_run(services, tiny_id, memo, packing=True)
    with pytest.raises(UserError, match="packs rows"):
        handoff.write(services, packed, tmp_path / "p")
    run_id = new_run(services, tiny_id, memo, max_steps=2)
    out = tmp_path / "cluster"
    handoff.write(services, run_id, out)
    with pytest.raises(UserError, match="is not empty"):
        handoff.write(services, run_id, out)
    with pytest.raises(UserError, match=r"holds no adapter.*Did the cluster run finish"):
        handoff.import_result(services, out, run_id)
    other = new_run(services, tiny_id, memo, max_steps=2)
    with pytest.raises(UserError, match=f"was handed off from run {run_id}, not {other}"):
        handoff.import_result(services, out, other)
    # an adapter made for another base: no layer of the tiny Llama is 100 wide
    import torch
    from safetensors.torch import save_file

    adapter = out / "output" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(4, 100)},
              str(adapter / "adapter_model.safetensors"))  # fmt: skip
    with pytest.raises(UserError, match=r"trained on another base model: .* is 100 wide"):
        handoff.import_result(services, out, run_id)
    shutil.rmtree(adapter)
    save_dir = out / "output" / "adapter"
    save_dir.mkdir()
    (save_dir / "adapter_config.json").write_text("{}")
    with pytest.raises(UserError, match=r"no adapter_model\.safetensors"):
        handoff.import_result(services, out, run_id)
    # an adapter saved from shards without gathering them: empty matrices
    save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(0)},
              str(save_dir / "adapter_model.safetensors"))  # fmt: skip
    with pytest.raises(
        UserError, match=r"shape \[0\], not a matrix: it was saved from a sharded run"
    ):
        handoff.import_result(services, out, run_id)
    # the hand-off of another base: its recorded shape differs
    stamp = json.loads((out / "hearth_handoff.json").read_text())
    stamp["base"]["fingerprint"]["hidden_size"] = 4096
    (out / "hearth_handoff.json").write_text(json.dumps(stamp))
    with pytest.raises(UserError, match=r"trained on another base model than Tiny .*hidden_size 4096 there, 64 here"):  # fmt: skip
        handoff.import_result(services, out, run_id)
    (out / "hearth_handoff.json").write_text("{not json")
    with pytest.raises(UserError, match="cannot be read"):
        handoff.import_result(services, out, run_id)
    (out / "hearth_handoff.json").unlink()
    with pytest.raises(UserError, match="not a hand-off folder of Hearth"):
        handoff.import_result(services, out, run_id)
