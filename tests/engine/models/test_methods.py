"""The models.* RPC handlers: bad requests fail at once, good ones start the right job."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from engine.core.errors import NotFoundError, UserError
from engine.rpc.registry import load_methods

from .conftest import write_gguf, write_hf_folder


class RecordingJobs:
    """Stands in for the JobManager: records what would have been started."""

    def __init__(self) -> None:
        self.started: list[tuple[str, dict]] = []

    def start(self, kind: str, params: dict) -> dict:
        self.started.append((kind, params))
        return {"id": f"job{len(self.started)}", "kind": kind, "params": params, "state": "queued"}

    def close(self) -> None:
        pass


@pytest.fixture
def call(services):
    methods = load_methods()
    jobs = RecordingJobs()
    services.__dict__["jobs"] = jobs  # replaces the cached JobManager
    ctx = SimpleNamespace(services=services, request_id=1, cancelled=lambda: False)

    def invoke(method_name: str, /, **params):
        return methods[method_name].fn(ctx, **params)

    invoke.jobs = jobs
    return invoke


def test_import_checks_before_starting_a_job(call, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        call("models.import", path=str(tmp_path / "missing.gguf"))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 20)
    with pytest.raises(UserError, match="GGUF"):
        call("models.import", path=str(bad))
    with pytest.raises(UserError, match="mode"):
        call("models.import", path=str(write_gguf(tmp_path / "ok.gguf")), mode="link")
    assert call.jobs.started == []

    answer = call("models.import", path=str(tmp_path / "ok.gguf"), mode="reference", name="Mine")
    assert answer["job"]["kind"] == "models.import"
    assert call.jobs.started == [
        (
            "models.import",
            {"path": str((tmp_path / "ok.gguf").resolve()), "mode": "reference", "name": "Mine"},
        )
    ]


def test_list_get_inspect_rename_remove(call, services, tmp_path):
    path = write_gguf(tmp_path / "t.gguf")
    assert call("models.inspect", path=str(path))["id"] is None
    model = services.library.import_model(path, mode="reference")
    assert call("models.list") == {"models": [model]}
    assert call("models.get", id=model["id"]) == model
    assert call("models.rename", id=model["id"], name="New")["name"] == "New"
    assert call("models.remove", id=model["id"]) == {"removed": model["id"]}
    with pytest.raises(NotFoundError):
        call("models.get", id=model["id"])


def test_convert_refuses_what_cannot_be_converted(call, services, tmp_path):
    hf = services.library.import_model(write_hf_folder(tmp_path / "hf"), mode="reference")
    with pytest.raises(UserError, match="needs no conversion"):
        call("models.convert", id=hf["id"])
    odd = services.library.import_model(
        write_gguf(tmp_path / "o.gguf", arch="rwkv7"), mode="reference"
    )
    with pytest.raises(UserError, match="architecture 'rwkv7'"):
        call("models.convert", id=odd["id"])
    gone = services.library.import_model(write_gguf(tmp_path / "g.gguf"), mode="reference")
    (tmp_path / "g.gguf").unlink()
    with pytest.raises(UserError, match="missing"):
        call("models.convert", id=gone["id"])
    assert call.jobs.started == []

    ok = services.library.import_model(write_gguf(tmp_path / "ok.gguf"), mode="reference")
    assert call("models.convert", id=ok["id"])["job"]["kind"] == "models.convert"
    assert call.jobs.started == [("models.convert", {"id": ok["id"], "name": ok["name"]})]


def test_import_through_the_job_manager(services, tmp_path):
    """The real JobManager runs the models.import kind and hands back the Model."""
    source = write_gguf(tmp_path / "t.gguf")
    ctx = SimpleNamespace(services=services, request_id=1, cancelled=lambda: False)
    started = load_methods()["models.import"].fn(ctx, path=str(source))
    job = services.jobs.wait(started["job"]["id"], timeout=30)
    assert job["state"] == "succeeded", job
    assert job["result"] == services.library.get(job["result"]["id"])
    assert job["result"]["managed"]
