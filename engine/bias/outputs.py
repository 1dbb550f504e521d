"""Output level: does an internal difference show in what the model writes?

For each pair: the greedy continuation of both prompts side by side, and for each continuation
the user gives ("was a criminal", "was a doctor"), the log-probability the model assigns to it
after prompt A and after prompt B (summed over its tokens) and the difference B - A. Positive:
the model finds that continuation likelier after B.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.bias import pairs as pair_sets
from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services

MAX_CONTINUATIONS = 8


def check_continuations(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise UserError('continuations must be a list of texts, like ["was a criminal"].')
    cleaned = [v for v in (v.strip() for v in values) if v]
    if len(cleaned) > MAX_CONTINUATIONS:
        raise UserError(f"At most {MAX_CONTINUATIONS} continuations at a time.")
    return cleaned


def continuation_logprob(lm: Any, tok: Any, prompt: str, continuation: str) -> float:
    """log P(continuation | prompt), summed over the continuation's tokens."""
    import torch

    prompt_ids = tok(prompt, add_special_tokens=True)["input_ids"]
    full = tok(prompt + " " + continuation, add_special_tokens=True)["input_ids"]
    if full[: len(prompt_ids)] != prompt_ids:  # the join merged a token: score from the split
        full = prompt_ids + tok(" " + continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([full])
    with torch.no_grad():
        logits = lm(input_ids=ids, use_cache=False).logits[0].float()
    logp = torch.log_softmax(logits[:-1], -1)
    targets = ids[0, 1:]
    start = len(prompt_ids) - 1
    return float(logp[start:].gather(1, targets[start:, None]).sum())


def greedy(lm: Any, tok: Any, prompt: str, new_tokens: int) -> str:
    import torch

    ids = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = lm.generate(**ids, max_new_tokens=new_tokens, do_sample=False,
                          pad_token_id=tok.pad_token_id or tok.eos_token_id)  # fmt: skip
    return tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def run(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    from engine.bias.run import choose
    from engine.pruning.pipeline import check_model, load

    model = check_model(services, params["model_id"], converted=False)
    chosen = choose(pair_sets.get_set(services, params["set"]).pairs, params.get("pairs"))
    continuations = check_continuations(params.get("continuations"))
    new_tokens = int(params.get("max_tokens") or 16)
    ctx.progress(0.02, f"Loading {model['name']}")
    lm, tok = load(services, model, ctx)
    rows = []
    for i, pair in enumerate(chosen):
        ctx.check_cancelled()
        row: dict[str, Any] = {"index": i, "category": pair.category, "a": pair.a, "b": pair.b,
                               "heldout": pair.heldout,
                               "continuation_a": greedy(lm, tok, pair.a, new_tokens),
                               "continuation_b": greedy(lm, tok, pair.b, new_tokens),
                               "logprobs": []}  # fmt: skip
        for text in continuations:
            la = continuation_logprob(lm, tok, pair.a, text)
            lb = continuation_logprob(lm, tok, pair.b, text)
            row["logprobs"].append({"text": text, "a": round(la, 4), "b": round(lb, 4),
                                    "difference": round(lb - la, 4)})  # fmt: skip
        rows.append(row)
        ctx.progress(0.1 + 0.9 * (i + 1) / len(chosen), f"Pair {i + 1} of {len(chosen)}")
    return {"model_id": model["id"], "set": params["set"], "continuations": continuations,
            "max_tokens": new_tokens, "pairs": rows}  # fmt: skip
