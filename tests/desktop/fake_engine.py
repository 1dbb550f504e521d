"""A stand-in engine for EngineClient and GUI tests: speaks the protocol, misbehaves on request.

FAKE_ENGINE_MODE picks the behaviour:
  normal         answers like a healthy engine (with small canned data for the panels)
  garbage        also prints lines that are not JSON between real answers
  hang           answers initialize, then never answers anything again
  bad_protocol   claims protocol version 999
  exit_at_start  exits with code 4 before reading anything
FAKE_ENGINE_EMPTY=1 answers an empty model library and job list (the panels' empty states).
The method ``die`` makes it exit with code 3 while the request is pending.
``chat.*`` methods are answered by the small in-memory store in tests/desktop/chat/fake_chat.py,
``data.*`` (and ``jobs.*`` of its ``dj-`` jobs) by tests/desktop/datasets/fake_data.py,
``docs.*`` (and ``jobs.*`` of its ``di-`` jobs) by tests/desktop/documents/fake_docs.py,
``train.*`` (and ``jobs.get`` of its ``tj-`` jobs) by tests/desktop/training/fake_train.py, whose
exported models are listed in ``models.list`` after these.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from engine.jobs.events import progress_event

# the repository root, so the fakes can import tests.desktop.engine_answers (the real engine's
# describe-type answers); this script's own folder is already on sys.path
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

MODE = os.environ.get("FAKE_ENGINE_MODE", "normal")
EMPTY = os.environ.get("FAKE_ENGINE_EMPTY") == "1"
PREFS: dict = {}  # prefs.set values, checked by the engine's own PreferenceValues
lock = threading.Lock()
cancelled: set = set()

MODELS = [
    {
        "id": "gemma-1",
        "name": "Fake Gemma",
        "format": "gguf",
        "role": "llm",
        "arch": "gemma3",
        "params": 268_000_000,
        "quant": "Q4_K_M",
        "context_length": 32768,
        "chat_template": None,
        "size_bytes": 253_000_000,
        "path": "/models/fake.gguf",
        "managed": True,
        "bundled": True,
        "missing": False,
        "torch_path": None,
        "added_at": 0,
        "capabilities": {
            "chat_llama_cpp": True,
            "chat_transformers": True,
            "train": True,
            "prune": True,
            "embed": False,
            "convert": True,
        },
    },
    {
        "id": "gone-2",
        "name": "Moved Model",
        "format": "hf",
        "role": "llm",
        "arch": "llama",
        "params": 1_000_000,
        "quant": "f32",
        "context_length": 2048,
        "chat_template": "{{ messages }}",
        "size_bytes": 4_000_000,
        "path": "/nowhere",
        "managed": False,
        "bundled": False,
        "missing": True,
        "torch_path": None,
        "added_at": 0,
        "capabilities": {
            "chat_llama_cpp": False,
            "chat_transformers": True,
            "train": True,
            "prune": True,
            "embed": False,
            "convert": False,
        },
    },
]
JOB = {
    "id": "job-1",
    "kind": "models.convert",
    "title": "Convert Fake Gemma to torch",
    "params": {},
    "state": "running",
    "progress": 0.25,
    "message": "Dequantizing",
    "result": None,
    "error": None,
    "attempt": 1,
    "resumable": True,
    "created_at": time.time(),
    "started_at": time.time(),
    "finished_at": None,
}


def send(obj: dict) -> None:
    with lock:
        if MODE == "garbage":
            sys.stdout.write("### native library noise, not JSON ###\n")
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def reply(rid, result) -> None:
    send({"jsonrpc": "2.0", "id": rid, "result": result})


def slow(rid, params: dict) -> None:
    steps = int(params.get("steps", 50))
    for i in range(steps):
        if rid in cancelled:
            send(
                {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "error": {"code": -32800, "message": "Request cancelled.", "data": {"done": i}},
                }
            )
            return
        send({"jsonrpc": "2.0", "method": "test.tick", "params": {"id": rid, "i": i}})
        time.sleep(0.02)
    reply(rid, {"done": steps})


def emit_job(rid) -> None:
    for kind, state, progress in (
        ("begin", "running", None),
        ("report", "running", 0.5),
        ("end", "succeeded", 1.0),
    ):
        # the job's record changes first, as in the engine's store: a jobs.list that the
        # notification prompts must not answer the state from before it
        JOB.update(state=state, progress=progress if progress is not None else JOB["progress"])
        send(
            {
                "jsonrpc": "2.0",
                "method": "job.progress",
                "params": progress_event(
                    "job-1",
                    "models.convert",
                    kind,
                    state,
                    progress,
                    f"{kind} {state}",
                    result={"ok": True},
                ),
            }
        )
        time.sleep(0.05)
    reply(rid, {"ok": True})


def job_ending_first(rid, params: dict) -> None:
    """A job that ends before its start call answers (a quick job on a busy engine): its
    notifications, the end carrying the result as the engine's does, then the reply."""
    job_id = f"quick-{rid}"
    for kind, state, progress in (("begin", "running", None), ("report", "running", 0.5), ("end", params.get("state", "succeeded"), 1.0)):  # fmt: skip
        ok = state == "succeeded"
        note = progress_event(job_id, "fake.quick", kind, state, progress, f"{kind} {state}",
                              result={"answer": 42} if ok else None, error=None if ok else "it broke")  # fmt: skip
        if kind == "report":
            send({"jsonrpc": "2.0", "method": "job.metrics", "params": {"job_id": job_id, "step": 1, "values": {"loss": 1.5}}})  # fmt: skip
            send({"jsonrpc": "2.0", "method": "job.progress", "params": {**note, "job_id": "someone-else"}})  # fmt: skip
        send({"jsonrpc": "2.0", "method": "job.progress", "params": note})
    reply(rid, {"job": {"id": job_id, "state": "running"}})


def main() -> int:
    if MODE == "exit_at_start":
        print("fake engine refuses to start", file=sys.stderr, flush=True)
        return 4
    print("fake engine started", file=sys.stderr, flush=True)
    initialized = False
    for line in sys.stdin:
        msg = json.loads(line)
        method, rid, params = msg.get("method"), msg.get("id"), msg.get("params") or {}
        if MODE == "hang" and initialized:
            continue
        if method == "$/cancel":
            cancelled.add(params.get("id"))
        elif method == "initialize":
            initialized = True
            version = 999 if MODE == "bad_protocol" else params.get("protocol_version")
            reply(
                rid,
                {
                    "protocol_version": version,
                    "engine_version": "fake",
                    "pid": os.getpid(),
                    "data_root": "/fake",
                    "log_file": None,
                    "crash_file": os.environ.get("FAKE_CRASH_FILE"),
                    "devices": [
                        {
                            "type": "cpu",
                            "index": 0,
                            "name": "Fake CPU",
                            "memory_total_bytes": 8e9,
                            "memory_free_bytes": 4e9,
                        }
                    ],
                    "ram": {"total_bytes": 8e9, "available_bytes": 4e9},
                    "runtimes": {},
                    "capabilities": [],
                },
            )
        elif method == "ping":
            reply(rid, {"pong": True, "time": time.time()})
        elif method == "shutdown":
            reply(rid, None)
            return 0
        elif method == "die":
            print("fatal: the fake engine is dying on purpose", file=sys.stderr, flush=True)
            os._exit(3)
        elif method == "slow":
            threading.Thread(target=slow, args=(rid, params), daemon=True).start()
        elif method == "emit_job":
            threading.Thread(target=emit_job, args=(rid,), daemon=True).start()
        elif method == "fake.job_ending_first":
            threading.Thread(target=job_ending_first, args=(rid, params), daemon=True).start()
        elif method.startswith("chat."):
            from chat import fake_chat  # tests/desktop/chat/: this script's folder is on sys.path

            fake_chat.handle(method, rid, params, send, cancelled)
        elif method.startswith("docs.") or str(params.get("id")).startswith("di-"):
            from documents import fake_docs  # tests/desktop/documents/ (docs.* and its jobs)

            fake_docs.handle(method, rid, params, send, cancelled)
        elif method.startswith(("data.", "fake.data")) or str(params.get("id")).startswith("dj-"):
            from datasets import fake_data  # tests/desktop/datasets/ (data.* and its jobs)

            fake_data.handle(method, rid, params, send, cancelled)
        elif method.startswith(("train.", "fake.train")) or str(params.get("id")).startswith("tj-"):
            from training import fake_train  # tests/desktop/training/ (train.* and its jobs)

            fake_train.handle(method, rid, params, send, cancelled)
        elif method == "models.list":
            from training import fake_train

            reply(rid, {"models": [] if EMPTY else MODELS + fake_train.library_models})
        elif method == "models.quantize_options":
            from engine.models.quantize import options_for  # the engine's own rules

            model = next((m for m in MODELS if m["id"] == params.get("id")), None)
            if model is None:
                send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32002, "message": "No such model."}})  # fmt: skip
            else:
                reply(rid, options_for(model))
        elif method == "models.quantized":  # no quantized versions in the fake library
            reply(rid, {"root_id": params.get("id"), "base_id": None, "rows": [], "run_id": None,
                        "text": None})  # fmt: skip
        elif method in ("prefs.get", "prefs.set"):
            from engine.core.preferences import PreferenceValues  # the engine's own checks

            for key, value in (params.get("values") or {}).items():
                if value is None:
                    PREFS.pop(key, None)
                else:
                    PREFS[key] = PreferenceValues.check_value(key, value)
            reply(rid, {"preferences": {**PreferenceValues.defaults(), **PREFS},
                        "describe": PreferenceValues.describe()})  # fmt: skip
            if method == "prefs.set":
                send({"jsonrpc": "2.0", "method": "prefs.changed", "params": {}})
        elif method == "jobs.list":
            reply(rid, {"jobs": [] if EMPTY else [JOB]})
        elif method in ("jobs.get", "jobs.cancel"):
            reply(rid, dict(JOB, state="cancelled" if method == "jobs.cancel" else JOB["state"]))
        elif method == "jobs.log":
            reply(
                rid,
                {
                    "lines": [
                        {"seq": 1, "ts": time.time(), "level": "info", "message": "fake log line"}
                    ]
                },
            )
        elif method == "engine.status":
            reply(
                rid,
                {
                    "rss_bytes": 123_000_000,
                    "ram": {"total_bytes": 8e9, "available_bytes": 4e9},
                    "running_jobs": [],
                },
            )
        elif method == "fail":
            send(
                {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "error": {"code": -32001, "message": "You did something fixable."},
                }
            )
        elif rid is not None:
            send(
                {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "error": {"code": -32601, "message": f"Method not found: {method}"},
                }
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
