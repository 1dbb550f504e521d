"""Answers grounded in documents: retrieve, number the sources, ask the chat model, cite.

    grounded = prepare(services, "How long is the warranty?", ["Manuals"])
    grounded.messages   # a system prompt with the rules, a user turn with numbered sources
    grounded.citations  # [{n, collection, file, name, page, heading, start, end, text, ...}]
    result = ask(services, "How long is the warranty?", ["Manuals"], model_id=None)

``prepare`` is also what Chat uses when collections are attached to a conversation: given the
conversation's ``history`` (its system prompt and earlier turns) it returns the whole prompt -- the
rules, that history, then the latest question with its numbered sources -- and the citations to
store with the reply. ``ask`` does the stateless round trip through ``engine.chat.generate`` -- so
it works with both runtimes -- and marks which sources the reply actually cites (``[n]`` in the
text, ``mark_cited``). When retrieval finds nothing relevant, both say so (``nothing_found_text``)
without calling the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.documents.retrieval import Retriever, options_for

if TYPE_CHECKING:
    from engine.services import Services

SYSTEM_PROMPT = (
    "Answer the question using only the numbered sources. After each statement, cite the "
    "sources that support it in square brackets, like [1] or [2][3]. If the sources do not "
    "contain the answer, say that the documents do not say. Be concise."
)
MAX_SOURCE_CHARS = 12_000  # the sources together, so a small context window still fits them
_CITE = re.compile(r"\[(\d{1,3})\]")


@dataclass
class Grounded:
    question: str
    messages: list[dict[str, str]]
    citations: list[dict[str, Any]]
    nothing_found: bool
    retrieval: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "messages": self.messages,
            "citations": self.citations,
            "nothing_found": self.nothing_found,
            "retrieval": self.retrieval,
        }


def resolve_collections(services: Services, refs: Any) -> list[dict[str, Any]]:
    """The collections named by ``refs`` (ids or names, each once); an unknown one is refused
    with a ``UserError`` that names it and lists those there are."""
    if refs is None:
        return []
    if isinstance(refs, str):
        refs = [refs]
    if not isinstance(refs, list) or not all(isinstance(r, str) and r.strip() for r in refs):
        raise UserError("collections must be a list of document collection ids or names.")
    catalog = services.docs.catalog
    found: list[dict[str, Any]] = []
    for ref in refs:
        collection = catalog.find(ref.strip())
        if collection is None:
            names = [c["name"] for c in catalog.list()]
            known = f"Collections: {', '.join(names)}." if names else "There are none yet."
            raise UserError(
                f"There is no document collection {ref!r}. {known} Create one in the Documents "
                "panel (or `hearth-engine docs create NAME`)."
            )
        if all(c["id"] != collection["id"] for c in found):
            found.append(collection)
    return found


def _collections_arg(collections: Any) -> list[str]:
    if isinstance(collections, str):
        collections = [collections]
    if not isinstance(collections, list) or not collections:
        raise UserError("Attach at least one document collection.")
    if not all(isinstance(c, str) and c.strip() for c in collections):
        raise UserError("Collections are named by id or name (strings).")
    return collections


def retrieve(
    services: Services, question: str, collections: Any, options: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The top chunks for ``question`` across ``collections`` (merged by score), and a summary."""
    docs = services.docs
    refs = _collections_arg(collections)
    hits: list[dict[str, Any]] = []
    took = 0.0
    cached = []
    names: list[str] = []
    k = None
    for ref in refs:
        collection = docs.catalog.get(ref)
        names.append(collection["name"])
        opts = options_for(collection, options)
        k = opts.k if k is None else max(k, opts.k)
        result = Retriever(docs, collection).search(question, opts)
        took += result["took_ms"]
        if result["cached"]:
            cached.append({"collection": collection["id"], **result["cached"]})
        for hit in result["results"]:
            hits.append(
                {**hit, "collection": collection["id"], "collection_name": collection["name"]}
            )
    hits.sort(key=lambda h: (h["score"], h.get("dense_score") or 0.0), reverse=True)
    summary = {
        "took_ms": round(took, 2),
        "cached": cached,
        "collections": refs,
        "names": names,
    }
    return hits[: k or 5], summary


def build_messages(
    question: str,
    hits: list[dict[str, Any]],
    *,
    system_prompt: str = SYSTEM_PROMPT,
    history: list[dict[str, str]] | None = None,
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """A system prompt and a user turn with numbered sources; the citations for those numbers.

    With ``history`` (a conversation's system prompt and earlier turns, oldest first) the rules
    follow the conversation's own system prompt and the earlier turns come before the question.
    """
    blocks, citations, used = [], [], 0
    for hit in hits:
        text = hit["text"].strip()
        if used and used + len(text) > MAX_SOURCE_CHARS:
            break
        n = len(citations) + 1
        where = hit.get("name") or hit.get("file") or "?"
        if hit.get("page"):
            where += f", page {hit['page']}"
        if hit.get("heading"):
            where += f" ({hit['heading']})"
        blocks.append(f"[{n}] {where}\n{text}")
        used += len(text)
        citations.append(citation(n, hit))
    user = "Sources:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question.strip()}"
    own = [m["content"].strip() for m in history or () if m["role"] == "system"]
    system = "\n\n".join([*(c for c in own if c), system_prompt])
    turns = [m for m in history or () if m["role"] != "system"]
    return [
        {"role": "system", "content": system},
        *turns,
        {"role": "user", "content": user},
    ], citations


def citation(n: int, hit: dict[str, Any]) -> dict[str, Any]:
    return {
        "n": n,
        "collection": hit.get("collection"),
        "file": hit.get("file"),
        "name": hit.get("name"),
        "type": hit.get("type"),
        "page": hit.get("page"),
        "page_end": hit.get("page_end"),
        "heading": hit.get("heading"),
        "headings": hit.get("headings") or [],
        "start": hit.get("start"),
        "end": hit.get("end"),
        "index": hit.get("index"),
        "hash": hit.get("hash"),
        "text": hit.get("text"),
        "score": hit.get("score"),
        "cited": False,
    }


def prepare(
    services: Services,
    question: str,
    collections: Any,
    options: dict[str, Any] | None = None,
    *,
    history: list[dict[str, str]] | None = None,
) -> Grounded:
    """Retrieve for ``question`` and build the grounded prompt (after ``history``, if given)."""
    if not isinstance(question, str) or not question.strip():
        raise UserError("Ask a question.")
    hits, summary = retrieve(services, question, collections, options)
    if not hits:
        return Grounded(question, [], [], True, summary)
    messages, citations = build_messages(question, hits, history=history)
    return Grounded(question, messages, citations, False, summary)


def source_budget(services: Services, collections: list[str]) -> dict[str, Any]:
    """About how many model tokens the sources add to a prompt at most, without retrieving.

    The context meter runs on every pause in typing, so it cannot search; this is the ceiling a
    reply's sources can reach: the collections' largest ``k`` chunks of their largest
    ``chunk_tokens``, capped by ``MAX_SOURCE_CHARS`` (at about 4 characters a token), plus the
    citation rules and a numbered header per source. Embedder and chat model tokenizers differ,
    so it is an estimate, shown as one.
    """
    from engine.documents.settings import CollectionSettings

    docs = services.docs
    k, chunk, names = 0, 0, []
    for ref in collections:
        collection = docs.catalog.find(ref)
        if collection is None:
            continue
        values = CollectionSettings.from_dict(None, base=collection["settings"])
        k, chunk = max(k, values.k), max(chunk, values.chunk_tokens)
        names.append(collection["name"])
    if not names:
        return {"tokens": 0, "k": 0, "names": []}
    sources = min(k * chunk, MAX_SOURCE_CHARS // 4)
    framing = len(SYSTEM_PROMPT) // 4 + 12 * k
    return {"tokens": sources + framing, "k": k, "names": names}


def nothing_found_text(grounded: Grounded) -> str:
    """The fixed reply when retrieval found nothing relevant (the model is not asked)."""
    names = grounded.retrieval.get("names") or grounded.retrieval.get("collections") or []
    return f"I found nothing relevant to this question in {', '.join(names)}."


def mark_cited(citations: list[dict[str, Any]], text: str) -> list[int]:
    """Set each citation's ``cited`` flag from the ``[n]`` marks in ``text``; the cited numbers."""
    cited = cited_numbers(text, len(citations))
    for c in citations:
        c["cited"] = c["n"] in cited
    return cited


def cited_numbers(text: str, count: int) -> list[int]:
    """Source numbers the reply cites, in order of first mention."""
    seen: list[int] = []
    for m in _CITE.finditer(text):
        n = int(m.group(1))
        if 1 <= n <= count and n not in seen:
            seen.append(n)
    return seen


def ask(
    services: Services,
    question: str,
    collections: Any,
    *,
    model_id: str | None = None,
    params: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    on_delta: Callable[[str], None] | None = None,
    on_reset: Callable[[], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    history: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Answer ``question`` from ``collections`` with the chat model; the reply carries citations.

    ``history`` (a system prompt, earlier turns) goes before the grounded question."""
    grounded = prepare(services, question, collections, options, history=history)
    if grounded.nothing_found:
        text = nothing_found_text(grounded)
        if on_delta is not None:
            on_delta(text)
        return {
            "text": text,
            "finish_reason": "stop",
            "question": question,
            "citations": [],
            "cited": [],
            "nothing_found": True,
            "retrieval": grounded.retrieval,
            "model_id": None,
        }
    from engine.chat.generate import generate

    result = generate(
        services,
        model_id=model_id,
        messages=grounded.messages,
        params=params,
        on_delta=on_delta,
        on_reset=on_reset,
        cancelled=cancelled,
    )
    cited = mark_cited(grounded.citations, result.get("text", ""))
    return {
        **result,
        "question": question,
        "citations": grounded.citations,
        "cited": cited,
        "nothing_found": False,
        "retrieval": grounded.retrieval,
    }
