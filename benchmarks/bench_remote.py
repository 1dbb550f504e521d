"""Remote runtime streaming benchmark: a model on an OpenAI-compatible server, read by Hearth's
remote runtime and by the official ``openai`` client, measured in one run.

llama-cpp-python's own server (``python -m llama_cpp.server``) serves the bundled Gemma 3 270M on
127.0.0.1. Two paths stream the same chat request (same messages, seed, sampling, max tokens):

- openai:  ``client.chat.completions.create(stream=True)`` -- the reference a user would run
- hearth:  ``engine.chat.generate`` on a library entry of format ``remote`` (what the Chat panel,
           document answers and dataset generation use): key lookup, consent check, request,
           SSE parsing, stop-string scanning and the delta callback

Each path is warmed up once, then they take turns for ``--runs`` rounds. Reported per path
(medians): time to first token (request sent -> first text received), decode tokens/s
((tokens - 1) / (last arrival - first arrival); tokens as the server counts them, or its chunks
when it sends no usage, one token each), and the
ratios of Hearth against openai taken round by round, then the median. Targets: >= 0.95x the
openai client's tokens/s, TTFT within 20 ms of it.

    .venv/bin/python benchmarks/bench_remote.py [--runs 10] [--max-tokens 128] [--threads N] [--json]

One run (two cores, 10 rounds, 128 tokens): openai client 38.9 tokens/s, TTFT 33.0 ms; Hearth
39.6 tokens/s (1.016x), TTFT 31.4 ms (-0.2 ms round by round).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import scratch_dir
from streaming import PROMPT, sample, summarize, take_turns

TPS_TARGET = 0.95
TTFT_TARGET_MS = 20.0
KEY = "bench-remote-key-0123456789"
SAMPLING = {"temperature": 0.8, "top_p": 0.95}


class OpenAIPath:
    name = "openai client"

    def __init__(self, url: str, model: str, args: Any) -> None:
        import openai

        self.client = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0, timeout=300)
        self.model, self.args = model, args

    def run(self) -> dict[str, Any]:
        arrivals, parts, tokens = [], [], 0
        t0 = time.perf_counter()
        stream = self.client.chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": PROMPT}], stream=True,
            max_tokens=self.args.max_tokens, seed=self.args.seed,
            stream_options={"include_usage": True}, **SAMPLING,
        )  # fmt: skip
        for chunk in stream:
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.perf_counter())
                parts.append(chunk.choices[0].delta.content)
        # llama.cpp's server sends one token per chunk and no usage when streaming
        return sample(t0, arrivals, tokens or len(parts), "".join(parts).strip())


class HearthPath:
    name = "hearth remote runtime"

    def __init__(self, services: Any, model_id: str, args: Any) -> None:
        self.services, self.model_id, self.args = services, model_id, args

    def run(self) -> dict[str, Any]:
        from engine.chat.generate import generate

        arrivals: list[float] = []
        t0 = time.perf_counter()
        result = generate(
            self.services, model_id=self.model_id,
            messages=[{"role": "user", "content": PROMPT}],
            params={"max_tokens": self.args.max_tokens, "seed": self.args.seed, **SAMPLING},
            on_delta=lambda _t: arrivals.append(time.perf_counter()),
        )  # fmt: skip
        return sample(t0, arrivals, result["usage"]["completion_tokens"], result["text"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=128, dest="max_tokens")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=None, help="the server's CPU threads")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    home = scratch_dir(prefix="hearth-bench-remote-")
    os.environ["HEARTH_HOME"] = str(home)
    os.environ["HEARTH_BENCH_REMOTE_KEY"] = KEY
    from engine.core.devices import physical_cores
    from engine.models import remote
    from engine.services import Services
    from tests.engine.runtimes.servers import LlamaServer

    args.threads = args.threads or physical_cores()
    services = Services(home)
    gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
    server = LlamaServer(Path(gemma["path"]), KEY, threads=args.threads)
    try:
        entry = remote.add(
            services, server.url, api_key_env="HEARTH_BENCH_REMOTE_KEY", confirm=True
        )
        paths = [OpenAIPath(server.url, entry["remote"]["model"], args),
                 HearthPath(services, entry["id"], args)]  # fmt: skip
        samples = take_turns(paths, args.runs)
    finally:
        server.stop()
        services.runtimes.close()
        services.close()

    summary = summarize(samples, paths[0].name)
    report = {"model": gemma["name"], "server": "llama_cpp.server", "runs": args.runs,
              "max_tokens": args.max_tokens, "seed": args.seed, "threads": args.threads,
              "paths": summary}  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{gemma['name']} on llama_cpp.server, {args.threads} threads, {args.runs} rounds, "
          f"{args.max_tokens} tokens at most (medians)")  # fmt: skip
    print(f"{'path':24s} {'TTFT ms':>8s} {'tok/s':>7s} {'tokens':>6s}")
    for name, row in summary.items():
        print(f"{name:24s} {row['ttft_ms']:8.1f} {row['tokens_per_s']:7.1f} {row['tokens']:6.0f}")
    row = summary[paths[1].name]
    tps_ok, ttft_ok = row["tps_ratio"] >= TPS_TARGET, row["ttft_delta_ms"] <= TTFT_TARGET_MS
    print(f"hearth: tokens/s {row['tps_ratio']:.3f}x the openai client (target >= {TPS_TARGET}: "
          f"{'met' if tps_ok else 'MISSED'}), TTFT {row['ttft_delta_ms']:+.1f} ms vs it "
          f"(target <= +{TTFT_TARGET_MS:.0f}: {'met' if ttft_ok else 'MISSED'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
