"""Retrieval evaluation: hit@1/3/5 and MRR of hybrid, dense-only and BM25-only search.

A QA file is JSON Lines; each line has a ``question`` and an ``answer`` (a hit is a retrieved
chunk whose text contains the answer, ignoring case) and/or a ``source`` (a hit is a chunk from
that file: its full path, its name, or a path ending in it). Either criterion counts. MRR is the
mean of 1/rank of the first hit within the top ``k`` (10 by default), 0 when there is none.

Searches run with the threshold, MMR and the semantic cache off, so the figures measure ranking.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import Cancelled, UserError
from engine.documents.retrieval import Retriever
from engine.documents.settings import MODES, SearchOptions

if TYPE_CHECKING:
    from engine.services import Services

CUTOFFS = (1, 3, 5)


def load_qa(path: str | Path) -> list[dict[str, str]]:
    path = Path(path).expanduser()
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise UserError(f"QA file {path} not found.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"Cannot read the QA file {path}: {exc}.") from exc
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise UserError(f"{path.name} line {number} is not JSON ({exc.msg}).") from None
        items.append(check_item(item, f"{path.name} line {number}"))
    if not items:
        raise UserError(f"{path.name} holds no questions.")
    return items


def check_item(item: Any, where: str) -> dict[str, str]:
    if not isinstance(item, dict) or not isinstance(item.get("question"), str):
        raise UserError(f'{where}: each item needs a "question" string.')
    answer, source = item.get("answer"), item.get("source")
    if not (isinstance(answer, str) and answer.strip()) and not (
        isinstance(source, str) and source.strip()
    ):
        raise UserError(f'{where}: give an "answer" or a "source" to judge hits by.')
    out = {"question": item["question"]}
    if isinstance(answer, str) and answer.strip():
        out["answer"] = answer
    if isinstance(source, str) and source.strip():
        out["source"] = source
    return out


def is_hit(hit: dict[str, Any], item: dict[str, str]) -> bool:
    answer = item.get("answer")
    if answer and answer.casefold() in (hit.get("text") or "").casefold():
        return True
    source = item.get("source")
    if source:
        file = hit.get("file") or ""
        if source in (file, hit.get("name")) or file.replace("\\", "/").endswith(
            "/" + source.replace("\\", "/").lstrip("/")
        ):
            return True
    return False


def evaluate(
    services: Services,
    collection_ref: str,
    items: list[dict[str, str]],
    *,
    k: int = 10,
    modes: tuple[str, ...] = MODES,
    details: bool = False,
    cancelled: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    if not isinstance(k, int) or not 5 <= k <= 100:
        raise UserError("k must be a whole number from 5 to 100.")
    docs = services.docs
    collection = docs.catalog.get(collection_ref)
    retriever = Retriever(docs, collection)
    ranks: dict[str, list[int | None]] = {m: [] for m in modes}
    per_question = []
    for item in items:
        if cancelled is not None and cancelled():
            raise Cancelled(_report(ranks, k, per_question, details))
        row: dict[str, Any] = {"question": item["question"]}
        for mode in modes:
            opts = SearchOptions(k=k, mode=mode, min_score=0.0, mmr=False, cache=False)
            results = retriever.search(item["question"], opts)["results"]
            rank = next((i for i, h in enumerate(results, start=1) if is_hit(h, item)), None)
            ranks[mode].append(rank)
            row[mode] = rank
        per_question.append(row)
    return _report(ranks, k, per_question, details)


def _report(
    ranks: dict[str, list[int | None]], k: int, rows: list[dict[str, Any]], details: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    n = 0
    for mode, found in ranks.items():
        n = len(found)
        metrics = {
            f"hit@{c}": round(sum(1 for r in found if r is not None and r <= c) / n, 4)
            if n
            else 0.0
            for c in CUTOFFS
        }
        metrics["mrr"] = round(sum(1.0 / r for r in found if r is not None) / n, 4) if n else 0.0
        out[mode] = metrics
    out["questions"] = n
    out["k"] = k
    if details:
        out["details"] = rows
    return out
