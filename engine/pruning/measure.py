"""Forward passes the pruner shares: calibration passes without the LM head, perplexity,
greedy answers and generation speed.

The LM head is most of a small model's compute on the bundled Gemma (262,144 x 640 weights, more
than all 18 blocks together), so passes that only need hidden states ask for the logits of one
position (``logits_to_keep=1``), and perplexity builds the logits of one window at a time.
"""

from __future__ import annotations

import math
import time
from typing import Any


def forward_hidden(model: Any, ids: Any) -> Any:
    """Run the model on ``ids`` ([B, T]) for its hooks' sake; skips the LM head where it can."""
    try:
        return model(input_ids=ids, use_cache=False, logits_to_keep=1)
    except TypeError:
        return model(input_ids=ids, use_cache=False)


def calibration_pass(model: Any, windows: Any, *, batch: int = 4, cancelled: Any = None,
                     progress: Any = None) -> None:  # fmt: skip
    import torch

    n = len(windows)
    with torch.no_grad():
        for start in range(0, n, batch):
            if cancelled is not None:
                cancelled()
            forward_hidden(model, windows[start : start + batch].to(_device(model)))
            if progress is not None:
                progress(min(1.0, (start + batch) / max(1, n)))


def _hidden(args: tuple, kwargs: dict) -> Any:
    """The hidden states a decoder block was called with."""
    return args[0] if args else kwargs["hidden_states"]


def cosine_gaps(model: Any, blocks: Any, windows: Any, *, outputs: list[tuple[Any, Any]],
                cancelled: Any = None, progress: Any = None) -> list[float]:  # fmt: skip
    """Per block: the mean over tokens of ``1 - cos(x, y)``, where ``x`` is the hidden state the
    block is called with and ``y = combine(x, out)`` for the output ``out`` of the module paired
    with it in ``outputs`` (``(module, combine)``). One calibration pass for all blocks."""
    import torch

    n = len(blocks)
    sums, counts = [0.0] * n, [0] * n
    inputs: dict[int, Any] = {}

    def pre(i: int) -> Any:
        def hook(_m: Any, args: tuple, kwargs: dict) -> None:
            inputs[i] = _hidden(args, kwargs).detach()

        return hook

    def post(i: int, combine: Any) -> Any:
        def hook(_m: Any, _args: tuple, out: Any) -> None:
            x = inputs.pop(i).float()
            y = combine(x, (out[0] if isinstance(out, tuple) else out).detach().float())
            cos = torch.nn.functional.cosine_similarity(x, y, dim=-1)
            sums[i] += float((1 - cos).nan_to_num(0.0).sum())
            counts[i] += cos.numel()

        return hook

    handles = []
    for i, block in enumerate(blocks):
        module, combine = outputs[i]
        handles.append(block.register_forward_pre_hook(pre(i), with_kwargs=True))
        handles.append(module.register_forward_hook(post(i, combine)))
    try:
        calibration_pass(model, windows, cancelled=cancelled, progress=progress)
    finally:
        for h in handles:
            h.remove()
    return [s / max(1, c) for s, c in zip(sums, counts, strict=True)]


def _device(model: Any) -> Any:
    return next(model.parameters()).device


def nll(model: Any, windows: Any, *, tail: int | None = None, cancelled: Any = None) -> tuple[float, int]:  # fmt: skip
    """(summed negative log-likelihood, tokens) of ``windows`` [n, seq]; ``tail`` scores only the
    last ``tail`` positions of each window (cheaper: the head runs on those rows only). The
    evaluation service's scorer, on these windows."""
    from engine.evaluation.scoring import torch_window_nll

    seq = int(windows.shape[1]) if len(windows) else 0
    scored = seq - 1 if tail is None else min(tail, seq - 1)
    return torch_window_nll(model, [(row.tolist(), scored) for row in windows], cancelled=cancelled)


def perplexity(model: Any, windows: Any, *, cancelled: Any = None) -> tuple[float | None, int]:
    if len(windows) == 0:
        return None, 0
    loss, n = nll(model, windows, cancelled=cancelled)
    return (math.exp(min(loss / n, 50.0)) if n else None), n


def tokens_per_s(model: Any, tokenizer: Any, *, prompt: str = "The history of the printing press",
                 new_tokens: int = 32) -> float:  # fmt: skip
    """Greedy decoding speed with the KV cache (batch 1), after one warm-up token."""
    import torch

    ids = tokenizer(prompt, return_tensors="pt").input_ids.to(_device(model))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.inference_mode():
        model.generate(ids, max_new_tokens=2, do_sample=False, pad_token_id=pad)
        start = time.perf_counter()
        out = model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             do_sample=False, pad_token_id=pad)  # fmt: skip
        seconds = time.perf_counter() - start
    made = int(out.shape[1] - ids.shape[1])
    return round(made / seconds, 2) if seconds > 0 else 0.0


def llama_tokens_per_s(path: str, *, prompt: str = "The history of the printing press", new_tokens: int = 64) -> float:  # fmt: skip
    """Greedy decoding speed of a GGUF in llama.cpp (batch 1), after a short warm-up."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=256, verbose=False)
    try:
        llm.create_completion(prompt, max_tokens=4, temperature=0)
        start = time.perf_counter()
        out = llm.create_completion(prompt, max_tokens=new_tokens, temperature=0)
        seconds = time.perf_counter() - start
    finally:
        llm.close()
    return round(out["usage"]["completion_tokens"] / seconds, 1) if seconds > 0 else 0.0


def greedy_answers(model: Any, tokenizer: Any, prompts: list[str], *, new_tokens: int = 32) -> list[str]:  # fmt: skip
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = []
    with torch.inference_mode():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt").input_ids.to(_device(model))
            gen = model.generate(ids, max_new_tokens=new_tokens, do_sample=False, pad_token_id=pad)
            out.append(tokenizer.decode(gen[0, ids.shape[1] :], skip_special_tokens=True).strip())
    return out


DEFAULT_PROMPTS = [
    "The capital of France is",
    "To make a cup of tea, first",
    "def fibonacci(n):",
]
