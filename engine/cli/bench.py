"""``hearth-engine bench chat``: prompt processing and generation speed of a model, llama-bench style.

    hearth-engine bench chat [--model ID] [--prompt P] [--n-predict 128] [--runs 3] [--json]

Each run evaluates the prompt from scratch (no prompt cache) and then generates exactly
``--n-predict`` tokens (end-of-text ignored), through the same runtime chat uses. Reported:
prompt tokens, time to first token (prompt evaluation plus the first sampled token), prompt
tokens/s, and generation tokens/s (tokens after the first over the time they took), as mean and
standard deviation over the runs, after one warm-up run.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

from engine.cli.output import emit_json, table

if TYPE_CHECKING:
    from engine.services import Services

DEFAULT_PROMPT = (
    "The history of the lighthouse is a history of coastlines, storms and the people who kept the "
    "lamps burning through the night. Long before electric light, keepers trimmed wicks, polished "
    "lenses and climbed hundreds of steps to keep ships off the rocks. Tell the story of one keeper."
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="measure speed (tokens/s, time to first token)")
    bsub = p.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    a = bsub.add_parser("chat", help="chat generation speed of a model, like llama-bench")
    a.add_argument("--model", help="model id (default: the bundled Gemma 3 270M)")
    a.add_argument(
        "--prompt", default=DEFAULT_PROMPT, help="prompt text (evaluated raw, no template)"
    )
    a.add_argument(
        "--n-predict", type=int, default=128, dest="n_predict", help="tokens to generate per run"
    )
    a.add_argument("--runs", type=int, default=3, help="measured runs (after one warm-up)")
    a.add_argument("--seed", type=int, default=42)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_bench_chat)


def _stats(values: list[float]) -> dict[str, float]:
    clean = [v for v in values if v is not None]
    if not clean:
        return {"mean": None, "stdev": None, "min": None, "max": None}
    return {
        "mean": round(statistics.fmean(clean), 3),
        "stdev": round(statistics.stdev(clean), 3) if len(clean) > 1 else 0.0,
        "min": round(min(clean), 3),
        "max": round(max(clean), 3),
    }


def bench_chat(
    services: Services,
    *,
    model_id: str | None,
    prompt: str,
    n_predict: int,
    runs: int,
    seed: int = 42,
) -> dict[str, Any]:
    """Measure one model; returns the report ``--json`` prints."""
    from engine.chat.generate import default_model_id
    from engine.core.errors import UserError
    from engine.runtimes.base import SamplingParams

    if n_predict < 1 or runs < 1:
        raise UserError("--n-predict and --runs must be at least 1.")
    model_id = model_id or default_model_id(services)
    manager = services.runtimes
    t0 = time.perf_counter()
    with manager.use(model_id) as runtime:
        load_ms = (time.perf_counter() - t0) * 1000
        tokens = runtime.tokenize(prompt)
        sampling = SamplingParams(
            max_tokens=n_predict, seed=seed, ignore_eos=True, cache_prompt=False
        )
        runtime.generate(tokens, sampling=sampling)  # warm-up
        samples = [runtime.generate(tokens, sampling=sampling) for _ in range(runs)]
        info = runtime.info()
        threads = runtime.settings.get("n_threads")
    ttft = [s.ttft_s * 1000 for s in samples if s.ttft_s is not None]
    return {
        "model_id": model_id,
        "model": info["name"],
        "runtime": info["runtime"],
        "device": info["device"],
        "n_threads": threads,
        "prompt_tokens": len(tokens),
        "n_predict": n_predict,
        "runs": runs,
        "load_ms": round(load_ms, 1),
        "completion_tokens": [s.completion_tokens for s in samples],
        "ttft_ms": _stats(ttft),
        "prompt_tokens_per_s": _stats([len(tokens) / (t / 1000) for t in ttft if t > 0]),
        "tokens_per_s": _stats([s.tokens_per_s for s in samples]),
    }


def cmd_bench_chat(args: Any) -> int:
    from engine.core.devices import physical_cores
    from engine.services import Services

    report = bench_chat(
        Services(),
        model_id=args.model,
        prompt=args.prompt,
        n_predict=args.n_predict,
        runs=args.runs,
        seed=args.seed,
    )
    if report["runtime"] == "llama_cpp" and report["n_threads"] is None:
        report["n_threads"] = physical_cores()
    if args.json:
        emit_json(report)
        return 0

    def fmt(stat: dict[str, float]) -> str:
        return "-" if stat["mean"] is None else f"{stat['mean']:.2f} ± {stat['stdev']:.2f}"

    row = [report["model"], report["runtime"], report["device"], str(report["n_threads"] or "-")]
    table(
        [
            [
                *row,
                f"pp{report['prompt_tokens']}",
                fmt(report["prompt_tokens_per_s"]),
                fmt(report["ttft_ms"]),
            ],
            [*row, f"tg{report['n_predict']}", fmt(report["tokens_per_s"]), "-"],
        ],
        ["MODEL", "RUNTIME", "DEVICE", "THREADS", "TEST", "TOKENS/S", "TTFT MS"],
    )
    return 0
