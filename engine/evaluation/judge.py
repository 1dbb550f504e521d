"""A local model as judge of the answers of an ``eval.run``.

- **Rubric**: each answer gets a rating from 1 to 10 for how well it answers the question (with
  the reference answer shown as a guide). The judge must write the rating as ``[[7]]``; a reply
  without one is counted as *unparsed*, never guessed.
- **Pairwise**: for every two models, the judge picks the better answer, ``[[A]]``, ``[[B]]`` or
  ``[[C]]`` (a tie), asked *both ways round*: a judge that prefers whichever answer comes first
  says A twice, which is inconsistent, not a win. The verdict counts only when both orders agree;
  the agreement (consistent pairs over pairs parsed both ways) is reported, a measure of how much
  the judge's verdicts can be trusted.

Judge prompts are answered greedily, in batches, by the same code as the answers, and stored as
they come (``judge-rubric-0.jsonl``, ``judge-pair-0.jsonl``), so a resumed run asks only what
is missing.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.evaluation.records import answers

if TYPE_CHECKING:
    from engine.services import Services

JUDGE_TOKENS = 64
_RATING = re.compile(r"\[\[\s*(10|[1-9])(?:\.\d+)?\s*\]\]")
_RATING_LOOSE = re.compile(r"\brating\s*[:=]\s*(10|[1-9])\b", re.IGNORECASE)
_VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")

RUBRIC = (
    "Rate how well the answer responds to the question, using the reference answer as a guide. "
    "Use a scale from 1 (wrong or useless) to 10 (correct, complete and clear). Reply with the "
    "rating in double brackets, like [[7]], then one sentence saying why.\n\n"
    "Question:\n{question}\n\nReference answer:\n{reference}\n\nAnswer to rate:\n{answer}"
)
PAIR = (
    "Which answer responds better to the question? Reply [[A]] if answer A is better, [[B]] if "
    "answer B is better, or [[C]] if they are equally good, then one sentence saying why.\n\n"
    "Question:\n{question}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}"
)


def parse_rating(text: str) -> int | None:
    found = _RATING.search(text) or _RATING_LOOSE.search(text)
    return int(found.group(1)) if found else None


def parse_verdict(text: str) -> str | None:
    """``A``, ``B`` or ``C`` (tie); None when the reply names none, or more than one."""
    found = {m.group(1) for m in _VERDICT.finditer(text)}
    return found.pop() if len(found) == 1 else None


def combine(first: str | None, swapped: str | None) -> str:
    """One pair's outcome from its two orders: ``first``'s A is model a; ``swapped``'s A is b.
    ``a``, ``b`` or ``tie`` when both orders agree; ``inconsistent`` or ``unparsed`` otherwise."""
    if first is None or swapped is None:
        return "unparsed"
    back = {"A": "B", "B": "A", "C": "C"}[swapped]
    if first != back:
        return "inconsistent"
    return {"A": "a", "B": "b", "C": "tie"}[first]


def check_judge(services: Services, judge: Any) -> str | None:
    if judge in (None, ""):
        return None
    if not isinstance(judge, str):
        raise UserError("judge must be a library model id.")
    model = services.library.get(judge)
    if model.get("role") not in ("llm", "adapter") or model.get("missing"):
        raise UserError(f"{model['name']} cannot judge: pick a chat model of the library.")
    from engine.models.remote import require_consent

    require_consent(services, [model["id"]])
    return model["id"]


def _question(row: dict[str, Any]) -> str:
    return "\n\n".join(m["content"] for m in row["messages"] if m["role"] != "system")


def judge_run(services: Services, record: dict[str, Any], picked: list[dict[str, Any]], ctx: Any, *,
              span: tuple[float, float]) -> None:  # fmt: skip
    """Ask the judge the rubric for every answer and, with two models or more, both orders of
    every pair; the replies are stored (resumable)."""
    from engine.evaluation.answering import answer_all

    n = len(picked)
    got = [answers(services, record["run_id"], m) for m in range(len(record["models"]))]
    rubric = []
    for m in range(len(record["models"])):
        for i, row in enumerate(picked):
            text = RUBRIC.format(question=_question(row), reference=row["reference"],
                                 answer=got[m][row["index"]]["prediction"])  # fmt: skip
            rubric.append({"index": m * n + i, "messages": [{"role": "user", "content": text}]})
    pairs = []
    for p, (a, b) in enumerate(itertools.combinations(range(len(record["models"])), 2)):
        for order, (x, y) in enumerate(((a, b), (b, a))):
            for i, row in enumerate(picked):
                text = PAIR.format(question=_question(row), a=got[x][row["index"]]["prediction"],
                                   b=got[y][row["index"]]["prediction"])  # fmt: skip
                pairs.append({"index": (2 * p + order) * n + i,
                              "messages": [{"role": "user", "content": text}]})  # fmt: skip
    lo, hi = span
    mid = lo + (hi - lo) * len(rubric) / max(1, len(rubric) + len(pairs))
    answer_all(services, record, rubric, ctx, span=(lo, mid), file="judge-rubric",
               models=[record["judge"]], max_tokens=JUDGE_TOKENS, what="answers rated")  # fmt: skip
    if pairs:
        answer_all(services, record, pairs, ctx, span=(mid, hi), file="judge-pair",
                   models=[record["judge"]], max_tokens=JUDGE_TOKENS, what="pairs judged")  # fmt: skip


def judged(services: Services, record: dict[str, Any], picked: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """From the stored replies: ratings per model and row, and the pairwise table."""
    n = len(picked)
    rubric = answers(services, record["run_id"], 0, "judge-rubric")
    ratings = [[parse_rating(rubric[m * n + i]["prediction"]) if (m * n + i) in rubric else None
                for i in range(n)] for m in range(len(record["models"]))]  # fmt: skip
    replies = answers(services, record["run_id"], 0, "judge-pair")
    table = []
    for p, (a, b) in enumerate(itertools.combinations(range(len(record["models"])), 2)):
        counts = {"a": 0, "b": 0, "tie": 0, "inconsistent": 0, "unparsed": 0}
        for i in range(n):
            first = replies.get(2 * p * n + i)
            swapped = replies.get((2 * p + 1) * n + i)
            outcome = combine(parse_verdict(first["prediction"]) if first else None,
                              parse_verdict(swapped["prediction"]) if swapped else None)  # fmt: skip
            counts[outcome] += 1
        both = n - counts["unparsed"]
        table.append({"model_a": record["models"][a], "model_b": record["models"][b],
                      "wins_a": counts["a"], "wins_b": counts["b"], "ties": counts["tie"],
                      "inconsistent": counts["inconsistent"], "unparsed": counts["unparsed"],
                      "agreement": round((both - counts["inconsistent"]) / both, 4) if both else None})  # fmt: skip
    return {"ratings": ratings, "pairwise": table}
