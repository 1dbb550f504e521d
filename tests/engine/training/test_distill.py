"""Distillation as a training method: ``hearth-engine train distill`` trains a student on a
teacher's next-token distributions (the loss Pruning's recovery uses), the KL to the teacher goes
down, and a teacher that cannot teach the student is refused before any weights load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.cli import main
from engine.core.errors import UserError
from engine.training import launch
from engine.training.runs import RunStore
from tests.engine.training.conftest import FAST


@pytest.fixture
def teacher_id(services, tiny_folder, tmp_path) -> str:
    """The tiny model with other weights and the same tokenizer."""
    import torch
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "teacher"
    shutil.copytree(tiny_folder, folder)
    weights = folder / "model.safetensors"
    tensors = load_file(str(weights))
    generator = torch.Generator().manual_seed(1)
    save_file({k: v + 0.05 * torch.randn(v.shape, generator=generator) for k, v in tensors.items()},
              str(weights), metadata={"format": "pt"})  # fmt: skip
    return services.library.import_model(folder, mode="reference", name="Teacher")["id"]


def test_distill_lowers_the_kl_to_the_teacher(services, tiny_id, teacher_id, memo, capsys):
    flags = ["--teacher", teacher_id, "--student", tiny_id, "--dataset", memo, "--kd-weight", "1",
             "--max-steps", "12", "--batch", "4", "--grad-accum", "1", "--lr", "0.003", "--method", "full",
             "--seq-len", "64", "--eval-every", "0", "--validation-fraction", "0", "--json"]  # fmt: skip
    assert main(["train", "distill", *flags]) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    run = RunStore(services).get(summary["run_id"])
    assert run["options"]["teacher"] == teacher_id and run["model_id"] == tiny_id
    # kd_weight 1: the loss is the KL alone. 12 rows in batches of 4: each epoch sees the same
    # three batches, so the first epoch and the last are measured on the same rows
    kl = [m["loss"] for m in RunStore(services).metrics(run["id"]) if "loss" in m]
    assert len(kl) == 12
    assert sum(kl[-3:]) < 0.5 * sum(kl[:3])
    assert Path(summary["artifacts"]["model"]).is_dir()


def test_a_teacher_that_cannot_teach_is_refused_before_loading(services, tiny_id, memo, hearth_home):  # fmt: skip
    from tests.engine.runtimes.fixtures import bundled_home

    bundled_home(hearth_home)
    gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
    embedder = next(m for m in services.library.ensure_bundled() if m["role"] != "llm")
    cases = [(gemma["id"], "different tokenizers"), (tiny_id, "the same model"),
             (embedder["id"], "not a chat model")]  # fmt: skip
    for teacher, words in cases:
        with pytest.raises(UserError, match=words):
            launch.create_run(services, model_id=tiny_id, dataset=memo, options={**FAST, "teacher": teacher})  # fmt: skip
    assert RunStore(services).list() == []
    assert main(["train", "distill", "--teacher", gemma["id"], "--student", tiny_id, "--dataset", memo]) == 2  # fmt: skip
