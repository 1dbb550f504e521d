"""Local API streaming benchmark: Hearth's OpenAI-compatible API against raw llama-cpp-python,
measured in one run.

Three paths stream the same reply from the bundled Gemma 3 270M GGUF -- same rendered prompt
(the alpaca template, so the base model writes a long reply), seed, sampling settings, stop
strings, context size and threads:

- raw:          ``llama_cpp.Llama.create_completion(stream=True)`` in this process
- api (http):   ``POST /v1/chat/completions`` with ``stream: true`` to a ``hearth-engine api``
                subprocess, read with ``http.client`` (the server's own overhead: HTTP, SSE, JSON)
- api (openai): the same through the official ``openai`` client (what users run; its parsing of
                every chunk is included)

Each path is warmed up once (model load, connection), then the paths take turns for ``--runs``
rounds. Reported per path (medians): time to first token (request sent -> first text received),
decode tokens/s ((tokens - 1) / (last arrival - first arrival)) and the ratios against raw, taken
round by round and then the median, so load from other programs drifting during the run cancels
out. Targets: >= 0.95x raw tokens/s, TTFT within 30 ms of raw. With a seed each request evaluates
its prompt from scratch (Hearth's rule for reproducible replies); raw gets ``Llama.reset()``
before each run to match.

    .venv/bin/python benchmarks/bench_api.py [--runs 10] [--max-tokens 128] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TPS_TARGET = 0.95
TTFT_TARGET_MS = 30.0
TOKEN = "hearth-bench-token-0123456789"
PROMPT = "Write a long story about an old lighthouse keeper and the storm that changed his life."
SAMPLING = {"temperature": 0.8, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1}


def _sample(t0: float, arrivals: list[float], tokens: int, text: str) -> dict[str, Any]:
    first, last = arrivals[0], arrivals[-1]
    tps = (tokens - 1) / (last - first) if tokens > 1 and last > first else float("nan")
    return {"ttft_ms": (first - t0) * 1000, "tokens_per_s": tps, "tokens": tokens, "text": text}


class RawPath:
    name = "raw llama-cpp-python"

    def __init__(self, model_path: str, prompt: str, stops: list[str], args: Any) -> None:
        import llama_cpp

        self.llm = llama_cpp.Llama(
            model_path,
            n_ctx=4096,
            n_threads=args.threads,
            n_threads_batch=args.threads,
            verbose=False,
        )
        self.prompt, self.stops, self.args = prompt, stops, args

    def run(self) -> dict[str, Any]:
        self.llm.reset()
        arrivals, parts = [], []
        t0 = time.perf_counter()
        stream = self.llm.create_completion(
            self.prompt, max_tokens=self.args.max_tokens, stop=self.stops, seed=self.args.seed,
            stream=True, **SAMPLING,
        )  # fmt: skip
        for chunk in stream:
            text = chunk["choices"][0]["text"]
            if text:
                arrivals.append(time.perf_counter())
                parts.append(text)
        arrivals.append(time.perf_counter())
        text = "".join(parts)
        tokens = len(self.llm.tokenize(text.encode("utf-8"), add_bos=False)) if text else 0
        return _sample(t0, arrivals, tokens, text.strip())


def _body(model_id: str, args: Any) -> dict[str, Any]:
    return {
        "model": model_id,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": args.max_tokens,
        "seed": args.seed,
        "template": args.template,
        "stream": True,
        "stream_options": {"include_usage": True},
        **SAMPLING,
    }


class HttpPath:
    name = "api (http.client)"

    def __init__(self, url: str, model_id: str, args: Any) -> None:
        parsed = urlparse(url)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
        self.path = parsed.path + "/chat/completions"
        self.model_id, self.args = model_id, args

    def run(self) -> dict[str, Any]:
        body = json.dumps(_body(self.model_id, self.args))
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        arrivals, parts, usage = [], [], None
        t0 = time.perf_counter()
        self.conn.request("POST", self.path, body, headers)
        response = self.conn.getresponse()
        if response.status != 200:
            raise SystemExit(f"the API answered {response.status}: {response.read()[:300]!r}")
        while True:
            line = response.readline()
            if not line:
                break
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                break
            chunk = json.loads(data)
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or []:
                text = choice["delta"].get("content")
                if text:
                    arrivals.append(time.perf_counter())
                    parts.append(text)
        response.read()  # the end of the chunked body: the connection is reused
        arrivals.append(time.perf_counter())
        return _sample(t0, arrivals, usage["completion_tokens"], "".join(parts))


class OpenAIPath:
    name = "api (openai client)"

    def __init__(self, url: str, model_id: str, args: Any) -> None:
        import openai

        self.client = openai.OpenAI(base_url=url, api_key=TOKEN, max_retries=0, timeout=600)
        self.model_id, self.args = model_id, args

    def run(self) -> dict[str, Any]:
        body = _body(self.model_id, self.args)
        extra = {k: body.pop(k) for k in ("top_k", "min_p", "repeat_penalty", "template")}
        body.pop("stream")
        arrivals, parts, usage = [], [], None
        t0 = time.perf_counter()
        stream = self.client.chat.completions.create(stream=True, extra_body=extra, **body)
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    arrivals.append(time.perf_counter())
                    parts.append(choice.delta.content)
        arrivals.append(time.perf_counter())
        return _sample(t0, arrivals, usage.completion_tokens, "".join(parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=128, dest="max_tokens")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for every path")
    parser.add_argument("--template", default="alpaca", help="named template for the prompt")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="hearth-bench-api-")
    os.environ["HEARTH_HOME"] = home
    from engine.chat.templates import TEMPLATES, ChatTemplate, render
    from engine.core.devices import physical_cores
    from engine.runtimes.settings import ModelSettings
    from engine.services import Services

    args.threads = args.threads or physical_cores()
    services = Services(Path(home))
    gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
    ModelSettings(services).update(gemma["id"], {"n_threads": args.threads})  # the server's too
    services.close()
    named = TEMPLATES[args.template]
    prompt = render(
        ChatTemplate(named.name, named.source, named.stop), [{"role": "user", "content": PROMPT}]
    )

    server = subprocess.Popen(
        [sys.executable, "-m", "engine", "api", "--port", "0", "--token", TOKEN],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=dict(os.environ, HEARTH_HOME=home), cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    try:
        url = json.loads(server.stdout.readline())["url"]
        paths = [
            RawPath(gemma["path"], prompt, list(named.stop), args),
            HttpPath(url, gemma["id"], args),
            OpenAIPath(url, gemma["id"], args),
        ]
        samples: dict[str, list[dict[str, Any]]] = {p.name: [] for p in paths}
        for path in paths:
            path.run()  # warm-up: model load, connection, first-run allocations
        for r in range(args.runs):
            order = paths[r % len(paths) :] + paths[: r % len(paths)]  # rotate who goes first
            for path in order:
                samples[path.name].append(path.run())
    finally:
        server.send_signal(2)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()

    raw = paths[0].name
    texts = {name: {s["text"].strip() for s in runs} for name, runs in samples.items()}
    summary: dict[str, dict[str, Any]] = {}
    for name, runs in samples.items():
        pairs = list(zip(runs, samples[raw], strict=True))
        summary[name] = {
            "ttft_ms": statistics.median(s["ttft_ms"] for s in runs),
            "tokens_per_s": statistics.median(s["tokens_per_s"] for s in runs),
            "tokens": statistics.median(s["tokens"] for s in runs),
            "tps_ratio": statistics.median(a["tokens_per_s"] / b["tokens_per_s"] for a, b in pairs),
            "ttft_delta_ms": statistics.median(a["ttft_ms"] - b["ttft_ms"] for a, b in pairs),
            "same_text_as_raw": texts[name] == texts[raw],
        }
    report = {
        "model": gemma["name"],
        "runs": args.runs,
        "max_tokens": args.max_tokens,
        "seed": args.seed,
        "threads": args.threads,
        "paths": summary,
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{gemma['name']} ({gemma['quant']}), {args.template} template, {args.threads} threads, "
          f"{args.runs} runs, seed {args.seed}, up to {args.max_tokens} tokens, medians")  # fmt: skip
    print(
        f"{'path':24s} {'TTFT ms':>8s} {'tok/s':>7s} {'tokens':>6s} {'x raw':>6s} {'dTTFT':>7s}  same text"
    )
    for name, row in summary.items():
        print(f"{name:24s} {row['ttft_ms']:8.1f} {row['tokens_per_s']:7.1f} {row['tokens']:6.0f} "
              f"{row['tps_ratio']:6.3f} {row['ttft_delta_ms']:+7.1f}  {row['same_text_as_raw']}")  # fmt: skip
    for name, row in list(summary.items())[1:]:
        tps_ok = row["tps_ratio"] >= TPS_TARGET
        ttft_ok = row["ttft_delta_ms"] <= TTFT_TARGET_MS
        print(f"{name}: tokens/s {row['tps_ratio']:.3f}x raw (target >= {TPS_TARGET}: "
              f"{'met' if tps_ok else 'MISSED'}), TTFT {row['ttft_delta_ms']:+.1f} ms vs raw "
              f"(target <= +{TTFT_TARGET_MS:.0f}: {'met' if ttft_ok else 'MISSED'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
