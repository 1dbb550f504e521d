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


def check(params: dict[str, Any], out: dict[str, Any], whole: Any) -> None:
    """The ``preferences`` mode's parameters (``generate.check_params`` does the shared ones and
    passes its whole-number check, ``whole(value, name, lo, hi)``)."""
    for key, what in (("prompts", "a dataset of prompts"), ("judge_id", "a judge model")):
        if not isinstance(params.get(key), str) or not params[key]:
            raise UserError(f"Preference pairs need {what} ({key}).")
    if params.get("judge_id") == params.get("model_id"):
        raise UserError("The judge must be another model than the one answering: a model rates its own answers too kindly.")  # fmt: skip
    out["count"] = whole(params.get("count", 50), "count", 1, 1_000_000)
    sampling = dict(SAMPLING)
    sampling.update(params.get("params") or {})
    out["params"] = sampling


def prompts_of(services: Services, ref: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Up to ``limit`` prompts, {messages (a system turn or none, then one user turn), row}, and
    how many rows were passed over for having earlier turns: a preference row holds one prompt,
    so an answer to a later turn would be trained without what it answers."""
    from engine.datasets import formats
    from engine.datasets.library import DatasetLibrary

    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    fmt = ver["format"]
    out: list[dict[str, Any]] = []
    multi_turn = 0
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
            if sum(m["role"] != "system" for m in messages) > 1:
                multi_turn += 1
            elif messages and messages[-1]["content"].strip():
                out.append({"messages": messages, "row": pos})
            if len(out) == limit:
                break
    if not out:
        extra = f" ({multi_turn} have several turns; a preference pair answers one prompt)" if multi_turn else ""  # fmt: skip
        raise UserError(f"{ds['name']} has no rows with a single user prompt to answer{extra}.")
    return out, multi_turn


def _ask(chat: Any, services: Services, model_id: str, messages: list[dict[str, str]], params: dict[str, Any], ctx: Any) -> str:  # fmt: skip
    from engine.core.errors import Cancelled

    result = chat(services, model_id=model_id, messages=messages, params=params,
                           cancelled=ctx.cancelled)  # fmt: skip
    if result.get("finish_reason") == "cancelled":
        raise Cancelled(None)
    return (result.get("text") or "").strip()


def run(services: Services, params: dict[str, Any], work: Any, ctx: Any, *, chat: Any) -> None:
    """Make the pairs into ``work``; ``chat`` is the model call (``generate.chat_generate``)."""
    from engine.chat.generate import default_model_id
    from engine.evaluation.judge import JUDGE_TOKENS, PAIR, combine, parse_verdict

    prompts, multi_turn = prompts_of(services, params["prompts"], params["count"])
    if multi_turn and work.state["done"] == 0:
        work.state["rejected"]["multi_turn_prompts"] = multi_turn
    model_id = params.get("model_id") or default_model_id(services)
    if model_id == params["judge_id"]:
        raise UserError("The judge must be another model than the one answering (the default chat model here); pick another judge.")  # fmt: skip
    sampling = params["params"]
    judge_params = {"temperature": 0.0, "max_tokens": JUDGE_TOKENS}
    for i in range(work.state["done"], len(prompts)):
        if ctx.cancelled():
            from engine.core.errors import Cancelled

            raise Cancelled(None)
        item = prompts[i]
        messages = item["messages"]
        seed = int(sampling.get("seed", 0)) + 2 * i
        rejected: dict[str, int] = {}
        row = None
        try:
            a = _ask(chat, services, model_id, messages, {**sampling, "seed": seed}, ctx)
            b = _ask(chat, services, model_id, messages, {**sampling, "seed": seed + 1}, ctx)
        except UserError as exc:  # e.g. a prompt longer than the model's context: the next one
            ctx.log(f"Prompt {i + 1} left out: {exc.message}", "warning")
            a = b = None
        if a is None or b is None:
            rejected["prompt_failed"] = 1
        elif not a or not b:
            rejected["empty_answer"] = 1
        elif " ".join(a.split()) == " ".join(b.split()):
            rejected["identical_answers"] = 1
        else:
            question = "\n\n".join(m["content"] for m in messages if m["role"] != "system")
            try:
                first = _ask(chat, services, params["judge_id"], [{"role": "user", "content": PAIR.format(question=question, a=a, b=b)}], judge_params, ctx)  # fmt: skip
                swapped = _ask(chat, services, params["judge_id"], [{"role": "user", "content": PAIR.format(question=question, a=b, b=a)}], judge_params, ctx)  # fmt: skip
            except UserError as exc:  # the two answers may not fit the judge's context
                ctx.log(f"Prompt {i + 1}: the judge could not read it ({exc.message})", "warning")
                first = swapped = ""
            outcome = combine(parse_verdict(first), parse_verdict(swapped))
            if outcome in ("a", "b"):
                chosen, other = (a, b) if outcome == "a" else (b, a)
                system = next((m["content"] for m in messages if m["role"] == "system"), None)
                row = {**({"system": system} if system else {}), "prompt": messages[-1]["content"],
                       "chosen": chosen, "rejected": other, "source_row": item["row"],
                       "model_id": model_id, "judge_id": params["judge_id"]}  # fmt: skip
            else:
                rejected[{"tie": "judged_a_tie"}.get(outcome, f"judge_{outcome}")] = 1
        work.save([row] if row else [], rejected)
        ctx.progress((i + 1) / len(prompts), f"Prompt {i + 1}/{len(prompts)}: {work.state['rows']} pairs kept")  # fmt: skip
    if work.state["rows"] < len(prompts):
        work.state["shortfall"] = f"{work.state['rows']} pairs from {len(prompts)} prompts"
