"""Answers of library models to prompts, as the chat path would render them: greedy, batched,
each answer stored (and flushed) as it comes so a killed job resumes where it stopped. Used by
task evaluations, the judge and the arena."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from engine.evaluation.records import answers, open_answers

if TYPE_CHECKING:
    from engine.services import Services


def _prompt_tokens(lm: Any, model: dict[str, Any], messages: list[dict[str, str]]) -> tuple[list[int], tuple[str, ...]]:  # fmt: skip
    """The prompt as the chat path renders it: the model's template (or the library's choice)."""
    from engine.chat.templates import render, resolve

    template = resolve(model, choice=None, own_template=lm.chat_template())
    bos, eos = lm.special_texts()
    text = render(template, messages, bos_token=bos, eos_token=eos, model_name=model["name"])
    add_bos = lm.add_bos and not (bos and text.startswith(bos))
    return lm.tokenize(text, add_bos=add_bos, special=True), template.stop


def open_model(services: Services, model: dict[str, Any], ctx: Any = None, *, scoring: bool = False) -> Any:  # fmt: skip
    """The model in its runtime: ``scoring`` when log-likelihoods are needed, not only answers."""
    from engine.evaluation.gguf import GgufModel
    from engine.evaluation.torch_lm import TorchModel

    if model["format"] == "gguf":
        return GgufModel(model, scoring=scoring)
    return TorchModel(services, model, ctx)


def answer_all(services: Services, record: dict[str, Any], items: list[dict[str, Any]], ctx: Any, *,
               span: tuple[float, float] = (0.0, 0.95), file: str = "answers", models: list[str] | None = None,
               max_tokens: int | None = None, what: str = "rows answered") -> None:  # fmt: skip
    """Every model of ``models`` (default the record's) answers every item ``{index, messages}``
    it has not answered yet, in batches, each line stored as it comes (``<file>-<n>.jsonl``)."""
    from engine.evaluation.gguf import ANSWER_BATCH

    models = models if models is not None else record["models"]
    batch = int(record.get("batch") or ANSWER_BATCH)
    budget = int(max_tokens or record.get("max_tokens") or 128)
    lo0, hi0 = span
    for m, model_id in enumerate(models):
        model = services.library.get(model_id)
        done = answers(services, record["run_id"], m, file)
        todo = [r for r in items if r["index"] not in done]
        if not todo:
            continue
        lo = lo0 + (hi0 - lo0) * m / len(models)
        hi = lo0 + (hi0 - lo0) * (m + 1) / len(models)
        if model["format"] == "remote":
            _answer_remote(services, record, model, m, todo, ctx, file=file, budget=budget,
                           span=(lo, hi), total=len(items), what=what)  # fmt: skip
            continue
        ctx.progress(lo, f"Loading {model['name']}")
        lm = open_model(services, model, ctx)
        try:
            with open_answers(services, record["run_id"], m, file) as out:
                for start in range(0, len(todo), batch):
                    ctx.check_cancelled()
                    part = todo[start : start + batch]
                    prompts, stop = [], ()
                    for r in part:
                        ids, stop = _prompt_tokens(lm, model, r["messages"])
                        prompts.append(ids)
                    got = lm.answer_batch(prompts, max_tokens=budget, stop=stop, cancelled=ctx.cancelled)  # fmt: skip
                    for r, (text, finish, n_tok) in zip(part, got, strict=True):
                        out.write(json.dumps({"index": r["index"], "prediction": text,
                                              "finish": finish, "tokens": n_tok}) + "\n")  # fmt: skip
                    out.flush()
                    os.fsync(out.fileno())
                    shown = len(items) - len(todo) + start + len(part)
                    ctx.progress(lo + (hi - lo) * shown / len(items),
                                 f"{model['name']}: {shown} of {len(items)} {what}")  # fmt: skip
        finally:
            lm.close()


REMOTE_PARALLEL = 4  # requests in flight to a server at once (it batches them)


def _answer_remote(services: Services, record: dict[str, Any], model: dict[str, Any], m: int,
                   todo: list[dict[str, Any]], ctx: Any, *, file: str, budget: int,
                   span: tuple[float, float], total: int, what: str) -> None:  # fmt: skip
    """A model on a server answers through the chat path (greedy, the server's own template),
    a few requests at a time; each answer is stored as it comes, in any order."""
    from concurrent.futures import ThreadPoolExecutor

    from engine.chat.generate import generate

    lo, hi = span
    params = {"temperature": 0.0, "top_p": 1.0, "max_tokens": budget, "seed": 0}

    def one(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        got = generate(services, model_id=model["id"], messages=row["messages"], params=params,
                       cancelled=ctx.cancelled)  # fmt: skip
        return row, got

    ctx.progress(lo, f"{model['name']}: asking {model['remote']['base']}")
    done = total - len(todo)
    with open_answers(services, record["run_id"], m, file) as out, ThreadPoolExecutor(REMOTE_PARALLEL) as pool:  # fmt: skip
        # a few requests in flight at a time: a cancel or a failure leaves the rest unsent
        for start in range(0, len(todo), REMOTE_PARALLEL):
            ctx.check_cancelled()
            for row, got in pool.map(one, todo[start : start + REMOTE_PARALLEL]):
                ctx.check_cancelled()
                out.write(json.dumps({"index": row["index"], "prediction": got["text"],
                                      "finish": got["finish_reason"],
                                      "tokens": got["usage"]["completion_tokens"]}) + "\n")  # fmt: skip
                out.flush()
                os.fsync(out.fileno())
                done += 1
                ctx.progress(
                    lo + (hi - lo) * done / total, f"{model['name']}: {done} of {total} {what}"
                )
