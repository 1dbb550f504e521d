"""Perplexity of any library model on one text: GGUF through llama.cpp, folders through transformers.

The text is cut into windows of ``seq_len`` tokens (each starting with BOS, as a document would)
from its first ``max_tokens`` tokens, and every window is scored on its own, so the figures of two
runtimes or two sizes of a model are comparable. llama.cpp is asked for the logits of every
position of a window (``logits_all``) and the log-softmax is taken here in numpy.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.pruning import calibrate

if TYPE_CHECKING:
    from engine.services import Services


def check(services: Services, models: Any, *, file: str | None, dataset: str | None,
          max_tokens: Any, seq_len: Any) -> dict[str, Any]:  # fmt: skip
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise UserError("Name one or more library models to evaluate (model ids).")
    for model_id in models:
        model = services.library.get(model_id)
        if model.get("role") != "llm":
            raise UserError(f"{model['name']} is not a chat model; perplexity needs a language model.")  # fmt: skip
        if model.get("missing"):
            raise UserError(f"The files of {model['name']} are missing; relink it (Models > Locate…).")  # fmt: skip
    if not file and not dataset:
        raise UserError("Give the text to measure on: a file (--file) or a dataset (--dataset).")
    if file and not Path(file).expanduser().is_file():
        raise UserError(f"{file} is not a file.")
    for name, value, lo in (("max_tokens", max_tokens, 64), ("seq_len", seq_len, 16)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise UserError(f"{name} must be a whole number of at least {lo}.")
    return {"models": models, "file": str(Path(file).expanduser().absolute()) if file else None,
            "dataset": dataset, "max_tokens": max_tokens, "seq_len": seq_len}  # fmt: skip


def gguf_perplexity(path: str, text: str, *, max_tokens: int, seq_len: int, cancelled: Any = None) -> tuple[float, int]:  # fmt: skip
    import numpy as np
    from llama_cpp import Llama

    llm = Llama(model_path=path, n_ctx=seq_len, n_batch=seq_len, logits_all=True, verbose=False)
    try:
        ids = llm.tokenize(text[: max_tokens * 8].encode("utf-8"), add_bos=False)[:max_tokens]
        bos = llm.token_bos()
        total, count = 0.0, 0
        for start in range(0, len(ids) - seq_len + 1, seq_len):
            if cancelled is not None:
                cancelled()
            window = ids[start : start + seq_len]
            if bos is not None and bos >= 0:
                window = [bos, *window[1:]]
            llm.reset()
            llm.eval(window)
            logits = np.asarray(llm.scores[: seq_len - 1], dtype=np.float64)
            m = logits.max(axis=1, keepdims=True)
            logz = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
            picked = logits[np.arange(seq_len - 1), window[1:]]
            total += float((logz - picked).sum())
            count += seq_len - 1
    finally:
        llm.close()
    if not count:
        raise UserError(f"The text is shorter than one window of {seq_len} tokens; use a longer one.")  # fmt: skip
    return math.exp(min(total / count, 50.0)), count


def torch_perplexity(services: Services, model: dict[str, Any], text: str, *, max_tokens: int,
                     seq_len: int, cancelled: Any = None, ctx: Any = None) -> tuple[float, int]:  # fmt: skip
    from engine.models.gguf_to_torch import load_torch_model
    from engine.pruning import bypass, measure

    lm, tok = load_torch_model(model, services=services, device="cpu", ctx=ctx)
    lm.eval()
    bypass.install(lm)
    windows = calibrate.windows(tok, text, seq_len=seq_len, max_tokens=max_tokens)
    if len(windows) == 0:
        raise UserError(f"The text is shorter than one window of {seq_len} tokens; use a longer one.")  # fmt: skip
    ppl, n = measure.perplexity(lm, windows, cancelled=cancelled)
    return float(ppl), n  # type: ignore[arg-type]


def run(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    text, _source = calibrate.source_text(services, dataset=params.get("dataset"), file=params.get("file"))  # fmt: skip
    results = []
    models = params["models"]
    for i, model_id in enumerate(models):
        model = services.library.get(model_id)
        ctx.progress(i / len(models), f"Measuring {model['name']}")
        kw = dict(max_tokens=int(params["max_tokens"]), seq_len=int(params["seq_len"]), cancelled=ctx.check_cancelled)  # fmt: skip
        if model["format"] == "gguf":
            ppl, n = gguf_perplexity(model["path"], text, **kw)
            runtime = "llama_cpp"
        else:
            ppl, n = torch_perplexity(services, model, text, ctx=ctx, **kw)
            runtime = "transformers"
        results.append({"model_id": model_id, "name": model["name"], "ppl": round(ppl, 4),
                        "tokens": n, "runtime": runtime})  # fmt: skip
        ctx.log(f"{model['name']}: perplexity {ppl:.3f} over {n} tokens ({runtime})")
    ctx.progress(1.0, "Measured")
    return {"results": results}
