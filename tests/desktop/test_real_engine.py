"""EngineClient against the real engine process: streaming, cancel, crash, restart, interrupted jobs."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from desktop.engine_client import EngineState
from desktop.errors import CancelledError, EngineCrashedError, UserFacingError
from tests.desktop.test_engine_client import wait_call


def test_job_progress_streams_and_job_succeeds(qtbot, make_client):
    client = make_client(real=True)
    assert client.init_reply["data_root"] == os.environ["HEARTH_HOME"]
    events = []
    client.sig_job_progress.connect(lambda p: events.append((p["kind"], p["progress"])))
    kind, started = wait_call(
        qtbot, client.call("jobs.start", {"kind": "test.count", "params": {"n": 5, "delay": 0.02}})
    )
    assert kind == "ok"
    kind, job = wait_call(
        qtbot, client.call("jobs.wait", {"id": started["job"]["id"]}), timeout=20000
    )
    assert job["state"] == "succeeded" and job["result"]["counted"] == 5
    qtbot.waitUntil(lambda: events and events[-1][0] == "end", timeout=5000)
    assert events[0][0] == "begin" and (("report", 1.0) in events or events[-1] == ("end", 1.0))


def test_cancel_a_pending_request(qtbot, make_client):
    client = make_client(real=True)
    _, started = wait_call(
        qtbot,
        client.call("jobs.start", {"kind": "test.count", "params": {"n": 1000, "delay": 0.02}}),
    )
    job_id = started["job"]["id"]
    waiting = client.call("jobs.wait", {"id": job_id})
    qtbot.wait(300)
    waiting.cancel()
    kind, error = wait_call(qtbot, waiting)
    assert kind == "error" and isinstance(error, CancelledError)
    assert error.data["id"] == job_id and error.data["state"] == "running"
    kind, job = wait_call(qtbot, client.call("jobs.cancel", {"id": job_id}))
    kind, job = wait_call(qtbot, client.call("jobs.wait", {"id": job_id}), timeout=20000)
    assert job["state"] == "cancelled"


def test_user_errors_arrive_typed(qtbot, make_client, tmp_path):
    client = make_client(real=True)
    kind, error = wait_call(
        qtbot,
        client.call("models.import", {"path": str(tmp_path / "missing.gguf"), "mode": "copy"}),
    )
    assert (
        kind == "error" and isinstance(error, UserFacingError) and "missing.gguf" in error.message
    )


def test_killed_engine_restarts_and_its_job_is_interrupted(qtbot, make_client):
    client = make_client(real=True)
    first_pid = client.init_reply["pid"]
    _, started = wait_call(
        qtbot,
        client.call("jobs.start", {"kind": "test.count", "params": {"n": 10000, "delay": 0.05}}),
    )
    job_id = started["job"]["id"]
    pending = client.call("jobs.wait", {"id": job_id})
    qtbot.wait(300)
    with qtbot.waitSignal(client.sig_ready, timeout=30000):
        os.kill(first_pid, signal.SIGKILL)
    assert isinstance(pending.error, EngineCrashedError)
    assert client.state == EngineState.READY and client.init_reply["pid"] != first_pid
    kind, job = wait_call(qtbot, client.call("jobs.get", {"id": job_id}))
    assert kind == "ok" and job["state"] == "interrupted"
    kind, resumed = wait_call(qtbot, client.call("jobs.resume", {"id": job_id}))
    assert kind == "ok" and resumed["attempt"] == 2


def test_models_panel_imports_a_dropped_gguf_through_the_engine(qtbot, make_client, tmp_path):
    from desktop.main_window import MainWindow
    from tests.engine.models.conftest import write_gguf

    client = make_client(real=True)
    window = MainWindow(client)
    qtbot.addWidget(window)
    window.show()
    panel = window.panels["models"]
    gguf = write_gguf(tmp_path / "tiny.gguf", name="Tiny Dropped")
    panel.copy_checkbox.setChecked(False)  # reference: the file stays where it is
    panel.import_paths([str(gguf)])
    qtbot.waitUntil(lambda: panel.table_model.row_of_name("Tiny Dropped") >= 0, timeout=20000)
    row = panel.table_model.row_of_name("Tiny Dropped")
    assert panel.table_model.index(row, 7).data() == "referenced"
    qtbot.waitUntil(lambda: "done" in panel.message.text(), timeout=10000)
    # a corrupt file: the engine refuses it before any job starts and the panel says why
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 10)
    panel.import_paths([str(bad)])
    qtbot.waitUntil(lambda: panel.message.kind == "error", timeout=10000)
    assert "GGUF" in panel.message.text()


def models_window(qtbot, client):
    """The main window on the Models panel, once the engine is ready: (window, panel)."""
    from desktop.main_window import MainWindow

    window = MainWindow(client)
    qtbot.addWidget(window)
    window.show()
    window.show_panel("models")
    qtbot.waitUntil(lambda: client.state == EngineState.READY, timeout=30000)
    return window, window.panels["models"]


def models_window_with_gemma(qtbot, make_client, hearth_home):
    """The Models panel on the real engine with the bundled Gemma registered (not assembled)."""
    from engine.services import Services
    from tests.engine.runtimes.fixtures import bundled_home

    bundled_home(hearth_home)
    services = Services(hearth_home)
    services.library.ensure_bundled()
    services.close()
    window, panel = models_window(qtbot, make_client(real=True))
    panel.refresh()
    qtbot.waitUntil(lambda: any(m["role"] == "llm" for m in panel.table_model.records()), timeout=30000)  # fmt: skip
    return window, panel


def test_models_panel_asks_for_the_base_of_a_lora_adapter(
    qtbot, make_client, hearth_home, tmp_path
):
    from tests.engine.runtimes.fixtures import write_lora_gguf

    window, panel = models_window_with_gemma(qtbot, make_client, hearth_home)
    gemma = next(m for m in panel.table_model.records() if m["role"] == "llm" and m["bundled"])
    adapter = write_lora_gguf(tmp_path / "tuned.gguf", Path(gemma["path"]))
    offered: list[tuple[str, list[str], str | None]] = []

    def choose(name, bases, arch, kind="LoRA"):
        offered.append((name, [b["id"] for b in bases], arch))
        return gemma["id"]

    panel.choose_base = choose
    panel.copy_checkbox.setChecked(False)
    panel.import_paths([str(adapter)])
    qtbot.waitUntil(lambda: bool(offered), timeout=20000)
    assert offered[0] == ("tuned.gguf", [gemma["id"]], "gemma3")  # GGUF chat models only
    imported = lambda: [m for m in panel.table_model.records() if m["role"] == "adapter" and not m["bundled"]]  # noqa: E731  # fmt: skip
    qtbot.waitUntil(lambda: bool(imported()), timeout=20000)  # (the starter adapter is bundled)
    tuned = imported()[0]
    assert tuned["base_model_id"] == gemma["id"]
    # declining the question imports nothing and leaves no error behind
    panel.choose_base = lambda *_a: None
    panel.import_paths([str(write_lora_gguf(tmp_path / "other.gguf", Path(gemma["path"])))])
    qtbot.wait(1500)
    assert len(imported()) == 1


def test_models_panel_imports_virtual_tokens_on_a_base_it_asks_for(
    qtbot, make_client, hearth_home, tmp_path
):
    """A prompt-tuning folder (peft's files) asks for a base among the models transformers runs,
    and its details say plainly that llama.cpp cannot run it."""
    import json

    import torch
    from safetensors.torch import save_file

    from desktop.panels.models.panel import details_html

    window, panel = models_window_with_gemma(qtbot, make_client, hearth_home)
    gemma = next(m for m in panel.table_model.records() if m["role"] == "llm" and m["bundled"])
    folder = tmp_path / "task-tokens"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "PROMPT_TUNING", "task_type": "CAUSAL_LM", "num_virtual_tokens": 4,
         "token_dim": 640, "num_transformer_submodules": 1}))  # fmt: skip
    save_file({"prompt_embeddings": torch.zeros(4, 640)}, str(folder / "adapter_model.safetensors"))  # fmt: skip
    asked: list[tuple[list[str], str]] = []

    def choose(name, bases, arch, kind="LoRA"):
        asked.append(([b["id"] for b in bases], kind))
        return gemma["id"]

    panel.choose_base = choose
    panel.copy_checkbox.setChecked(False)
    panel.import_paths([str(folder)])
    qtbot.waitUntil(lambda: bool(asked), timeout=20000)
    assert asked[0] == ([gemma["id"]], "prompt tuning")
    made = lambda: [m for m in panel.table_model.records() if m.get("format") == "peft"]  # noqa: E731
    qtbot.waitUntil(lambda: bool(made()), timeout=20000)
    shown = details_html(made()[0])
    assert "4 learned virtual tokens" in shown and "llama.cpp cannot run it" in shown


def test_models_panel_relinks_a_moved_model(qtbot, make_client, tmp_path):
    from desktop.main_window import MainWindow
    from tests.engine.models.conftest import write_gguf

    client = make_client(real=True)
    window = MainWindow(client)
    qtbot.addWidget(window)
    window.show()
    window.show_panel("models")
    panel = window.panels["models"]
    gguf = write_gguf(tmp_path / "tiny.gguf", name="Tiny Moved")
    panel.copy_checkbox.setChecked(False)
    panel.import_paths([str(gguf)])
    qtbot.waitUntil(lambda: panel.table_model.row_of_name("Tiny Moved") >= 0, timeout=20000)
    moved = tmp_path / "moved" / "tiny.gguf"
    moved.parent.mkdir()
    gguf.rename(moved)
    panel.refresh()
    qtbot.waitUntil(
        lambda: panel.table_model.model_at(panel.table_model.row_of_name("Tiny Moved"))["missing"],
        timeout=10000,
    )
    panel.table.selectRow(panel.table_model.row_of_name("Tiny Moved"))
    assert not panel.locate_button.isHidden()  # offered only for a missing model
    asked = []
    panel.choose_new_place = lambda m: (asked.append(m["name"]), str(moved))[1]
    panel.locate_button.click()
    qtbot.waitUntil(lambda: "is back" in panel.message.text(), timeout=10000)
    row = panel.table_model.row_of_name("Tiny Moved")
    qtbot.waitUntil(lambda: not panel.table_model.model_at(row)["missing"], timeout=10000)
    assert asked == ["Tiny Moved"] and panel.table_model.model_at(row)["path"] == str(moved)
    qtbot.waitUntil(lambda: panel.locate_button.isHidden(), timeout=5000)
