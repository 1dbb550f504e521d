"""Training on the tiny random Llama: the loss goes down, a resumed run (after a cancel, or after
its worker is SIGKILLed) reaches the same loss at the same step as an uninterrupted one, and each
bad input of the issue stops with a message saying what to change."""

from __future__ import annotations

import errno
import json
import math
from pathlib import Path

import pytest

from engine.core.errors import Cancelled, UserError
from engine.training import checkpoint, launch
from engine.training.runs import RunStore
from tests.engine.training.conftest import (
    StepContext,
    import_dataset,
    losses,
    memo_rows,
    new_run,
    train,
)


def test_lora_learns_a_memorisable_set(services, tiny_id, memo):
    run_id = new_run(services, tiny_id, memo, max_steps=30, eval_every=10, save_every=10,
                     validation_fraction=0.2)  # fmt: skip
    ctx = StepContext(services=services)
    result = train(services, run_id, ctx)
    assert result["final_loss"] < 0.85 * result["first_loss"]
    assert result["tokens_per_s"] > 0 and result["peak_rss_mb"] > 0
    assert Path(result["artifacts"]["adapter"], "adapter_model.safetensors").is_file()
    run = RunStore(services).get(run_id)
    assert run["state"] == "succeeded" and run["step"] == 30
    assert run["summary"]["perplexity_after"] < run["summary"]["perplexity_before"]
    assert run["template"]["end_of_turn"] == "<|im_end|>"  # the tiny model's ChatML end of turn
    samples = [m for kind, (_lvl, m) in ((k, v) for k, v in ctx.events if k == "log") if m.startswith("Sample at step")]  # fmt: skip
    assert any("step 10" in s for s in samples) and any("step 30" in s for s in samples)
    steps = {s for s, values in (v for k, v in ctx.events if k == "metrics") if "loss" in values}
    assert steps == set(range(1, 31))
    eval_steps = {
        s for s, values in (v for k, v in ctx.events if k == "metrics") if "eval_loss" in values
    }
    assert {0, 10, 20, 30} <= eval_steps


def test_resume_after_cancel_reaches_the_same_loss_at_the_same_step(services, tiny_id, memo):
    options = {"max_steps": 16, "save_every": 5, "dropout": 0.1, "gradient_accumulation": 2,
               "batch_size": 2, "learning_rate": 5e-3}  # fmt: skip
    straight = new_run(services, tiny_id, memo, **options)
    train(services, straight)
    interrupted = new_run(services, tiny_id, memo, **options)
    with pytest.raises(Cancelled) as info:
        train(services, interrupted, StepContext(services=services, cancel_at=7))
    assert info.value.partial["step"] == 7  # a checkpoint was written for the cancelled step
    assert checkpoint.latest(RunStore(services).folder(interrupted)).name == "step-00000007"
    train(services, interrupted, StepContext(services=services, attempt=2))
    a, b = losses(services, straight), losses(services, interrupted)
    assert sorted(a) == sorted(b) == list(range(1, 17))
    for step in a:
        assert math.isclose(a[step], b[step], rel_tol=1e-5, abs_tol=1e-6), (step, a[step], b[step])


class _MidStepCancel(StepContext):
    """Asks to cancel once the next step's first micro-batch has run (its second is next)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.calls_after: int | None = None

    def metrics(self, step: int, values: dict[str, float]) -> None:
        super().metrics(step, values)
        if step == self.cancel_at and "loss" in values:
            self.cancel_flag, self.calls_after = False, 0

    def cancelled(self) -> bool:
        if self.calls_after is not None:
            self.calls_after += 1  # the loop's check, micro-batch 1's, micro-batch 2's
            return self.calls_after >= 3
        return super().cancelled()


def test_a_step_cancelled_between_its_micro_batches_resumes_with_the_same_dropout(
    services, tiny_id, memo
):
    options = {"max_steps": 12, "save_every": 0, "dropout": 0.1, "gradient_accumulation": 2,
               "batch_size": 2, "learning_rate": 5e-3}  # fmt: skip
    straight = new_run(services, tiny_id, memo, **options)
    train(services, straight)
    interrupted = new_run(services, tiny_id, memo, **options)
    with pytest.raises(Cancelled) as info:
        train(services, interrupted, _MidStepCancel(services=services, cancel_at=5))
    assert info.value.partial["step"] == 5  # step 6 had begun, and did not count
    train(services, interrupted, StepContext(services=services, attempt=2))
    a, b = losses(services, straight), losses(services, interrupted)
    assert sorted(b) == list(range(1, 13))
    for step in a:
        assert math.isclose(a[step], b[step], rel_tol=1e-5, abs_tol=1e-6), (step, a[step], b[step])


def test_resume_after_kill_9_of_the_worker(services, tiny_id, memo):
    options = {"max_steps": 12, "save_every": 4, "dropout": 0.1}
    straight = new_run(services, tiny_id, memo, **options)
    train(services, straight)
    killed = new_run(services, tiny_id, memo, **options)
    job = services.jobs.start("test.train_killed", {"run_id": killed, "kill_at": 6})
    job = services.jobs.wait(job["id"], 120)
    assert job["state"] == "failed" and "killed" in job["error"]
    assert RunStore(services).get(killed)["state"] == "failed"  # the job's state wins
    assert checkpoint.latest(RunStore(services).folder(killed)).name == "step-00000004"
    job = services.jobs.wait(services.jobs.resume(job["id"])["id"], 120)
    assert job["state"] == "succeeded", job
    a, b = losses(services, straight), losses(services, killed)
    assert sorted(b) == list(range(1, 13))
    assert all(math.isclose(a[s], b[s], rel_tol=1e-5, abs_tol=1e-6) for s in a), (a, b)


def test_out_of_memory_fails_the_job_naming_the_setting_and_the_engine_lives_on(
    services, tiny_id, memo
):
    run_id = new_run(services, tiny_id, memo, batch_size=4)
    job = services.jobs.wait(services.jobs.start("test.train_oom", {"run_id": run_id})["id"], 120)
    assert job["state"] == "failed"
    assert "Out of memory" in job["error"] and "batch_size" in job["error"]
    assert "gradient_checkpointing" in job["error"]
    after = services.jobs.wait(services.jobs.start("test.count", {"n": 2, "delay": 0})["id"], 30)
    assert after["state"] == "succeeded"


def test_nan_or_exploding_loss_stops_with_a_message(services, tiny_id, memo):
    run_id = new_run(services, tiny_id, memo, method="full", learning_rate=10.0, max_grad_norm=0.0,
                     max_steps=20)  # fmt: skip
    with pytest.raises(UserError, match="learning_rate") as info:
        train(services, run_id)
    assert "Training stopped at step" in info.value.message
    assert RunStore(services).get(run_id)["state"] == "failed"


def test_disk_full_while_checkpointing_keeps_the_last_good_checkpoint(
    services, tiny_id, memo, monkeypatch
):
    run_id = new_run(services, tiny_id, memo, max_steps=12, save_every=3)
    real = checkpoint.write_bytes
    calls = {"n": 0}

    def fill_up(path, data):
        if "step-00000006" in str(path):
            calls["n"] += 1
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(checkpoint, "write_bytes", fill_up)
    with pytest.raises(UserError, match="disk filled up") as info:
        train(services, run_id)
    assert "step 3" in info.value.message and calls["n"] == 1
    folder = RunStore(services).folder(run_id)
    kept = checkpoint.latest(folder)
    assert kept.name == "step-00000003" and checkpoint.load(kept)["state"]["step"] == 3
    assert not list((folder / "checkpoints").glob(".step-*"))  # no half-written folder left
    monkeypatch.setattr(checkpoint, "write_bytes", real)
    result = train(services, run_id)  # space freed: the run resumes from step 3
    assert result["steps"] == 12


def test_a_dataset_left_empty_by_the_length_limit_is_refused_before_start(
    services, tiny_id, tmp_path
):
    rows = [{"instruction": "tell me a long story " * 30, "input": "", "output": "no"}] * 3
    name = import_dataset(services, tmp_path, rows, "long")
    with pytest.raises(UserError, match="seq_len 32"):
        launch.start(services, model_id=tiny_id, dataset=name, options={"seq_len": 32})
    assert RunStore(services).list() == [] and services.jobs.list() == []


def test_a_model_the_runtime_cannot_train_is_refused(services, tmp_path):
    import gguf
    import numpy as np

    path = tmp_path / "odd.gguf"
    writer = gguf.GGUFWriter(str(path), "rwkv6")
    writer.add_name("Odd RWKV")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    model = services.library.import_model(path, mode="reference")
    with pytest.raises(UserError, match="architecture 'rwkv6'"):
        launch.start(services, model_id=model["id"], dataset="anything")


def test_qlora_without_cuda_is_refused_with_what_to_do(services, tiny_id, memo):
    from engine.core.devices import best_device

    if best_device() == "cuda":
        pytest.skip("this machine has CUDA")
    with pytest.raises(UserError, match="CUDA") as info:
        launch.start(services, model_id=tiny_id, dataset=memo, options={"method": "qlora"})
    assert "method lora" in info.value.message


def test_dora_and_full_fine_tuning_train(services, tiny_id, memo):
    for method in ("dora", "full"):
        run_id = new_run(services, tiny_id, memo, method=method, max_steps=6,
                         learning_rate=1e-2 if method == "dora" else 1e-3)  # fmt: skip
        result = train(services, run_id)
        assert result["final_loss"] < result["first_loss"]
        key = "model" if method == "full" else "adapter"
        assert Path(result["artifacts"][key]).is_dir()


def test_packing_with_gradient_checkpointing_trains(services, tiny_id, memo):
    run_id = new_run(
        services, tiny_id, memo, packing=True, gradient_checkpointing=True, max_steps=8
    )
    result = train(services, run_id)
    assert result["final_loss"] < result["first_loss"]
    data = json.loads((RunStore(services).folder(run_id) / "run.json").read_text())["data"]
    assert data["kept"] == len(memo_rows()) - 1  # one row held out for validation (5%, at least 1)


@pytest.mark.gpu
def test_qlora_trains_on_cuda(services, tiny_id, memo):
    torch = pytest.importorskip("torch")
    pytest.importorskip("bitsandbytes")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    run_id = new_run(services, tiny_id, memo, method="qlora", max_steps=10)
    result = train(services, run_id)
    assert result["final_loss"] < result["first_loss"]
