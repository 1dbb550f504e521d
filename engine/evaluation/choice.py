"""Multiple choice by log-likelihood, the lm-evaluation-harness way (``eval.choice``).

Each row has a ``question`` (or ``instruction``/``prompt``), ``choices`` (a list, or a JSON list in
a string) and an ``answer``: the right choice's index, its letter (A, B, ...) or its text. The
model never writes anything: the context ``Question: <q>\\nAnswer:`` is followed by each choice
(`` <choice>``) and the choice's tokens' summed log-probability is its score. ``accuracy`` counts
the rows whose best-scored choice is the right one; ``accuracy_norm`` divides each score by the
choice's length in bytes first (lm-eval's ``acc_norm``), so long choices are not penalised for
having more tokens. Rows are stored as they are scored, so a killed run resumes.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.evaluation import records
from engine.evaluation.answering import open_model
from engine.evaluation.metrics import interval
from engine.evaluation.records import check_models

if TYPE_CHECKING:
    from engine.services import Services


def _choices(value: Any) -> list[str] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict) and isinstance(value.get("text"), list):  # {"label", "text"} shape
        value = value["text"]
    if isinstance(value, list) and len(value) >= 2 and all(isinstance(c, (str, int, float)) for c in value):  # fmt: skip
        return [str(c) for c in value]
    return None


def _answer(value: Any, choices: list[str]) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < len(choices) else None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and int(text) < len(choices):
            return int(text)
        if len(text) == 1 and text.upper().isalpha() and ord(text.upper()) - 65 < len(choices):
            return ord(text.upper()) - 65
        if text in choices:
            return choices.index(text)
    return None


def choice_rows(rows: list[dict[str, Any]], dataset: str) -> list[dict[str, Any]]:
    """``[{index, question, choices, answer}]``, or a ``UserError`` naming what a row lacks."""
    out = []
    for i, row in enumerate(rows):
        question = next((row[k] for k in ("question", "instruction", "prompt") if isinstance(row.get(k), str) and row[k].strip()), None)  # fmt: skip
        choices = _choices(row.get("choices"))
        if question is None or choices is None or not any(k in row for k in ("answer", "output")):
            lacking = [n for n, ok in (("question", question is not None), ("choices", choices is not None),
                                       ("answer", "answer" in row or "output" in row)) if not ok]  # fmt: skip
            raise UserError(
                f"Row {i + 1} of {dataset} lacks {', '.join(lacking)}: multiple choice needs "
                "question, choices (a list of at least two) and answer (an index, a letter or the "
                "right choice's text) in every row."
            )
        answer = _answer(row.get("answer", row.get("output")), choices)
        if answer is None:
            raise UserError(f"Row {i + 1} of {dataset}: the answer {row.get('answer', row.get('output'))!r} is not one of its {len(choices)} choices.")  # fmt: skip
        out.append({"index": i, "question": question.strip(), "choices": choices, "answer": answer})
    return out


def loglikelihoods(lm: Any, question: str, choices: list[str]) -> list[float]:
    context = f"Question: {question}\nAnswer:"
    ctx_ids = lm.tokenize(context, add_bos=lm.add_bos)
    scores = []
    for choice in choices:
        full = lm.tokenize(context + " " + choice, add_bos=lm.add_bos)
        if full[: len(ctx_ids)] != ctx_ids:  # the join merged tokens: score the choice on its own
            full = ctx_ids + lm.tokenize(" " + choice)
        scores.append(float(sum(lm.logprobs(full, len(ctx_ids)))))
    return scores


def check(services: Services, *, models: Any, dataset: Any, split: Any = None, limit: Any = None) -> dict[str, Any]:  # fmt: skip
    from engine.evaluation.texts import split_rows

    models = check_models(services, models, scoring=True)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UserError("limit must be a whole number of at least 1.")
    if not isinstance(dataset, str) or not dataset:
        raise UserError("Name the dataset of questions (--dataset).")
    ver, _fmt, rows = split_rows(services, dataset, split)
    picked = choice_rows(rows[:limit] if limit else rows, ver["name"])
    return {"models": models, "dataset": ver["dataset_id"], "dataset_name": ver["name"],
            "version": ver["version"], "split": split, "limit": limit, "rows": len(picked),
            "metrics": ["accuracy", "accuracy_norm"]}  # fmt: skip


def run(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """The ``eval.choice`` job."""
    import numpy as np

    from engine.evaluation.texts import split_rows

    record = records.load_run(services, params["run_id"])
    record["state"] = "running"
    records.save_run(services, record)
    _ver, _fmt, rows = split_rows(services, record["dataset"], record.get("split"), version=record["version"])  # fmt: skip
    limit = record.get("limit")
    picked = choice_rows(rows[:limit] if limit else rows, record["dataset_name"])
    results = []
    n_models = len(record["models"])
    for m, model_id in enumerate(record["models"]):
        model = services.library.get(model_id)
        done = records.answers(services, record["run_id"], m)
        todo = [r for r in picked if r["index"] not in done]
        if todo:
            ctx.progress(m / n_models, f"Loading {model['name']}")
            lm = open_model(services, model, ctx, scoring=True)
            try:
                with records.open_answers(services, record["run_id"], m) as out:
                    for k, r in enumerate(todo):
                        ctx.check_cancelled()
                        scores = loglikelihoods(lm, r["question"], r["choices"])
                        out.write(json.dumps({"index": r["index"], "logliks": scores}) + "\n")
                        out.flush()
                        os.fsync(out.fileno())
                        if k % 4 == 0:
                            shown = len(picked) - len(todo) + k + 1
                            ctx.progress((m + shown / len(picked)) / n_models,
                                         f"{model['name']}: {shown} of {len(picked)} questions")  # fmt: skip
            finally:
                lm.close()
        got = records.answers(services, record["run_id"], m)
        right = np.array([int(np.argmax(got[r["index"]]["logliks"])) == r["answer"] for r in picked], dtype=float)  # fmt: skip
        right_norm = np.array([
            int(np.argmax([s / max(1, len((" " + c).encode("utf-8"))) for s, c in zip(got[r["index"]]["logliks"], r["choices"], strict=True)])) == r["answer"]
            for r in picked], dtype=float)  # fmt: skip
        agg = {name: interval(values) for name, values in (("accuracy", right), ("accuracy_norm", right_norm))}  # fmt: skip
        results.append({"model_id": model_id, "name": record["model_names"][m], "metrics": agg,
                        "accuracy": agg["accuracy"]["value"],
                        "accuracy_norm": agg["accuracy_norm"]["value"], "n": len(picked),
                        "rows": len(picked)})  # fmt: skip
    record["results"] = results
    record["state"] = "done"
    records.save_run(services, record)
    return {"run_id": record["run_id"], "results": results}
