"""What the streaming benchmarks share (``bench_chat.py``: the engine over JSON-RPC,
``bench_api.py``: the local OpenAI API): the prompt and sampling, the raw llama-cpp-python path
they are measured against, taking turns, the per-round ratios and the printed table."""

from __future__ import annotations

import statistics
import time
from typing import Any

TPS_TARGET = 0.95
TTFT_TARGET_MS = 30.0
PROMPT = "Write a long story about an old lighthouse keeper and the storm that changed his life."
SAMPLING = {"temperature": 0.8, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1}


def sample(t0: float, arrivals: list[float], tokens: int, text: str) -> dict[str, Any]:
    """One run: time to first token, decode tokens/s ((tokens - 1) over first..last arrival)."""
    first, last = arrivals[0], arrivals[-1]
    tps = (tokens - 1) / (last - first) if tokens > 1 and last > first else float("nan")
    return {"ttft_ms": (first - t0) * 1000, "tokens_per_s": tps, "tokens": tokens, "text": text}


class RawPath:
    name = "raw llama-cpp-python"

    def __init__(self, model_path: str, prompt: str, stops: list[str], args: Any) -> None:
        import llama_cpp

        threads = args.threads
        self.llm = llama_cpp.Llama(
            model_path, n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False
        )
        self.prompt, self.stops, self.args = prompt, stops, args

    def run(self) -> dict[str, Any]:
        self.llm.reset()  # a seeded request evaluates its prompt from scratch, as Hearth's do
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
        return sample(t0, arrivals, tokens, text.strip())


def take_turns(paths: list[Any], runs: int) -> dict[str, list[dict[str, Any]]]:
    """Warm every path up once, then ``runs`` rounds, rotating which path goes first."""
    samples: dict[str, list[dict[str, Any]]] = {p.name: [] for p in paths}
    for path in paths:
        path.run()  # warm-up: model load, connection, first-run allocations
    for r in range(runs):
        for path in paths[r % len(paths) :] + paths[: r % len(paths)]:
            samples[path.name].append(path.run())
    return samples


def summarize(samples: dict[str, list[dict[str, Any]]], raw: str) -> dict[str, dict[str, Any]]:
    """Medians per path; ratios against raw taken round by round and then the median, so load
    from other programs drifting over the run cancels out."""
    texts = {name: {s["text"].strip() for s in runs} for name, runs in samples.items()}
    summary = {}
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
    return summary


def print_table(heading: str, summary: dict[str, dict[str, Any]]) -> None:
    width = max(24, *(len(name) for name in summary))
    print(heading)
    print(f"{'path':{width}s} {'TTFT ms':>8s} {'tok/s':>7s} {'tokens':>6s} {'x raw':>6s} "
          f"{'dTTFT':>7s}  same text")  # fmt: skip
    for name, row in summary.items():
        print(f"{name:{width}s} {row['ttft_ms']:8.1f} {row['tokens_per_s']:7.1f} {row['tokens']:6.0f} "
              f"{row['tps_ratio']:6.3f} {row['ttft_delta_ms']:+7.1f}  {row['same_text_as_raw']}")  # fmt: skip
    for name, row in list(summary.items())[1:]:
        tps_ok = row["tps_ratio"] >= TPS_TARGET
        ttft_ok = row["ttft_delta_ms"] <= TTFT_TARGET_MS
        print(f"{name}: tokens/s {row['tps_ratio']:.3f}x raw (target >= {TPS_TARGET}: "
              f"{'met' if tps_ok else 'MISSED'}), TTFT {row['ttft_delta_ms']:+.1f} ms vs raw "
              f"(target <= +{TTFT_TARGET_MS:.0f}: {'met' if ttft_ok else 'MISSED'})")  # fmt: skip
