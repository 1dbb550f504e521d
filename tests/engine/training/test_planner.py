"""The memory planner against a measured run, and its verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from engine.core.errors import UserError
from engine.training import launch, planner
from engine.training.config import TrainOptions

TOLERANCE = 0.35  # the estimate is within 35% of the measured peak RSS

MEASURE = r"""
import json, sys
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from engine.training import data, loss, modeling
from engine.training.config import TrainOptions
cfg, opts = json.loads(sys.argv[1]), TrainOptions.from_dict(json.loads(sys.argv[2]))
torch.manual_seed(0)
config = LlamaConfig(**cfg)
lm = LlamaForCausalLM(config)
class Tok:
    pad_token_id, eos_token = 0, "</s>"
model = modeling.prepare(lm, Tok(), opts, device="cpu", precision="fp32").model
optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
for _ in range(3):
    ids = torch.randint(0, config.vocab_size, (opts.batch_size, opts.seq_len))
    labels = ids.clone()
    labels[:, : opts.seq_len // 4] = -100  # a prompt
    batch = data.Batch(ids, labels, torch.ones_like(ids), None, 0, 0)
    total, n = loss.fused_loss(model, batch)
    (total / n).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
from engine.training.trainer import peak_rss_mb  # VmHWM: ru_maxrss inherits the parent's peak
print(json.dumps({"peak": peak_rss_mb() * 2**20,
                  "params": sum(p.numel() for p in lm.parameters()), "config": config.to_dict()}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads the peak RSS from /proc")
def test_estimate_is_close_to_the_measured_peak():
    cfg = {"vocab_size": 8192, "hidden_size": 256, "intermediate_size": 1024,
           "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 4,
           "tie_word_embeddings": False}  # fmt: skip
    options = {"batch_size": 4, "seq_len": 384, "rank": 16}
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    out = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(cfg), json.dumps(options)],
                         capture_output=True, text=True, timeout=300, env=env, check=True)  # fmt: skip
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    shape = planner.shape_from_config(measured["config"], measured["params"])
    estimate = planner.estimate(shape, TrainOptions.from_dict(options))
    ratio = estimate["total"] / measured["peak"]
    assert 1 - TOLERANCE <= ratio <= 1 + TOLERANCE, (estimate, measured["peak"])
    # the parts that grow with the configuration are a real share of it, not just the runtime
    assert estimate["activations"] > estimate["runtime"] / 2


def test_plan_refuses_what_will_not_fit_and_says_what_would(services, tiny_id, memo):
    model = services.library.get(tiny_id)
    opts = TrainOptions.from_dict({"batch_size": 64, "seq_len": 4096})
    need = planner.plan(services, model, opts)["total_bytes"]
    tight = planner.plan(services, model, opts, free=int(need * 0.6))
    assert tight["verdict"] == "refuse" and not tight["fits"]
    changes = [s["change"] for s in tight["suggestions"] if s["fits"]]
    assert changes and "will not fit" in tight["message"] and changes[0] in tight["message"]
    assert planner.plan(services, model, opts, free=need * 2)["verdict"] == "ok"
    assert planner.plan(services, model, opts, free=int(need * 1.05))["verdict"] == "warn"
    by_words = {s["change"]: s["values"] for s in tight["suggestions"]}
    assert by_words["seq_len 2048"] == {"seq_len": 2048}  # what the form sets, no parsing
    assert by_words["batch_size 32 with gradient_accumulation 4"] == {
        "batch_size": 32, "gradient_accumulation": 4}  # fmt: skip
    assert by_words["turn on gradient_checkpointing"] == {"gradient_checkpointing": True}


def test_start_refuses_a_plan_that_does_not_fit(services, tiny_id, memo, monkeypatch):
    monkeypatch.setattr(planner, "available", lambda device: 64 << 20)
    with pytest.raises(UserError, match="will not fit") as info:
        launch.start(services, model_id=tiny_id, dataset=memo, options={"max_steps": 1})
    assert info.value.data["plan"]["verdict"] == "refuse"
    run, plan = launch.create_run(services, model_id=tiny_id, dataset=memo, options={"max_steps": 1}, force=True)  # fmt: skip
    assert plan["verdict"] == "refuse" and run["state"] == "queued"


def test_gguf_model_shape_comes_from_the_header(services, tmp_path):
    import gguf
    import numpy as np

    path = tmp_path / "m.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    for key, value in (("embedding_length", 64), ("block_count", 2), ("feed_forward_length", 128),
                       ("attention.head_count", 4), ("attention.head_count_kv", 2)):  # fmt: skip
        w.add_uint32(f"llama.{key}", value)
    w.add_token_list(["a", "b", "c"])
    w.add_tensor("token_embd.weight", np.zeros((3, 64), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    model = services.library.import_model(path, mode="reference")
    shape = planner.model_shape(services, model)
    assert (shape.hidden, shape.layers, shape.intermediate, shape.heads, shape.kv_heads, shape.vocab) == (64, 2, 128, 4, 2, 3)  # fmt: skip


# the bundled Gemma 3 270M's config.json (the fields the planner reads)
GEMMA_270M = {"hidden_size": 640, "num_hidden_layers": 18, "intermediate_size": 2048,
              "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
              "vocab_size": 262144, "tie_word_embeddings": True}  # fmt: skip
LAPTOP = 8 * 2**30


@pytest.mark.parametrize("preset", [None, "quick", "balanced", "thorough"])
def test_the_defaults_and_presets_fit_a_laptop_with_8_gb(preset):
    # measured peaks for these on this machine's CPU: benchmarks/bench_planner.py
    shape = planner.shape_from_config(GEMMA_270M)
    plan = planner.estimate(shape, TrainOptions.from_dict({}, preset=preset))
    assert plan["total"] <= planner.WARN_FRACTION * LAPTOP, plan  # "ok" with 8 GB free
    assert plan["activations"] < 4 * 2**30
