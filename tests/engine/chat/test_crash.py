"""A reply cut off by a killed engine is kept, marked interrupted, and the conversation is intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from engine.services import Services


def test_kill_9_mid_stream_keeps_the_partial_reply(services, gemma_id, hearth_home):
    conv = services.chats.create(model_id=gemma_id, title="Counting")
    env = dict(os.environ, HEARTH_SKIP_BUNDLED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        request = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "chat.send",
            "params": {
                "conversation_id": conv["id"],
                "content": "Count from 1 to 1000: 1, 2, 3,",
                "params": {
                    "max_tokens": 3000,
                    "ignore_eos": True,
                    "temperature": 0,
                    "template": "alpaca",
                },
            },
        }
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        proc.stdin.flush()
        streamed: list[str] = []
        first = None
        while first is None or time.monotonic() - first < 1.0:  # > FLUSH_EVERY_S of streaming
            msg = json.loads(proc.stdout.readline())
            assert "id" not in msg, msg  # no answer yet: still streaming
            if msg["method"] != "chat.delta":
                continue
            streamed.append(msg["params"]["text"])
            first = first or time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    fresh = Services(hearth_home)  # a new engine process would start like this
    thread = fresh.chats.thread(conv["id"])
    user, reply = thread["messages"]
    assert user["content"].startswith("Count from 1 to 1000")
    assert reply["role"] == "assistant" and reply["parent_id"] == user["id"]
    assert reply["interrupted"] and reply["partial"] and reply["state"] == "interrupted"
    assert reply["content"] and "".join(streamed).startswith(reply["content"])
    assert reply["metadata"]["model_id"] == gemma_id
    raw = fresh.db().execute("SELECT state FROM messages WHERE id = ?", (reply["id"],)).fetchone()
    assert raw["state"] == "interrupted"  # recovered on disk, not only reported
    fresh.close()
