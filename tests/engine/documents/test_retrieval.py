"""Retrieval on a small fixture: hybrid vs dense, the threshold, filters, MMR and the cache."""

from __future__ import annotations

import pytest

from engine.core.errors import UserError
from engine.documents import methods
from engine.services import Services
from tests.engine.documents.conftest import Ctx, ingest

CODES = {
    "E-1001": "The heater did not reach brewing temperature within five minutes.",
    "E-2040": "The water tank is empty or is not seated correctly.",
    "E-3318": "The brewing unit is blocked and cannot move to its start position.",
    "E-4471": "The pump ran dry because no water reached it.",
    "E-5102": "The grinder motor stalled, usually because of a foreign object in the beans.",
    "E-6230": "The drip tray is full and must be emptied.",
    "E-7004": "The temperature sensor reports an impossible value and needs service.",
    "E-8815": "The flow meter counted no water during the brewing cycle.",
    "E-9120": "The steam valve did not open when the frother was started.",
    "E-1207": "The coffee grounds container is full or missing.",
}
TOPICS = {
    "descale.md": "# Descaling\n\nRun the descaling programme every eight weeks with citric acid. "
    "Hard water needs more frequent descaling.",
    "milk.md": "# Milk frother\n\nPurge the steam wand after each use so milk does not dry inside "
    "the nozzle.",
    "power.md": "# Power saving\n\nThe machine switches to standby after thirty minutes without use.",
    "grinder.md": "# Grinder\n\nA finer grind gives a slower shot and stronger coffee.",
}
CODE_QUESTIONS = [{"question": f"what does {c} mean", "source": f"{c}.txt"} for c in CODES]
SEMANTIC_QUESTIONS = [
    {"question": "the machine turns itself off after a while", "source": "power.md"},
    {"question": "what acid removes calcium deposits", "source": "descale.md"},
    {"question": "keep the steam nozzle clean", "answer": "purge the steam wand"},
    {"question": "how do I make my espresso stronger", "source": "grinder.md"},
]


@pytest.fixture(scope="module")
def machine(tmp_path_factory):
    home = tmp_path_factory.mktemp("machine-home")
    corpus = tmp_path_factory.mktemp("machine-docs")
    for code, text in CODES.items():
        (corpus / f"{code}.txt").write_text(f"Error {code}. {text}", encoding="utf-8")
    for name, text in TOPICS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    (corpus / "descale-copy.md").write_text(TOPICS["descale.md"] + "\n", encoding="utf-8")
    services = Services(home)
    ctx = Ctx(services)
    methods.docs_create(ctx, name="Machine", settings={"chunk_tokens": 64, "overlap_tokens": 8})
    ingest(ctx, "Machine", [corpus])
    yield ctx
    services.docs.close()
    services.close()


def test_hybrid_beats_dense_on_codes_and_keeps_up_on_meaning(machine):
    codes = methods.docs_eval(machine, id="Machine", questions=CODE_QUESTIONS)
    assert codes["questions"] == len(CODES)
    assert codes["hybrid"]["hit@1"] > codes["dense"]["hit@1"]
    assert codes["hybrid"]["hit@1"] == 1.0 and codes["hybrid"]["mrr"] == 1.0
    meaning = methods.docs_eval(machine, id="Machine", questions=SEMANTIC_QUESTIONS)
    assert meaning["hybrid"]["hit@3"] >= meaning["dense"]["hit@3"] == 1.0
    assert set(meaning) >= {"hybrid", "dense", "bm25", "questions"}
    assert set(meaning["bm25"]) == {"hit@1", "hit@3", "hit@5", "mrr"}


def test_nothing_relevant_is_said_so_but_a_rare_keyword_is_always_found(machine):
    result = methods.docs_search(machine, id="Machine", query="recipe for lasagne", cache=False)
    assert result["nothing_found"] and result["results"] == []
    assert "Nothing relevant" in result["message"]
    result = methods.docs_search(machine, id="Machine", query="E-8815", cache=False)
    assert result["results"][0]["name"] == "E-8815.txt"
    every = methods.docs_search(
        machine, id="Machine", query="E-8815", min_score=0, k=10, cache=False
    )
    assert every["results"][0]["name"] == "E-8815.txt", "never below chunks without the keyword"


def test_filters_by_file_and_type(machine):
    only_md = methods.docs_search(
        machine, id="Machine", query="water", types=["md"], min_score=0, k=10, cache=False
    )
    assert only_md["results"] and {h["type"] for h in only_md["results"]} == {"md"}
    one = methods.docs_search(
        machine, id="Machine", query="brewing", files=["E-1001.txt"], min_score=0, cache=False
    )
    assert {h["name"] for h in one["results"]} == {"E-1001.txt"}
    full = one["results"][0]["file"]
    again = methods.docs_search(
        machine, id="Machine", query="brewing", files=[full], min_score=0, cache=False
    )
    assert {h["file"] for h in again["results"]} == {full}


def test_mmr_drops_the_duplicate(machine):
    plain = methods.docs_search(
        machine, id="Machine", query="descaling citric acid", k=2, cache=False
    )
    assert {h["name"] for h in plain["results"]} == {"descale.md", "descale-copy.md"}
    diverse = methods.docs_search(
        machine,
        id="Machine",
        query="descaling citric acid",
        k=2,
        mmr=True,
        min_score=0,
        cache=False,
    )
    names = [h["name"] for h in diverse["results"]]
    assert len(names) == 2 and len({"descale.md", "descale-copy.md"} & set(names)) == 1


def test_semantic_cache_hits_bypasses_and_clears(machine):
    methods.docs_cache_clear(machine, id="Machine")
    first = methods.docs_search(machine, id="Machine", query="how do I descale the machine?")
    assert first["cached"] is None
    close = methods.docs_search(machine, id="Machine", query="how do I descale the machine")
    assert close["cached"]["query"] == "how do I descale the machine?"
    assert close["cached"]["similarity"] >= 0.95 and close["results"] == first["results"]
    bypass = methods.docs_search(
        machine, id="Machine", query="how do I descale the machine", cache=False
    )
    assert bypass["cached"] is None
    other = methods.docs_search(machine, id="Machine", query="how do I descale the machine", k=2)
    assert other["cached"] is None, "other options, other cache entry"
    assert methods.docs_cache_clear(machine, id="Machine")["cleared"] >= 2
    assert (
        methods.docs_search(machine, id="Machine", query="how do I descale the machine")["cached"]
        is None
    )


def test_bad_search_requests(machine):
    with pytest.raises(UserError, match="mode must be"):
        methods.docs_search(machine, id="Machine", query="x", mode="fuzzy")
    with pytest.raises(UserError, match="k must be from 1 to 100"):
        methods.docs_search(machine, id="Machine", query="x", k=0)
    with pytest.raises(UserError):
        methods.docs_search(machine, id="Machine", query="   ")
    with pytest.raises(UserError, match="No collection"):
        methods.docs_search(machine, id="Nope", query="x")
