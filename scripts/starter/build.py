"""Write the starter adapter's instruction set (``engine/models/starter/instructions.jsonl``).

    apt-get install dict-foldoc          # the Free On-line Dictionary of Computing (GFDL)
    python scripts/starter/build.py      # deterministic: the same file every time

Two kinds of rows, as ``messages`` conversations:

- **grounded answers** in exactly the shape ``docs ask`` and Chat's attached collections send
  (``engine.documents.answer.build_messages``: the rules as the system prompt, numbered sources,
  the question). The sources are opening paragraphs of FOLDOC entries -- one that answers, the
  others from entries of the same category -- and the answer is one short sentence built from
  the answering paragraph, citing its number. Questions come from the paragraph's own wording
  ("designed by Niklaus Wirth at ETH in 1978" gives who, where and when); "what is" questions
  take the paragraph's first sentence. One row in eight asks about an entry whose paragraph is
  not among the sources, and the answer says the documents do not say.
- **chat** turns written by hand (``chat.py``): short direct answers that end the turn.

The twenty entries of the held-out questions (``heldout.py``), and every entry naming one of
their answers, are left out.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT)]

import chat  # noqa: E402
import foldoc  # noqa: E402
import heldout  # noqa: E402

from engine.documents.answer import build_messages  # noqa: E402

OUT = ROOT / "engine" / "models" / "starter" / "instructions.jsonl"
SEED = 1234
NOT_FOUND = "The documents do not say."
MAX_CHARS = 800  # about one 200-token chunk, as Documents splits files by default

_VERBS = (
    "designed|developed|written|invented|created|produced|started|founded|introduced|"
    "implemented|proposed|defined|described|coined|built|funded|published|released"
)
_BY = re.compile(
    rf"\b(?:(?:first|originally|initially|jointly) )?(?P<verb>{_VERBS}) by "
    r"(?P<agent>(?:the )?[A-Z][^,.;:()]{1,60}?)"
    r"(?: at (?P<place>(?:the )?[A-Z][^,.;:()]{1,50}?))?"
    r"(?: (?:in|around|ca\.) (?P<year>1[89]\d\d|20[0-2]\d))?"
    r"(?=[,.;:(]| for | and | as | from | to | with | which | that |$)"
)
_LEAD = re.compile(r"^(?:\([^()]*(?:\([^()]*\)[^()]*)*\)\s*)+")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[a-z0-9)\"'])\.\s+(?=[A-Z])", text) if s.strip()]


def trimmed(text: str) -> str:
    """The paragraph cut at a sentence end near ``MAX_CHARS``."""
    if len(text) <= MAX_CHARS:
        return text
    out = ""
    for sentence in sentences(text):
        if len(out) + len(sentence) + 2 > MAX_CHARS:
            break
        out += sentence.rstrip(".") + ". "
    return out.strip() or text[:MAX_CHARS]


def who_when_where(term: str, text: str, rng: random.Random) -> list[tuple[str, str, str]]:
    match = _BY.search(text)
    if not match:
        return []
    verb, agent = match["verb"], match["agent"].strip()
    if len(agent.split()) > 8 or agent.lower().startswith(("the use", "the way")):
        return []
    place, year = match["place"], match["year"]
    who_q = rng.choice([f"Who {verb} {term}?", f"By whom was {term} {verb}?",
                        f"Which person or group {verb} {term}?"])  # fmt: skip
    tail = (f" at {place.strip()}" if place else "") + (f" in {year}" if year else "")
    pairs = [("who", who_q, f"{term} was {verb} by {agent}{tail}{{cite}}.")]
    if year:
        when_q = rng.choice([f"When was {term} {verb}?", f"In what year was {term} {verb}?"])
        pairs.append(("when", when_q, f"{term} was {verb} in {year}{{cite}}."))
    if place:
        where_q = f"Where was {term} {verb}?"
        pairs.append(("where", where_q, f"{term} was {verb} at {place.strip()}{{cite}}."))
    return pairs


def what_is(term: str, text: str, rng: random.Random) -> list[tuple[str, str, str]]:
    first = sentences(_LEAD.sub("", text))
    if not first:
        return []
    sentence = first[0].rstrip(".")
    article = re.match(r"^(A|An|The) ", sentence)
    if not article or not 30 <= len(sentence) <= 220:
        return []
    rest = sentence[0].lower() + sentence[1:]
    question = rng.choice([f"What is {term}?", f"What is {term}?", f"Explain what {term} is.",
                           f"Define {term}.", f"What does the term {term} mean?"])  # fmt: skip
    return [("what", question, f"{term} is {rest}{{cite}}.")]


def usable(entry: foldoc.Entry) -> bool:
    held = {term.lower() for term, _, _ in heldout.QUESTIONS}
    if held & {h.lower() for h in entry.heads} or len(entry.text) < 60:
        return False
    if any(name.lower() in entry.text.lower() for name in heldout.GIVEAWAYS):
        return False
    return not {"humour", "jargon", "body"} & set(entry.categories) and len(entry.term) <= 40


def source_name(term: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-") or "entry"
    return f"{slug}.txt"


def _row(entry, kind, question, answer, by_category, entries, rng) -> dict | None:  # noqa: ANN001
    pool = by_category.get(entry.categories[0], entries)
    others = [e for e in rng.sample(pool, min(len(pool), 8)) if e.term != entry.term]
    others = [e for e in others if entry.term.lower() not in e.text.lower()]
    count = rng.randint(1, 4)
    answerable = rng.random() >= 0.125
    sources = others[:count] if answerable else others[: count + 1]
    if not sources:
        return None
    if answerable:
        sources.insert(rng.randrange(len(sources) + 1), entry)
    hits = [{"text": trimmed(e.text), "name": source_name(e.term)} for e in sources]
    messages, _ = build_messages(question, hits)
    if answerable:
        reply = answer.replace("{cite}", f" [{sources.index(entry) + 1}]")
        reply = reply[0].upper() + reply[1:]
    else:
        reply, kind = NOT_FOUND, "not-found"
    return {"messages": [*messages, {"role": "assistant", "content": reply}], "kind": kind}


def grounded_rows(entries: list[foldoc.Entry], rng: random.Random) -> list[dict]:
    by_category: dict[str, list[foldoc.Entry]] = {}
    for entry in entries:
        for category in entry.categories:
            by_category.setdefault(category, []).append(entry)
    rows = []
    for entry in entries:
        pairs = who_when_where(entry.term, entry.text, rng)
        if not pairs or rng.random() < 0.35:
            pairs += what_is(entry.term, entry.text, rng)
        if not pairs:
            continue
        for kind, question, answer in pairs:
            row = _row(entry, kind, question, answer, by_category, entries, rng)
            if row:
                rows.append(row)
    return rows


def main() -> None:
    rng = random.Random(SEED)
    entries = [e for e in foldoc.read() if usable(e)]
    grounded = grounded_rows(entries, rng)
    quota = {"who": 400, "when": 150, "where": 100, "what": 350, "not-found": 130}
    rows = []
    for kind, count in quota.items():
        of_kind = [r for r in grounded if r["kind"] == kind]
        rows += rng.sample(of_kind, min(count, len(of_kind)))
    rows += chat.rows() * 3  # the manner rows seen three times
    rng.shuffle(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    print(json.dumps({"path": str(OUT.relative_to(ROOT)), "rows": len(rows), "kinds": kinds}))


if __name__ == "__main__":
    main()
