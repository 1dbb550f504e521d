"""SIGKILL of the engine while a training run trains in its worker: the run and its job agree
that they were interrupted (never "failed" with a broken pipe), and resuming reaches the same
losses at the same steps as a run that was never stopped."""

from __future__ import annotations

import json
import math

import pytest

from engine.jobs.store import JobStore
from engine.services import Services
from engine.training.runs import RUN_FILE, RunStore
from tests.engine.training.conftest import FAST, losses, new_run, train
from tests.faults.conftest import trials, wait_for

pytestmark = pytest.mark.faults

OPTIONS = {"max_steps": 60, "save_every": 4}


@pytest.mark.parametrize(("trial", "rng"), trials())
def test_kill_engine_during_training(trial, rng, services, tiny_id, memo, hearth_home, engine_factory):  # fmt: skip
    straight = new_run(services, tiny_id, memo, **OPTIONS)
    train(services, straight)
    expected = losses(services, straight)
    kill_after = rng.choice([4, 8, 12, 16])  # a checkpoint step: the kill lands after it was saved

    engine = engine_factory()
    started = engine.call("train.start", {"model_id": tiny_id, "dataset": memo,
                                          "options": {**FAST, **OPTIONS}})  # fmt: skip
    run_id, job_id = started["run"]["id"], started["job"]["id"]
    store = RunStore(services)

    def on_disk() -> dict:
        return json.loads((store.folder(run_id) / RUN_FILE).read_text(encoding="utf-8"))

    wait_for(lambda: (on_disk().get("step") or 0) >= kill_after, 120, f"step {kill_after} saved")
    engine.kill()
    # the orphaned worker notices, saves where it is and records why it stopped
    wait_for(lambda: on_disk().get("state") != "running", 60, "the worker to stop")
    assert on_disk()["state"] == "interrupted", (trial, kill_after, on_disk())
    assert not on_disk().get("error")

    fresh = Services(hearth_home)  # the engine's next start
    try:
        job = fresh.jobs.get(job_id)
        assert job["state"] == "interrupted", job
        assert RunStore(fresh).get(run_id)["state"] == "interrupted"
        job = fresh.jobs.wait(fresh.jobs.resume(job_id)["id"], 180)
        assert job["state"] == "succeeded", job
        got = losses(fresh, run_id)
        assert sorted(got) == sorted(expected), (trial, kill_after)
        for step, value in expected.items():
            assert math.isclose(value, got[step], rel_tol=1e-5, abs_tol=1e-6), (trial, kill_after, step)  # fmt: skip
        check = fresh.db().execute("PRAGMA integrity_check").fetchone()[0]
        assert check == "ok"
        assert JobStore(fresh).get(job_id)["state"] == "succeeded"
    finally:
        fresh.close()
