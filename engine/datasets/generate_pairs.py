"""Preference pairs from a local model and a judge: the ``preferences`` mode of ``data.generate``.

For each prompt of a dataset (the conversation up to its last user turn; a text row is the
prompt itself) the model answers twice, sampled with two seeds. The judge -- any chat model of
the library -- is asked which answer is better with the Evaluate judge's pairwise prompt, in both
orders (``engine.evaluation.judge``): only a verdict that holds both ways round makes a pair, the
better answer chosen and the other rejected. Identical answers, ties, verdicts that flip with the
order and replies without a verdict are counted, not kept. Each row carries its provenance (the
answering model, the judge, the source row) and the dataset records the whole request.

Progress lives in the job's work folder after every prompt (``generate._Work``), so a cancelled
or interrupted job resumes with the next prompt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services

SAMPLING = {"temperature": 0.9, "top_p": 0.95, "max_tokens": 256}


def check(params: dict[str, Any], out: dict[str, Any]) -> None:
    """The ``preferences`` mode's parameters (``generate.check_params`` does the shared ones)."""
    from engine.datasets.generate import _int

    for key, what in (("prompts", "a dataset of prompts"), ("judge_id", "a judge model")):
        if not isinstance(params.get(key), str) or not params[key]:
            raise UserError(f"Preference pairs need {what} ({key}).")
    if params.get("judge_id") == params.get("model_id"):
        raise UserError("The judge must be another model than the one answering: a model rates its own answers too kindly.")  # fmt: skip
    out["count"] = _int(params.get("count", 50), "count", 1, 1_000_000)
    sampling = dict(SAMPLING)
    sampling.update(params.get("params") or {})
    out["params"] = sampling


def prompts_of(services: Services, ref: str, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` prompts: {messages (ending with a user turn), row}."""
    from engine.datasets import formats
    from engine.datasets.library import DatasetLibrary

    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    fmt = ver["format"]
    out: list[dict[str, Any]] = []
    with lib.reader(ds["id"], ver["version"]) as reader:
        for pos, row in reader.iter_rows(0, ver["rows"]):
            if fmt == "text":
                messages = [{"role": "user", "content": str(row.get("text") or "")}]
            else:
                try:
                    messages = formats.to_chat(row, fmt)
                except formats.RowError:
                    continue
                while messages and messages[-1]["role"] != "user":
                    messages = messages[:-1]
            if messages and messages[-1]["content"].strip():
                out.append({"messages": messages, "row": pos})
            if len(out) == limit:
                break
    if not out:
        raise UserError(f"{ds['name']} has no rows with a user prompt to answer.")
    return out


def _ask(services: Services, model_id: str, messages: list[dict[str, str]], params: dict[str, Any], ctx: Any) -> str:  # fmt: skip
    from engine.core.errors import Cancelled
    from engine.datasets.generate import chat_generate

    result = chat_generate(services, model_id=model_id, messages=messages, params=params,
                           cancelled=ctx.cancelled)  # fmt: skip
    if result.get("finish_reason") == "cancelled":
        raise Cancelled(None)
    return (result.get("text") or "").strip()


def run(services: Services, params: dict[str, Any], work: Any, ctx: Any) -> None:
    from engine.evaluation.judge import JUDGE_TOKENS, PAIR, combine, parse_verdict

    prompts = prompts_of(services, params["prompts"], params["count"])
    sampling = params["params"]
    judge_params = {"temperature": 0.0, "max_tokens": JUDGE_TOKENS}
    for i in range(work.state["done"], len(prompts)):
        if ctx.cancelled():
            from engine.core.errors import Cancelled

            raise Cancelled(None)
        item = prompts[i]
        messages = item["messages"]
        seed = int(sampling.get("seed", 0)) + 2 * i
        a = _ask(services, params.get("model_id"), messages, {**sampling, "seed": seed}, ctx)
        b = _ask(services, params.get("model_id"), messages, {**sampling, "seed": seed + 1}, ctx)
        rejected: dict[str, int] = {}
        row = None
        if not a or not b:
            rejected["empty_answer"] = 1
        elif " ".join(a.split()) == " ".join(b.split()):
            rejected["identical_answers"] = 1
        else:
            question = "\n\n".join(m["content"] for m in messages if m["role"] != "system")
            first = _ask(services, params["judge_id"], [{"role": "user", "content": PAIR.format(question=question, a=a, b=b)}], judge_params, ctx)  # fmt: skip
            swapped = _ask(services, params["judge_id"], [{"role": "user", "content": PAIR.format(question=question, a=b, b=a)}], judge_params, ctx)  # fmt: skip
            outcome = combine(parse_verdict(first), parse_verdict(swapped))
            if outcome in ("a", "b"):
                chosen, other = (a, b) if outcome == "a" else (b, a)
                system = next((m["content"] for m in messages if m["role"] == "system"), None)
                row = {**({"system": system} if system else {}), "prompt": messages[-1]["content"],
                       "chosen": chosen, "rejected": other, "source_row": item["row"],
                       "model_id": params.get("model_id"), "judge_id": params["judge_id"]}  # fmt: skip
            else:
                rejected[{"tie": "judged_a_tie"}.get(outcome, f"judge_{outcome}")] = 1
        work.save([row] if row else [], rejected)
        ctx.progress((i + 1) / len(prompts), f"Prompt {i + 1}/{len(prompts)}: {work.state['rows']} pairs kept")  # fmt: skip
    if work.state["rows"] < len(prompts):
        work.state["shortfall"] = f"{work.state['rows']} pairs from {len(prompts)} prompts"
