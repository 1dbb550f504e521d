"""Local API streaming benchmark: Hearth's OpenAI-compatible API against raw llama-cpp-python,
measured in one run.

Four paths stream the same reply from the bundled Gemma 3 270M GGUF -- same rendered prompt
(the alpaca template, so the base model writes a long reply), seed, sampling settings, stop
strings, context size and threads:

- raw:          ``llama_cpp.Llama.create_completion(stream=True)`` in this process
- api (http):   ``POST /v1/chat/completions`` with ``stream: true`` to a ``hearth-engine api``
                subprocess, read with ``http.client`` (the server's own overhead: HTTP, SSE, JSON)
- completions:  ``POST /v1/completions`` with the rendered prompt, read with ``http.client``
- api (openai): the chat request through the official ``openai`` client (what users run; its
                parsing of every chunk is included)

Requests are mixed as clients mix them: before the rounds, another ``openai`` client makes one
non-streaming request and keeps its connection open to the end (``--no-mix``: streaming only).

Each path is warmed up once (model load, connection), then the paths take turns for ``--runs``
rounds. Reported per path (medians): time to first token (request sent -> first text received),
decode tokens/s ((tokens - 1) / (last arrival - first arrival)) and the ratios against raw, taken
round by round and then the median, so load from other programs drifting during the run cancels
out. Targets: >= 0.95x raw tokens/s, TTFT within 30 ms of raw. With a seed each request evaluates
its prompt from scratch (Hearth's rule for reproducible replies); raw gets ``Llama.reset()``
before each run to match.

    .venv/bin/python benchmarks/bench_api.py [--runs 10] [--max-tokens 128] [--threads N] [--no-mix] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import scratch_dir
from streaming import PROMPT, SAMPLING, RawPath, print_table, sample, summarize, take_turns

TOKEN = "hearth-bench-token-0123456789"


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


def _post(conn: http.client.HTTPConnection, path: str, body: str, headers: dict[str, str]) -> Any:
    """POST on a kept-alive connection, reconnecting once if the server closed it while idle
    (as pooling clients do)."""
    try:
        conn.request("POST", path, body, headers)
        return conn.getresponse()
    except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
        conn.close()
        conn.request("POST", path, body, headers)
        return conn.getresponse()


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
        response = _post(self.conn, self.path, body, headers)
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
        return sample(t0, arrivals, usage["completion_tokens"], "".join(parts))


class CompletionsPath:
    """``POST /v1/completions`` with the rendered prompt itself: the same text raw continues."""

    name = "api /v1/completions"

    def __init__(self, url: str, model_id: str, prompt: str, stops: list[str], args: Any) -> None:
        parsed = urlparse(url)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
        self.path = parsed.path + "/completions"
        self.body = {"model": model_id, "prompt": prompt, "max_tokens": args.max_tokens,
                     "seed": args.seed, "stop": stops, "stream": True,
                     "stream_options": {"include_usage": True}, **SAMPLING}  # fmt: skip

    def run(self) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        arrivals, parts, usage = [], [], None
        t0 = time.perf_counter()
        response = _post(self.conn, self.path, json.dumps(self.body), headers)
        if response.status != 200:
            raise SystemExit(f"the API answered {response.status}: {response.read()[:300]!r}")
        for line in iter(response.readline, b""):
            data = line[6:].strip() if line.startswith(b"data: ") else None
            if data == b"[DONE]":
                break
            if data:
                chunk = json.loads(data)
                usage = chunk.get("usage") or usage
                text = (chunk.get("choices") or [{}])[0].get("text")
                if text:
                    arrivals.append(time.perf_counter())
                    parts.append(text)
        response.read()
        arrivals.append(time.perf_counter())
        return sample(t0, arrivals, usage["completion_tokens"], "".join(parts).strip())


def mix_in_a_plain_request(url: str, model_id: str) -> Any:
    """What clients do between streams: one non-streaming chat request from the official client,
    whose keep-alive connection then stays open in its pool for the rest of the run. (This once
    slowed every later stream to 0.68-0.78x raw: see ``engine/runtimes/native.py``.)"""
    import openai

    client = openai.OpenAI(base_url=url, api_key=TOKEN, max_retries=0, timeout=600)
    client.chat.completions.create(
        model=model_id, messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=16,
    )  # fmt: skip
    return client


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
        return sample(t0, arrivals, usage.completion_tokens, "".join(parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=128, dest="max_tokens")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for every path")
    parser.add_argument("--template", default="alpaca", help="named template for the prompt")
    parser.add_argument("--no-mix", action="store_false", dest="mix",
                        help="streaming requests only (by default one non-streaming request from "
                             "another client comes first and its connection stays open)")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    home = str(scratch_dir(prefix="hearth-bench-api-"))
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
        [sys.executable, "-m", "engine", "api", "--port", "0", "--token", TOKEN,
         "--idle-timeout", "3600"],  # the mixed-in client's idle connection stays for the run
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=dict(os.environ, HEARTH_HOME=home), cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    try:
        url = json.loads(server.stdout.readline())["url"]
        paths = [
            RawPath(gemma["path"], prompt, list(named.stop), args),
            HttpPath(url, gemma["id"], args),
            CompletionsPath(url, gemma["id"], prompt, list(named.stop), args),
            OpenAIPath(url, gemma["id"], args),
        ]
        idle_client = mix_in_a_plain_request(url, gemma["id"]) if args.mix else None
        samples = take_turns(paths, args.runs)
        if idle_client is not None:
            idle_client.close()
    finally:
        server.send_signal(2)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()

    summary = summarize(samples, paths[0].name)
    report = {
        "model": gemma["name"],
        "runs": args.runs,
        "max_tokens": args.max_tokens,
        "seed": args.seed,
        "threads": args.threads,
        "mixed_requests": args.mix,
        "paths": summary,
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print_table(f"{gemma['name']} ({gemma['quant']}), {args.template} template, {args.threads} "
                f"threads, {args.runs} runs, seed {args.seed}, up to {args.max_tokens} tokens, "
                f"{'after a non-streaming request' if args.mix else 'streaming only'}, medians", summary)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
