"""``hearth-engine chat`` and ``hearth-engine bench chat`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def hearth(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )


def test_chat_json_prints_one_object_shaped_like_chat_generate(services):
    out = hearth(
        "chat", "Say hello", "--max-tokens", "12", "--seed", "3", "--json", "--system", "Be brief."
    )
    assert out.returncode == 0, out.stderr
    (line,) = out.stdout.strip().splitlines()
    result = json.loads(line)
    assert {"text", "usage", "timings", "finish_reason"} <= set(result)
    assert result["finish_reason"] in ("stop", "length")
    assert 0 < result["usage"]["completion_tokens"] <= 12 and result["usage"]["prompt_tokens"] > 0
    assert result["timings"]["ttft_ms"] > 0
    assert result["runtime"] == "llama_cpp" and result["template"] == "plain"
    streamed = hearth(
        "chat", "Say hello", "--max-tokens", "12", "--seed", "3", "--system", "Be brief."
    )
    assert (
        streamed.returncode == 0 and streamed.stdout == result["text"] + "\n"
    )  # same seed, same reply


def test_chat_errors_are_one_line_and_exit_2(services):
    out = hearth("chat", "hi", "--model", "no-such-model")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("hearth-engine: error: No model with id")
    out = hearth("chat", "hi", "--temperature", "9")
    assert out.returncode == 2 and "temperature must be from 0 to 5" in out.stderr


def test_bench_chat_json(services):
    out = hearth("bench", "chat", "--n-predict", "8", "--runs", "2", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["runtime"] == "llama_cpp" and report["prompt_tokens"] > 10
    assert report["completion_tokens"] == [8, 8]  # exactly n-predict, end-of-text ignored
    assert report["tokens_per_s"]["mean"] > 0 and report["ttft_ms"]["mean"] > 0
    assert report["prompt_tokens_per_s"]["mean"] > 0
