"""Jobs: persistence, progress, cancel, resume, worker subprocesses and crash recovery."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from engine.core.errors import UserError
from engine.services import Services


@pytest.fixture
def services(hearth_home):
    s = Services()
    events: list[tuple[str, dict]] = []
    s.add_listener(lambda m, p: events.append((m, p)))
    s.events = events
    yield s
    s.close()


def test_thread_job_succeeds_with_progress_metrics_and_result(services):
    job = services.jobs.start("test.count", {"n": 5, "delay": 0.01})
    assert job["state"] in ("queued", "running") and job["title"] == "Count to 5"
    done = services.jobs.wait(job["id"], 10)
    assert done["state"] == "succeeded"
    assert done["result"] == {"counted": 5, "attempt": 1}
    assert done["progress"] == 1.0 and done["finished_at"] >= done["started_at"]
    assert done["message"] == "step 5/5"  # what the job said at 1.0, not a bare "Done."
    ended = [p for m, p in services.events if m == "job.progress" and p.get("kind") == "end"]
    assert ended[-1]["message"] == "step 5/5"
    metrics = services.jobs.store.metrics(job["id"])
    assert [m["value"] for m in metrics] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert any(m == "job.metrics" for m, _ in services.events)


def test_jobs_persist_across_services_instances(services, hearth_home):
    job = services.jobs.wait(services.jobs.start("test.count", {"n": 2, "delay": 0})["id"], 10)
    other = Services()
    assert other.jobs.get(job["id"])["state"] == "succeeded"
    assert job["id"] in [j["id"] for j in other.jobs.list()]


def test_cancel_running_job_keeps_partial_result(services):
    job = services.jobs.start("test.count", {"n": 500, "delay": 0.02})
    time.sleep(0.2)
    services.jobs.cancel(job["id"])
    done = services.jobs.wait(job["id"], 10)
    assert done["state"] == "cancelled"
    assert 0 < done["result"]["reached"] < 500


def test_failed_job_records_reason_and_can_resume(services):
    job = services.jobs.wait(
        services.jobs.start("test.count", {"n": 2, "delay": 0, "fail": True})["id"], 10
    )
    assert job["state"] == "failed" and "Planned failure" in job["error"]
    assert any("Planned failure" in line["message"] for line in services.jobs.log(job["id"]))
    services.jobs.store._db.execute(
        "UPDATE jobs SET params=? WHERE id=?", ('{"n": 2, "delay": 0}', job["id"])
    )
    resumed = services.jobs.wait(services.jobs.resume(job["id"])["id"], 10)
    assert (
        resumed["state"] == "succeeded"
        and resumed["result"]["attempt"] == 2
        and resumed["attempt"] == 2
    )


def test_resume_refuses_running_and_non_resumable(services):
    job = services.jobs.start("test.count", {"n": 100, "delay": 0.02})
    with pytest.raises(UserError, match="only failed, cancelled or interrupted"):
        services.jobs.resume(job["id"])
    services.jobs.cancel(job["id"])
    services.jobs.wait(job["id"], 10)
    stubborn = services.jobs.start("test.stubborn", {"seconds": 0})
    services.jobs.cancel(stubborn["id"])
    services.jobs.wait(stubborn["id"], 10)
    with pytest.raises(UserError, match="cannot be resumed"):
        services.jobs.resume(stubborn["id"])


def test_unknown_kind_and_state_are_user_errors(services):
    with pytest.raises(UserError, match="Unknown job kind"):
        services.jobs.start("no.such.kind", {})
    with pytest.raises(UserError, match="Unknown job state"):
        services.jobs.list(states=["sleeping"])


def test_worker_job_runs_in_another_process_and_relays_everything(services):
    job = services.jobs.wait(services.jobs.start("test.heavy", {"n": 3, "delay": 0.01})["id"], 60)
    assert job["state"] == "succeeded", job
    assert job["result"]["pid"] != os.getpid() and job["result"]["steps"] == 3
    lines = [line["message"] for line in services.jobs.log(job["id"])]
    assert "did step 2" in lines
    assert any(
        "noise on fd 1" in line for line in lines
    )  # native prints land in the log, not the channel
    assert [m["value"] for m in services.jobs.store.metrics(job["id"])] == [
        1.0,
        0.5,
        pytest.approx(1 / 3),
    ]


def test_worker_crash_fails_only_that_job(services):
    job = services.jobs.wait(
        services.jobs.start("test.heavy", {"n": 5, "crash_at": 1, "delay": 0.01})["id"], 60
    )
    assert job["state"] == "failed"
    assert "SIGSEGV" in job["error"]
    killed = services.jobs.wait(
        services.jobs.start("test.heavy", {"n": 5, "oom_at": 1, "delay": 0.01})["id"], 60
    )
    assert killed["state"] == "failed" and "out of memory" in killed["error"]
    # the engine (this process) lives on and runs the next job
    assert (
        services.jobs.wait(services.jobs.start("test.count", {"n": 1, "delay": 0})["id"], 10)[
            "state"
        ]
        == "succeeded"
    )


def test_worker_user_error_and_cancel(services):
    job = services.jobs.wait(
        services.jobs.start("test.heavy", {"n": 1, "user_error": True})["id"], 60
    )
    assert job["state"] == "failed" and job["error"].startswith("The worker refused the input")
    job = services.jobs.start("test.heavy", {"n": 1000, "delay": 0.05})
    deadline = time.monotonic() + 30
    while services.jobs.get(job["id"])["state"] != "running" or not services.jobs.store.metrics(
        job["id"]
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    services.jobs.cancel(job["id"])
    done = services.jobs.wait(job["id"], 30)
    assert done["state"] == "cancelled" and done["result"]["reached"] >= 1


def test_worker_ignoring_cancel_is_killed(services, monkeypatch):
    from engine.jobs import subprocess_runner

    monkeypatch.setattr(subprocess_runner, "CANCEL_GRACE_S", 0.5)
    job = services.jobs.start("test.stubborn", {"seconds": 120})
    time.sleep(1.5)
    t0 = time.monotonic()
    services.jobs.cancel(job["id"])
    done = services.jobs.wait(job["id"], 30)
    assert done["state"] == "cancelled"
    assert time.monotonic() - t0 < 10


def test_cancel_from_another_process(services, hearth_home):
    job = services.jobs.start("test.count", {"n": 1000, "delay": 0.02})
    out = subprocess.run(
        [sys.executable, "-m", "engine", "jobs", "cancel", job["id"]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert services.jobs.wait(job["id"], 10)["state"] == "cancelled"


CRASHER = """
import os, sys, time
from engine.services import Services
s = Services()
job = s.jobs.start("test.count", {"n": 10000, "delay": 0.05})
print(job["id"], flush=True)
time.sleep(0.5)
os._exit(9)  # dies without any clean-up, like a crash
"""


def test_jobs_of_a_crashed_engine_become_interrupted_and_resume(hearth_home):
    out = subprocess.run(
        [sys.executable, "-c", CRASHER], capture_output=True, text=True, timeout=60
    )
    job_id = out.stdout.strip().splitlines()[-1]
    services = Services()
    try:
        job = services.jobs.get(job_id)
        assert job["state"] == "interrupted", job
        assert "stopped" in job["message"]
        services.jobs.store._db.execute(
            "UPDATE jobs SET params=? WHERE id=?", ('{"n": 3, "delay": 0}', job_id)
        )
        resumed = services.jobs.wait(services.jobs.resume(job_id)["id"], 10)
        assert resumed["state"] == "succeeded" and resumed["attempt"] == 2
    finally:
        services.close()


def test_shutdown_marks_running_jobs_interrupted(hearth_home):
    services = Services()
    job = services.jobs.start("test.count", {"n": 1000, "delay": 0.02})
    time.sleep(0.2)
    services.close()
    assert Services().jobs.get(job["id"])["state"] == "interrupted"


def test_worker_jobs_announce_their_changes_from_the_engine(services):
    job = services.jobs.wait(services.jobs.start("test.changes", {})["id"], 60)
    assert job["state"] == "succeeded"
    assert ("models.changed", {}) in services.events


def test_a_workers_log_holds_the_job_and_not_library_noise(services, hearth_home):
    job = services.jobs.wait(services.jobs.start("test.noisy", {})["id"], 60)
    assert job["state"] == "succeeded", job
    lines = [r["message"] for r in services.db().execute("SELECT message FROM job_log WHERE job_id = ?", (job["id"],))]  # fmt: skip
    assert "the job's own line" in lines
    assert not any("Loading weights" in line or "FutureWarning" in line for line in lines), lines
    assert "a library's deprecation notice" in (hearth_home / "logs" / "worker.log").read_text()
