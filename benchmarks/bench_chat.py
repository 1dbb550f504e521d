"""Chat streaming benchmark: Hearth's engine against raw llama-cpp-python, measured in one run.

Three paths generate the same reply from the bundled Gemma 3 270M GGUF -- same rendered prompt,
seed, sampling settings, stop strings, context size and threads:

- raw:        ``llama_cpp.Llama.create_completion(stream=True)`` in this process
- engine:     ``chat.generate`` through the JSON-RPC dispatcher in this process (every
              ``chat.delta`` notification serialized to a JSON line and parsed back, as a client would)
- serve:      ``chat.generate`` to a real ``hearth-engine serve`` subprocess over stdio

Each path is warmed up once (model load), then the paths take turns for ``--runs`` rounds. Reported
per path (medians): time to first token (request sent -> first text received), decode tokens/s
((tokens - 1) / (last arrival - first arrival)), and the ratios against raw, taken round by round
(each path against raw in the same round) and then the median, so that other programs' load
drifting during the run cancels out. Targets: >= 0.95x
raw tokens/s, TTFT within 30 ms of raw. With a seed each request evaluates its prompt from scratch
(Hearth's rule for reproducible replies); raw gets ``Llama.reset()`` before each run to match.

    .venv/bin/python benchmarks/bench_chat.py [--runs 10] [--max-tokens 128] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import scratch_dir
from streaming import PROMPT, SAMPLING, RawPath, print_table, sample, summarize, take_turns


# ---- the engine through the in-process dispatcher ----------------------------------------------
class EnginePath:
    name = "engine (in-process RPC)"

    def __init__(self, services: Any, model_id: str, args: Any) -> None:
        from engine.rpc.server import Dispatcher

        self._cond = threading.Condition()
        self._arrivals: list[float] = []
        self._done: dict | None = None
        self.dispatcher = Dispatcher(services, self._write)
        self.model_id, self.args, self._n = model_id, args, 0

    def _write(self, data: bytes) -> None:
        now = time.perf_counter()
        msg = json.loads(data)  # what a client does with every line
        with self._cond:
            if msg.get("method") == "chat.delta":
                self._arrivals.append(now)
            elif "id" in msg and "method" not in msg:
                self._done = msg
                self._cond.notify_all()

    def run(self) -> dict[str, Any]:
        self._n += 1
        request = _request(f"e{self._n}", self.model_id, self.args)
        with self._cond:
            self._arrivals, self._done = [], None
        t0 = time.perf_counter()
        self.dispatcher.handle_line(json.dumps(request))
        with self._cond:
            while self._done is None:
                self._cond.wait()
            done, arrivals = self._done, [*self._arrivals, time.perf_counter()]
        return _from_result(t0, arrivals, done)

    def close(self) -> None:
        self.dispatcher.close()


# ---- the engine as a subprocess -------------------------------------------------------------
class ServePath:
    name = "engine (hearth-engine serve)"

    def __init__(self, home: str, model_id: str, args: Any) -> None:
        env = dict(os.environ, HEARTH_HOME=home, HEARTH_SKIP_BUNDLED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            cwd=Path(__file__).resolve().parent.parent,
        )  # fmt: skip
        self.model_id, self.args, self._n = model_id, args, 0
        self._send({"jsonrpc": "2.0", "id": "init", "method": "initialize",
                    "params": {"protocol_version": 1}})  # fmt: skip
        self._read_until("init")

    def _send(self, obj: dict) -> None:
        self.proc.stdin.write(json.dumps(obj).encode() + b"\n")
        self.proc.stdin.flush()

    def _read_until(self, rid: str) -> tuple[dict, list[float]]:
        arrivals = []
        while True:
            line = self.proc.stdout.readline()
            now = time.perf_counter()
            if not line:
                raise SystemExit("hearth-engine serve exited early")
            msg = json.loads(line)
            if msg.get("method") == "chat.delta":
                arrivals.append(now)
            elif msg.get("id") == rid and "method" not in msg:
                return msg, [*arrivals, now]

    def run(self) -> dict[str, Any]:
        self._n += 1
        rid = f"s{self._n}"
        t0 = time.perf_counter()
        self._send(_request(rid, self.model_id, self.args))
        done, arrivals = self._read_until(rid)
        return _from_result(t0, arrivals, done)

    def close(self) -> None:
        try:
            self._send({"jsonrpc": "2.0", "id": "bye", "method": "shutdown"})
            self.proc.wait(20)
        except Exception:
            self.proc.kill()


def _request(rid: str, model_id: str, args: Any) -> dict:
    params = {
        **SAMPLING,
        "max_tokens": args.max_tokens,
        "seed": args.seed,
        "template": args.template,
    }
    return {
        "jsonrpc": "2.0", "id": rid, "method": "chat.generate",
        "params": {"model": model_id, "messages": [{"role": "user", "content": PROMPT}],
                   "params": params},
    }  # fmt: skip


def _from_result(t0: float, arrivals: list[float], reply: dict) -> dict[str, Any]:
    if "error" in reply:
        raise SystemExit(f"chat.generate failed: {reply['error']}")
    result = reply["result"]
    return sample(t0, arrivals, result["usage"]["completion_tokens"], result["text"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=128, dest="max_tokens")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for every path (default: physical cores)",
    )
    parser.add_argument(
        "--template", default="alpaca", help="named template (alpaca: Gemma writes a long reply)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    home = str(scratch_dir(prefix="hearth-bench-chat-"))
    os.environ["HEARTH_HOME"] = home
    from engine.chat.templates import TEMPLATES, ChatTemplate, render
    from engine.core.devices import physical_cores
    from engine.runtimes.settings import ModelSettings
    from engine.services import Services

    args.threads = args.threads or physical_cores()
    services = Services(Path(home))
    gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
    ModelSettings(services).update(gemma["id"], {"n_threads": args.threads})  # the engine's too
    named = TEMPLATES[args.template]
    template = ChatTemplate(named.name, named.source, named.stop)
    prompt = render(template, [{"role": "user", "content": PROMPT}])

    paths = [
        RawPath(gemma["path"], prompt, list(named.stop), args),
        EnginePath(services, gemma["id"], args),
        ServePath(home, gemma["id"], args),
    ]
    samples = take_turns(paths, args.runs)
    for path in paths:
        if hasattr(path, "close"):
            path.close()

    raw = paths[0].name
    engine_runs = samples[paths[1].name]
    for i, run in enumerate(samples[raw]):
        if run["text"] == engine_runs[i]["text"]:  # same tokens: use the engine's exact count
            arrivals_s = (run["tokens"] - 1) / run["tokens_per_s"] if run["tokens"] > 1 else 0
            run["tokens"] = engine_runs[i]["tokens"]
            if arrivals_s > 0:
                run["tokens_per_s"] = (run["tokens"] - 1) / arrivals_s
    summary = summarize(samples, raw)
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
    print_table(f"{gemma['name']} ({gemma['quant']}), {args.template} template, {args.threads} "
                f"threads, {args.runs} runs, seed {args.seed}, up to {args.max_tokens} tokens, "
                "medians", summary)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
