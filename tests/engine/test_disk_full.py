"""A full disk is a message, never a crash: checked before work that writes (docs create, an
ingest, before each batch an ingest stores, a dataset import, unpacking the bundled model for a
first chat), and an ENOSPC that still happens becomes the same message in the CLI (exit 2), the
JSON-RPC answer and a job's failure, in the engine and in a worker. Free space is simulated here;
tests/faults/test_full_disk.py fills a real tmpfs."""

from __future__ import annotations

import errno

import pytest

from engine.core import space
from engine.core.errors import UserError


@pytest.fixture
def free(monkeypatch):
    """Set what the data folder's disk has free: ``free.set(n)``, or a function of the call."""

    class Free:
        value = 10**12

        def set(self, value):
            self.value = value

    state = Free()
    monkeypatch.setattr(space, "free_bytes", lambda _p: state.value() if callable(state.value) else state.value)  # fmt: skip
    return state


def test_the_message_names_the_disk_what_is_free_and_what_to_do(tmp_path, free):
    free.set(5 * 2**20)
    with pytest.raises(space.DiskFull) as info:
        space.require_free(tmp_path / "not" / "yet", 10 * 2**20)
    message = info.value.message
    assert message.startswith("The data folder on /") and "is full (5.2 MB free" in message
    assert "free 72.4 MB or more there, or move the data folder" in message
    free.set(10**12)
    space.require_free(tmp_path, 10 * 2**20)  # room: nothing raised


def test_cli_commands_refuse_up_front_with_exit_2(hearth_home, tmp_path, free, capsys):
    from engine.cli import main

    (tmp_path / "rows.jsonl").write_text('{"instruction": "a", "output": "b"}\n', encoding="utf-8")
    (tmp_path / "note.txt").write_text("Lanterns light the harbor.\n", encoding="utf-8")
    assert main(["docs", "create", "C"]) == 0
    capsys.readouterr()
    free.set(2**20)
    for argv in (["docs", "create", "D"], ["docs", "ingest", "C", str(tmp_path / "note.txt")],
                 ["data", "import", str(tmp_path / "rows.jsonl")]):  # fmt: skip
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "is full" in err and "move the data folder" in err and "Internal" not in err, argv


def test_an_ingest_stops_when_the_disk_fills_and_resumes_later(hearth_home, tmp_path, free, capsys):  # fmt: skip
    from engine.cli import main

    text = "\n\n".join(f"Paragraph {i} about lanterns, harbors and falcons number {i}." for i in range(400))  # fmt: skip
    (tmp_path / "long.txt").write_text(text, encoding="utf-8")
    assert main(["docs", "create", "C", "--chunk-tokens", "32", "--overlap-tokens", "0", "--batch-size", "8"]) == 0  # fmt: skip
    calls = {"n": 0}

    def filling(_path=None):
        calls["n"] += 1
        return 10**12 if calls["n"] <= 3 else 2**20  # room at the start, then the disk fills

    free.set(filling)
    assert main(["docs", "ingest", "C", str(tmp_path / "long.txt")]) == 2
    assert "is full" in capsys.readouterr().err
    free.set(10**12)
    assert main(["docs", "ingest", "C", "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert len(out["indexed"]) == 1 and not out["failed"]


def test_a_first_chat_on_a_full_disk_says_so(hearth_home, free, monkeypatch):
    from engine.chat.generate import default_model_id
    from engine.services import Services

    monkeypatch.delenv("HEARTH_SKIP_BUNDLED", raising=False)
    services = Services(hearth_home)
    try:
        free.set(2**20)
        with pytest.raises(UserError, match="is full") as info:
            default_model_id(services)
        assert "There is no chat model" not in info.value.message
    finally:
        services.close()


@pytest.mark.parametrize("kind", ["test.disk_full", "test.disk_full_worker"])
def test_enospc_inside_a_job_fails_it_with_the_message(hearth_home, kind):
    from engine.services import Services

    services = Services(hearth_home)
    try:
        job = services.jobs.wait(services.jobs.start(kind, {})["id"], 60)
    finally:
        services.close()
    assert job["state"] == "failed"
    assert "is full" in job["error"] and "Internal error" not in job["error"]


def test_enospc_in_an_rpc_method_is_a_user_error(hearth_home, monkeypatch):
    from engine.rpc import registry
    from tests.engine.chat.rpc import Client, call

    @registry.method("test.fill_disk")
    def fill(ctx):
        raise OSError(errno.ENOSPC, "No space left on device", str(hearth_home / "x"))

    from engine.services import Services

    client = Client(Services(hearth_home))
    try:
        answer = call(client, "test.fill_disk")
    finally:
        client.close()
        registry._METHODS.pop("test.fill_disk", None)
    assert answer["error"]["code"] == UserError.code and "is full" in answer["error"]["message"]


def test_a_short_write_without_errno_is_a_full_disk():
    # numpy's tofile (the GGUF writer's) says only how much it wrote
    assert space.is_disk_full(OSError("8192 requested and 6624 written"))
    assert space.is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not space.is_disk_full(OSError("8192 bytes"))
    assert not space.is_disk_full(OSError(errno.EACCES, "Permission denied"))
