"""Evaluation speed on the bundled Gemma 3 270M, each figure against its reference in one run.

1. Perplexity: the bundled GGUF through llama.cpp (Hearth's scorer) against the same model
   through transformers (its torch conversion, Hearth's torch scorer, which is what an HF
   ``Trainer``-style evaluation loop does), on the same held-out text: Debian's ``python3.11-doc``
   HOWTOs (installed by this script with apt-get when missing), 4,096 tokens in windows of 256.
   Targets: llama.cpp at least 3x the tokens/s; the two perplexities within 2%.
2. Answers for task metrics: ``--rows`` prompts asked of the bundled GGUF through the chat path
   (``engine.chat.generate``, one request at a time, greedy, ``--max-tokens`` each) against the
   evaluation's batched greedy decoding (``GgufModel.answer_batch``, 8 answers per step). The
   prompts are questions about the topics of Python's reference documentation. Target: at least
   1.5x the generated tokens per second. The share of identical answers is printed beside it
   (batched and single decoding may differ in the last bits, which can change a near tie).

    .venv/bin/python benchmarks/bench_eval.py [--home DIR] [--rows 32] [--max-tokens 48] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from python_docs import ensure_docs, read_dir
from scratch import scratch_dir

PPL_TARGET = 3.0
ANSWER_TARGET = 1.5


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", help="data folder (default: a temporary one)")
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    ensure_docs()
    home = Path(args.home or str(scratch_dir(prefix="hearth-bench-eval-")))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["HEARTH_HOME"] = str(home)

    from engine.chat.generate import generate
    from engine.evaluation.answering import _prompt_tokens
    from engine.evaluation.gguf import GgufModel
    from engine.evaluation.perplexity import measure
    from engine.models import gguf_to_torch
    from engine.services import Services

    services = Services(home)
    out: dict = {}
    try:
        gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
        gguf_to_torch.convert(gemma["id"], services)
        folder = gguf_to_torch.torch_folder_for(gemma, root=home)
        torch_model = next((m for m in services.library.list() if m["path"] == str(folder)), None)
        if torch_model is None:
            torch_model = services.library.import_model(folder, mode="reference", name="Gemma 3 270M (torch)")  # fmt: skip
        text = read_dir("howto")

        # 1. perplexity
        timed = {}
        for label, model in (("llama_cpp", gemma), ("transformers", torch_model)):
            measure(
                services, model, text[:20_000], max_tokens=256, seq_len=256
            )  # warm the page cache
            started = time.perf_counter()
            got = measure(services, model, text, max_tokens=4096, seq_len=256)
            timed[label] = {**got, "seconds": time.perf_counter() - started}
        g, t = timed["llama_cpp"], timed["transformers"]
        speed = (g["tokens"] / g["seconds"]) / (t["tokens"] / t["seconds"])
        gap = abs(g["ppl"] - t["ppl"]) / t["ppl"]
        out["perplexity"] = {"llama_cpp": g, "transformers": t, "speedup": speed, "gap": gap}
        print(f"perplexity over {g['tokens']} tokens: llama.cpp {g['ppl']:.3f} in {g['seconds']:.1f} s, "
              f"transformers {t['ppl']:.3f} in {t['seconds']:.1f} s; tokens/s llama.cpp / transformers "
              f"{speed:.2f}x (target >= {PPL_TARGET}x: {'met' if speed >= PPL_TARGET else 'NOT met'}); "
              f"gap {gap:.2%} (target < 2%: {'met' if gap < 0.02 else 'NOT met'})")  # fmt: skip

        # 2. answers: the chat path one at a time against batched decoding
        from pydoc_data.topics import topics

        names = sorted(topics)[: args.rows]
        questions = [f"In Python, what is '{n}' used for? Answer in one sentence." for n in names]
        params = {
            "temperature": 0.0,
            "repeat_penalty": 1.0,
            "max_tokens": args.max_tokens,
            "seed": 0,
        }  # greedy, as batched
        generate(services, model_id=gemma["id"], messages=[{"role": "user", "content": "Hi"}], params=params)  # loaded  # fmt: skip
        started = time.perf_counter()
        single, single_tokens = [], 0
        for q in questions:
            r = generate(services, model_id=gemma["id"], messages=[{"role": "user", "content": q}], params=params)  # fmt: skip
            single.append(r["text"].strip())
            single_tokens += r["usage"]["completion_tokens"]
        single_s = time.perf_counter() - started
        services.runtimes.unload()  # the batched side loads its own copy
        lm = GgufModel(gemma, scoring=False)  # as an evaluation opens it for answers
        try:
            prompts = [
                _prompt_tokens(lm, gemma, [{"role": "user", "content": q}]) for q in questions
            ]
            started = time.perf_counter()
            batched = []
            for start in range(0, len(prompts), 8):
                part = prompts[start : start + 8]
                batched += lm.answer_batch([p for p, _stop in part], max_tokens=args.max_tokens, stop=part[0][1])  # fmt: skip
            batch_s = time.perf_counter() - started
        finally:
            lm.close()
        batch_tokens = sum(n for _t, _f, n in batched)
        ratio = (batch_tokens / batch_s) / (single_tokens / single_s)
        same = sum(a == b for a, (b, _f, _n) in zip(single, batched, strict=True)) / len(single)
        out["answers"] = {"rows": len(questions), "single_tokens": single_tokens, "single_s": single_s,
                          "batch_tokens": batch_tokens, "batch_s": batch_s, "speedup": ratio, "identical": same}  # fmt: skip
        print(f"answers to {len(questions)} prompts: chat path one at a time {single_tokens} tokens in "
              f"{single_s:.1f} s, batched {batch_tokens} tokens in {batch_s:.1f} s; tokens/s batched / "
              f"chat path {ratio:.2f}x (target >= {ANSWER_TARGET}x: {'met' if ratio >= ANSWER_TARGET else 'NOT met'}); "
              f"identical answers {same:.0%}")  # fmt: skip
    finally:
        services.close()
    if args.json:
        print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
