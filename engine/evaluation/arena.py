"""Arena: two to four models answer the same prompts; a person picks the best answer without
knowing which model wrote it; the votes become win rates, Elo and Bradley-Terry ratings, and the
winning and losing answers a preference dataset.

- The prompts come from a dataset split (each row's conversation up to its last assistant turn;
  a text row as one user message) or are typed; they are kept in the run's record.
- The answers are made by an ``eval.arena`` job, like an evaluation's (greedy, batched, stored
  as they come, resumable).
- ``next_prompt`` shows a prompt's answers in an order shuffled per prompt (the same order every
  time it is shown, a different one per prompt), labelled A, B, C, D; ``vote`` maps the label
  back to the model. Voting again on a prompt replaces the earlier vote.
- A vote for one answer is a win over each other answer shown; a tie is a tie between all of
  them. Elo: every pairwise outcome in voting order, K = 32, from 1000. Bradley-Terry: the
  maximum-likelihood strengths (Hunter's MM iterations, a tie as half a win each way, a small
  prior of one tie against an average model so a model that never lost stays finite), on the
  same 400-points-per-tenfold scale as Elo, centred on 1000.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.evaluation import records

if TYPE_CHECKING:
    from engine.services import Services

SLOTS = "ABCD"
MAX_PROMPTS = 1000
K_FACTOR = 32.0


def arena_prompts(fmt: str, rows: list[dict[str, Any]], dataset: str) -> list[list[dict[str, str]]]:
    from engine.datasets import formats

    out = []
    for i, row in enumerate(rows):
        if fmt == "text":
            text = str(row.get("text") or "").strip()
            if text:
                out.append([{"role": "user", "content": text}])
            continue
        if fmt == "preference":
            out.append([{"role": "user", "content": str(row.get("prompt") or "")}])
            continue
        try:
            chat = formats.to_chat(row, fmt)
        except (formats.RowError, KeyError, TypeError) as exc:
            raise UserError(f"Row {i + 1} of {dataset} cannot be read as a conversation ({exc}).") from None  # fmt: skip
        last = max((j for j, m in enumerate(chat) if m["role"] == "assistant"), default=len(chat))
        if chat[:last] and chat[:last][-1]["role"] == "user":
            out.append(chat[:last])
    if not out:
        raise UserError(f"{dataset} has no prompts to ask (rows that end with a user's turn).")
    return out


def check(services: Services, *, models: Any, dataset: Any = None, split: Any = None, limit: Any = None,
          prompts: Any = None, max_tokens: Any = 256) -> dict[str, Any]:  # fmt: skip
    from engine.evaluation.texts import split_rows

    try:
        models = records.check_models(services, models, least=2, most=4)
    except UserError as exc:
        if "needs" in exc.message:
            raise UserError("An arena needs two to four different models.") from None
        raise
    if (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 1 <= max_tokens <= 4096
    ):
        raise UserError("max_tokens must be a whole number from 1 to 4096.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UserError("limit must be a whole number of at least 1.")
    if prompts:
        if dataset:
            raise UserError("Give typed prompts or a dataset, not both.")
        if not isinstance(prompts, list) or not all(
            isinstance(p, str) and p.strip() for p in prompts
        ):
            raise UserError("prompts must be a list of non-empty texts.")
        asked = [[{"role": "user", "content": p.strip()}] for p in prompts]
        source = {"prompts": "typed"}
        dataset_name = "typed prompts"
    elif isinstance(dataset, str) and dataset:
        ver, fmt, rows = split_rows(services, dataset, split)
        asked = arena_prompts(fmt, rows, ver["name"])
        source = {"dataset": ver["dataset_id"], "version": ver["version"], "split": split}
        dataset_name = ver["name"]
    else:
        raise UserError("Give the prompts: a dataset (and split) or typed prompts.")
    asked = asked[: min(limit or MAX_PROMPTS, MAX_PROMPTS)]
    return {"models": models, "dataset": source.get("dataset"), "dataset_name": dataset_name,
            "split": split, "limit": limit, "max_tokens": max_tokens, "source": source,
            "prompts": asked, "rows": len(asked), "metrics": ["win_rate", "elo", "bradley_terry"]}  # fmt: skip


def run(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """The ``eval.arena`` job: every model answers every prompt (resuming)."""
    from engine.evaluation.answering import answer_all

    record = records.load_run(services, params["run_id"])
    record["state"] = "running"
    records.save_run(services, record)
    items = [{"index": i, "messages": m} for i, m in enumerate(record["prompts"])]
    answer_all(services, record, items, ctx, span=(0.0, 0.99), what="prompts answered")
    record["state"] = "done"
    records.save_run(services, record)
    return {"run_id": record["run_id"], "prompts": len(items), "models": record["models"]}


def _order(run_id: str, index: int, n: int) -> list[int]:
    """The models' order for a prompt: shuffled, the same every time for this run and prompt."""
    seed = int.from_bytes(hashlib.sha256(f"{run_id}:{index}".encode()).digest()[:8], "big")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def _arena(services: Services, run_id: str) -> dict[str, Any]:
    record = records.load_run(services, run_id)
    if record.get("kind") != "arena":
        raise UserError(f"{run_id} is not an arena run.")
    return record


def votes(services: Services, run_id: str) -> dict[int, dict[str, Any]]:
    """The latest vote per prompt (``votes-0.jsonl``, a line per vote)."""
    return records.answers(services, run_id, 0, "votes")


def next_prompt(services: Services, run_id: str, index: int | None = None) -> dict[str, Any]:
    """A prompt (the first without a vote, or ``index``) and its answers, blind."""
    record = _arena(services, run_id)
    n = len(record["models"])
    got = [records.answers(services, run_id, m) for m in range(n)]
    voted = votes(services, run_id)
    ready = [i for i in range(len(record["prompts"])) if all(i in g for g in got)]
    if index is None:
        index = next((i for i in ready if i not in voted), None)
        if index is None:
            return {"run_id": run_id, "index": None, "remaining": 0, "voted": len(voted),
                    "answered": len(ready), "prompts": len(record["prompts"])}  # fmt: skip
    elif index not in ready:
        raise UserError(f"Prompt {index + 1} has not been answered by every model yet.")
    order = _order(run_id, index, n)
    messages = record["prompts"][index]
    return {"run_id": run_id, "index": index, "prompt": messages[-1]["content"],
            "context": messages[:-1], "slots": list(SLOTS[:n]),
            "answers": [got[m][index]["prediction"] for m in order],
            "remaining": sum(1 for i in ready if i not in voted and i != index),
            "voted": len(voted), "answered": len(ready), "prompts": len(record["prompts"]),
            "vote": (voted.get(index) or {}).get("choice")}  # fmt: skip


def vote(services: Services, run_id: str, index: Any, choice: Any) -> dict[str, Any]:
    record = _arena(services, run_id)
    n = len(record["models"])
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(record["prompts"]):  # fmt: skip
        raise UserError(f"index must be a prompt number from 0 to {len(record['prompts']) - 1}.")
    allowed = [*SLOTS[:n], "tie"]
    if choice not in allowed:
        raise UserError(f"choice must be one of {', '.join(allowed)}.")
    order = _order(run_id, index, n)
    winner = None if choice == "tie" else order[SLOTS.index(choice)]
    line = {"index": index, "choice": choice, "winner": winner, "shown": order, "ts": time.time()}
    with records.open_answers(services, run_id, 0, "votes") as fh:
        fh.write(json.dumps(line) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return {"index": index, "choice": choice, "voted": len(votes(services, run_id))}


def outcomes(vote_list: list[dict[str, Any]], n: int) -> list[tuple[int, int, float]]:
    """Pairwise results ``(i, j, score of i)`` from votes, in voting order."""
    out = []
    for v in sorted(vote_list, key=lambda v: v["ts"]):
        shown = v["shown"]
        if v["winner"] is None:
            out += [(a, b, 0.5) for k, a in enumerate(shown) for b in shown[k + 1 :]]
        else:
            out += [(v["winner"], other, 1.0) for other in shown if other != v["winner"]]
    return out


def elo(pairs: list[tuple[int, int, float]], n: int) -> list[float]:
    rating = [1000.0] * n
    for i, j, s in pairs:
        expect = 1.0 / (1.0 + 10 ** ((rating[j] - rating[i]) / 400.0))
        rating[i] += K_FACTOR * (s - expect)
        rating[j] -= K_FACTOR * (s - expect)
    return rating


def bradley_terry(
    pairs: list[tuple[int, int, float]], n: int, iterations: int = 500
) -> list[float]:
    wins = [[0.0] * n for _ in range(n)]
    for i, j, s in pairs:
        wins[i][j] += s
        wins[j][i] += 1.0 - s
    games = [[wins[i][j] + wins[j][i] for j in range(n)] for i in range(n)]
    p = [1.0] * n
    for _ in range(iterations):
        new = []
        for i in range(n):
            # the prior: half a win and half a loss against a model of strength 1
            w = sum(wins[i]) + 0.5
            d = sum(
                games[i][j] / (p[i] + p[j]) for j in range(n) if j != i and games[i][j]
            ) + 1.0 / (p[i] + 1.0)
            new.append(w / d)
        mean = math.exp(sum(math.log(x) for x in new) / n)
        p = [x / mean for x in new]
    return [1000.0 + 400.0 * math.log10(x) for x in p]


def results(services: Services, run_id: str) -> dict[str, Any]:
    record = _arena(services, run_id)
    n = len(record["models"])
    vote_list = list(votes(services, run_id).values())
    pairs = outcomes(vote_list, n)
    elos, bts = elo(pairs, n), bradley_terry(pairs, n)
    table = []
    for m, model_id in enumerate(record["models"]):
        won = sum(s for i, _j, s in pairs if i == m) + sum(1 - s for _i, j, s in pairs if j == m)
        games = sum(1 for i, j, _s in pairs if m in (i, j))
        ties = sum(1 for i, j, s in pairs if m in (i, j) and s == 0.5)
        table.append({"model_id": model_id, "name": record["model_names"][m], "games": games,
                      "wins": round(won - 0.5 * ties), "ties": ties,
                      "losses": games - round(won - 0.5 * ties) - ties,
                      "win_rate": round(won / games, 4) if games else None,
                      "elo": round(elos[m], 1), "bradley_terry": round(bts[m], 1)})  # fmt: skip
    table.sort(key=lambda r: -r["bradley_terry"])
    return {
        "run_id": run_id,
        "votes": len(vote_list),
        "prompts": len(record["prompts"]),
        "models": table,
    }


def export(services: Services, run_id: str, name: str | None = None) -> dict[str, Any]:
    """The votes with a winner as a preference dataset: one row per losing answer."""
    import shutil

    from engine.datasets.library import DatasetLibrary
    from engine.datasets.rowstore import VersionWriter
    from engine.datasets.tokens import estimate_tokens

    record = _arena(services, run_id)
    got = [records.answers(services, run_id, m) for m in range(len(record["models"]))]
    rows = []
    for v in sorted(votes(services, run_id).values(), key=lambda v: v["index"]):
        if v["winner"] is None:
            continue
        messages = record["prompts"][v["index"]]
        system = next((m["content"] for m in messages if m["role"] == "system"), None)
        for loser in v["shown"]:
            if loser == v["winner"]:
                continue
            row = {"prompt": messages[-1]["content"], "chosen": got[v["winner"]][v["index"]]["prediction"],
                   "rejected": got[loser][v["index"]]["prediction"],
                   "chosen_model": record["models"][v["winner"]], "rejected_model": record["models"][loser]}  # fmt: skip
            if system:
                row = {"system": system, **row}
            rows.append(row)
    if not rows:
        raise UserError("No votes with a winner yet: vote in the arena first (ties make no preference pairs).")  # fmt: skip
    lib = DatasetLibrary(services)
    dataset_id = lib.new_id()
    writer = VersionWriter(lib.folder(dataset_id))
    for row in rows:
        writer.add_row(row, estimate_tokens(f"{row['prompt']}\n{row['chosen']}\n{row['rejected']}"))
    try:
        ds = lib.create(dataset_id, name or f"arena-{run_id}", writer, fmt="preference",
                        source={"kind": "arena", "run_id": run_id, "models": record["models"]},
                        operation="arena", params={"run_id": run_id},
                        summary={"description": f"{len(rows)} preference pairs from arena votes ({run_id}).",
                                 "rows": len(rows)})  # fmt: skip
    except BaseException:
        shutil.rmtree(lib.folder(dataset_id), ignore_errors=True)
        raise
    return {"dataset": ds, "name": ds["name"], "rows": ds["rows"]}
