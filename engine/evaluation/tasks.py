"""Task evaluations (``eval.run``): each model answers a dataset split's prompts, greedily and in
batches, with its own chat template; the answers are scored against the references.

A run lives in ``<data root>/evaluations/<run_id>/``: ``run.json`` (the request, its state and,
when done, the aggregates) and one ``answers-<n>.jsonl`` per model, a line appended (and flushed)
per answered row. A killed or cancelled run resumes where it stopped: rows already answered are
read back, never asked again. Scores are computed from the stored answers, so ``eval show``
redraws without a model.

Rows: the reference is a conversation's last assistant turn (alpaca ``output``; messages and
ShareGPT: the last assistant message) or a preference row's ``chosen``; the prompt is what comes
before it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.evaluation import metrics
from engine.evaluation.answering import answer_all
from engine.evaluation.records import (
    _run_path,
    answers,
    check_models,
    load_run,
    save_run,
)

if TYPE_CHECKING:
    from engine.services import Services

DEFAULT_METRICS = ("exact_match", "f1", "rouge", "chrf")


def prompt_rows(fmt: str, rows: list[dict[str, Any]], dataset: str) -> list[dict[str, Any]]:
    """``[{index, messages, reference}]``, or a ``UserError`` naming the fields that are missing."""
    from engine.datasets import formats

    if fmt == "text":
        raise UserError(
            f"{dataset} holds plain text: the answer metrics need a prompt and a reference answer "
            "per row (alpaca instruction/output, a conversation ending with the assistant's "
            "reply, or a preference prompt/chosen). Measure perplexity on it instead."
        )
    out = []
    for i, row in enumerate(rows):
        if fmt == "preference":
            messages = [{"role": "user", "content": str(row.get("prompt") or "")}]
            if row.get("system"):
                messages.insert(0, {"role": "system", "content": str(row["system"])})
            out.append(
                {"index": i, "messages": messages, "reference": str(row.get("chosen") or "")}
            )
            continue
        try:
            chat = formats.to_chat(row, fmt)
        except (formats.RowError, KeyError, TypeError) as exc:
            raise UserError(f"Row {i + 1} of {dataset} cannot be read as a conversation ({exc}).") from None  # fmt: skip
        last = max((j for j, m in enumerate(chat) if m["role"] == "assistant"), default=None)
        if last is None or last == 0:
            raise UserError(
                f"Row {i + 1} of {dataset} has no assistant reply to compare with: the answer "
                "metrics need a reference answer in every row."
            )
        out.append({"index": i, "messages": chat[:last], "reference": chat[last]["content"]})
    return out


# -- the job -------------------------------------------------------------------------------------
def check(services: Services, *, models: Any, dataset: Any, split: Any = None, metrics_: Any = None,
          limit: Any = None, max_tokens: Any = 128, batch: Any = None, judge: Any = None) -> dict[str, Any]:  # fmt: skip
    from engine.evaluation.judge import check_judge
    from engine.evaluation.texts import split_rows

    models = check_models(services, models)
    if not isinstance(dataset, str) or not dataset:
        raise UserError("Name the dataset whose rows are the prompts (--dataset).")
    chosen = list(metrics_ or DEFAULT_METRICS)
    metrics.expand(chosen)
    for name, value, lo, hi in (("limit", limit, 1, 1_000_000), ("max_tokens", max_tokens, 1, 4096),
                                ("batch", batch, 1, 64)):  # fmt: skip
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi):  # fmt: skip
            raise UserError(f"{name} must be a whole number from {lo} to {hi}.")
    ver, fmt, rows = split_rows(services, dataset, split)
    picked = prompt_rows(fmt, rows[:limit] if limit else rows, ver["name"])
    return {"models": models, "dataset": ver["dataset_id"], "dataset_name": ver["name"],
            "version": ver["version"], "split": split, "metrics": chosen, "limit": limit,
            "max_tokens": max_tokens, "batch": batch, "rows": len(picked),
            "judge": check_judge(services, judge)}  # fmt: skip


def picked_rows(services: Services, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a run's dataset version and split, as prompts and references."""
    from engine.evaluation.texts import split_rows

    _ver, fmt, rows = split_rows(services, record["dataset"], record.get("split"), version=record["version"])  # fmt: skip
    limit = record.get("limit")
    return prompt_rows(fmt, rows[:limit] if limit else rows, record["dataset_name"])


def run(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """The ``eval.run`` job: answer every row with every model (resuming), judge the answers
    when a judge was named, then score."""
    record = load_run(services, params["run_id"])
    record["state"] = "running"
    save_run(services, record)
    picked = picked_rows(services, record)
    judging = bool(record.get("judge"))
    answer_all(services, record, picked, ctx, span=(0.0, 0.6 if judging else 0.95))
    if judging:
        from engine.evaluation import judge

        judge.judge_run(services, record, picked, ctx, span=(0.6, 0.95))
    ctx.progress(0.97, "Scoring")
    record = score(services, record, picked)
    record["state"] = "done"
    save_run(services, record)
    return summary(record)


def score(services: Services, record: dict[str, Any], picked: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """Per-row scores and aggregates of every model, from the stored answers."""
    embed = None
    if "similarity" in metrics.expand(record["metrics"]):
        embedder = services.docs.embedder(None)
        embed = lambda texts: embedder.embed_documents(texts)  # noqa: E731
    import numpy as np

    references = [r["reference"] for r in picked]
    verdicts = None
    if record.get("judge"):
        from engine.evaluation.judge import judged

        verdicts = judged(services, record, picked)
        record["pairwise"] = verdicts["pairwise"]
    results = []
    for m, model_id in enumerate(record["models"]):
        got = answers(services, record["run_id"], m)
        preds = [got[r["index"]]["prediction"] for r in picked]
        rows = metrics.score_rows(record["metrics"], preds, references, embed)
        agg = metrics.aggregate(record["metrics"], rows, preds, references)
        per_row = [{"index": r["index"], "scores": {k: round(v[i], 6) for k, v in rows.items()}}
                   for i, r in enumerate(picked)]  # fmt: skip
        extra: dict[str, Any] = {}
        if verdicts is not None:
            ratings = verdicts["ratings"][m]
            for row, rating in zip(per_row, ratings, strict=True):
                if rating is not None:
                    row["scores"]["judge"] = float(rating)
            parsed = np.array([r for r in ratings if r is not None], dtype=np.float64)
            if len(parsed):
                agg["judge"] = metrics.interval(parsed)
            extra["judge_unparsed"] = sum(r is None for r in ratings)
        (_run_path(services, record["run_id"]) / f"scores-{m}.json").write_text(json.dumps(per_row), encoding="utf-8")  # fmt: skip
        stopped = sum(got[r["index"]]["finish"] == "stop" for r in picked)
        results.append({"model_id": model_id, "name": record["model_names"][m], "metrics": agg,
                        "rows": len(picked), "stopped": stopped, **extra})  # fmt: skip
    record["results"] = results
    return record


def summary(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"run_id": record["run_id"], "results": [
        {k: r[k] for k in ("model_id", "name", "metrics", "rows", "judge_unparsed") if k in r}
        for r in record["results"]]}  # fmt: skip
    if record.get("judge"):
        out["judge"] = record["judge"]
        out["pairwise"] = record.get("pairwise") or []
    return out


def show(services: Services, run_id: str) -> dict[str, Any]:
    """The run's summary and every row: input, reference, each model's prediction and scores."""

    record = load_run(services, run_id)
    picked = picked_rows(services, record)
    out_rows = []
    for m, model_id in enumerate(record["models"]):
        got = answers(services, run_id, m)
        path = _run_path(services, run_id) / f"scores-{m}.json"
        scores = {r["index"]: r["scores"] for r in json.loads(path.read_text(encoding="utf-8"))} if path.exists() else {}  # fmt: skip
        for r in picked:
            if r["index"] not in got:
                continue
            out_rows.append({"model_id": model_id, "index": r["index"],
                             "input": r["messages"][-1]["content"], "reference": r["reference"],
                             "prediction": got[r["index"]]["prediction"],
                             "finish": got[r["index"]]["finish"], "scores": scores.get(r["index"], {})})  # fmt: skip
    return {**summary(record), "state": record["state"], "dataset": record["dataset_name"],
            "split": record.get("split"), "metrics": record["metrics"], "rows": out_rows}  # fmt: skip
