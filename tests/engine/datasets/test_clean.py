"""Cleaning: dedup (exact and MinHash near-duplicates), PII scrub, contamination, splits."""

from __future__ import annotations

import random

import pytest

from engine.core.errors import UserError
from engine.datasets import clean, split
from engine.datasets.library import DatasetLibrary
from tests.engine.datasets.conftest import alpaca_rows, import_rows

_VOCAB = [f"w{i}" for i in range(3000)]


def _doc(rng: random.Random, n: int = 120) -> str:
    return " ".join(rng.choices(_VOCAB, k=n))


def _near(rng: random.Random, text: str, edits: int = 3) -> str:
    words = text.split()
    for _ in range(edits):
        words[rng.randrange(len(words))] = rng.choice(_VOCAB)
    return " ".join(words)


def test_exact_dedup_on_normalised_text(services, ctx, tmp_path):
    rows = [
        {"text": "Hello   World"},
        {"text": "other"},
        {"text": "hello world"},
        {"text": "HELLO\nworld "},
    ]
    import_rows(services, tmp_path, rows, name="ex")
    out = clean.dedup(services, "ex", {}, ctx)
    assert (out["rows_before"], out["rows_after"], out["removed"]) == (4, 2, 2)
    assert out["clusters"] == [{"keep": 0, "remove": [2, 3], "rows": [0, 2, 3], "similarity": 1.0}]
    assert [r["row"]["text"] for r in DatasetLibrary(services).page("ex")["rows"]] == [
        "Hello   World",
        "other",
    ]


def test_near_duplicates_found_on_planted_rows_shown_before_removal(services, ctx, tmp_path):
    rng = random.Random(5)
    base = [_doc(rng) for _ in range(400)]
    planted = {}
    rows = [{"text": t} for t in base]
    for i in rng.sample(range(400), 40):
        planted[len(rows)] = i
        rows.append({"text": _near(rng, base[i])})
    import_rows(services, tmp_path, rows, name="nd")
    dry = clean.dedup(services, "nd", {"near": True, "threshold": 0.8, "dry_run": True}, ctx)
    assert dry["version"] is None and DatasetLibrary(services).get("nd")["rows"] == 440
    found = {(c["keep"], r) for c in dry["clusters"] for r in c["remove"]}
    assert found == {(orig, dup) for dup, orig in planted.items()}
    assert all(0.8 <= c["similarity"] < 1.0 for c in dry["clusters"])
    # a stricter threshold finds fewer; the user removes what they reviewed
    strict = clean.dedup(services, "nd", {"near": True, "threshold": 0.99, "dry_run": True}, ctx)
    assert strict["clusters"] == []
    reviewed = sorted(planted)[:30]
    out = clean.remove_rows(services, "nd", reviewed, reason="near duplicates")
    assert out["rows_after"] == 410
    again = clean.dedup(services, "nd", {"near": True}, ctx)
    assert again["removed"] == 10 and again["rows_after"] == 400


def test_pii_scrub(services, ctx, tmp_path):
    rows = [
        {"text": "Mail jane.doe+x@example.co.uk or call +44 20 7946 0958 today."},
        {"text": "Server 192.168.1.20 and fe80:0:0:0:200:f8ff:fe21:67cf answered; (555) 123-4567."},
        {"text": "Released 2024-03-15, version 1.2.3, build 42, at 12:30:45."},
    ]
    import_rows(services, tmp_path, rows, name="pii")
    dry = clean.scrub_pii(services, "pii", {"dry_run": True}, ctx)
    assert dry["counts"] == {"email": 1, "ip": 2, "phone": 2} and dry["rows_changed"] == 2
    assert DatasetLibrary(services).get("pii")["versions"] == 1
    clean.scrub_pii(services, "pii", {}, ctx)
    texts = [r["row"]["text"] for r in DatasetLibrary(services).page("pii")["rows"]]
    assert texts == [
        "Mail [EMAIL] or call [PHONE] today.",
        "Server [IP] and [IP] answered; [PHONE].",
        "Released 2024-03-15, version 1.2.3, build 42, at 12:30:45.",
    ]


def test_contamination_lists_leaking_rows_between_splits_and_datasets(services, ctx, tmp_path):
    rng = random.Random(1)
    docs = [_doc(rng, 40) for _ in range(60)]
    import_rows(services, tmp_path, [{"text": d} for d in docs], name="train")
    leak_src = docs[7]
    eval_rows = [{"text": _doc(rng, 40)} for _ in range(5)] + [
        {"text": "Q: " + " ".join(leak_src.split()[5:20])}
    ]
    import_rows(services, tmp_path, eval_rows, name="eval")
    out = clean.contamination(services, "train", {"eval_id": "eval"}, ctx)
    assert [(r["index"], r["eval_index"]) for r in out["leaking"]] == [(7, 5)]
    assert out["leaking"][0]["shared_ngrams"] == 8 and out["checked_rows"] == 60
    # within one dataset: the train split against the other splits
    import_rows(services, tmp_path, [{"text": d} for d in docs + docs[:10]], name="twice")
    split.split_dataset(services, "twice", {"seed": 3, "train": 0.7, "test": 0.3}, ctx)
    lib = DatasetLibrary(services)
    held_out = {r["row"]["text"] for r in lib.page("twice", split="test", limit=100)["rows"]}
    train = lib.page("twice", split="train", limit=100)["rows"]
    expected = [r["index"] for r in train if r["row"]["text"] in held_out]
    assert expected  # some copies landed on both sides
    out = clean.contamination(services, "twice", {"remove": True}, ctx)
    assert [r["index"] for r in out["leaking"]] == expected
    assert lib.get("twice")["splits"][0]["rows"] == len(train) - len(expected)
    assert clean.contamination(services, "twice", {}, ctx)["leaking"] == []
    with pytest.raises(UserError, match="eval"):
        clean.contamination(services, "eval", {}, ctx)


def test_split_is_seeded_and_stratified(services, ctx, tmp_path):
    rows = [{**r, "label": "a" if i % 4 else "b"} for i, r in enumerate(alpaca_rows(200))]
    import_rows(services, tmp_path, rows, name="sp")
    lib = DatasetLibrary(services)
    out = split.split_dataset(services, "sp", {"seed": 7, "stratify_by": "label"}, ctx)
    assert [(s["name"], s["rows"]) for s in out["splits"]] == [
        ("train", 160),
        ("validation", 20),
        ("test", 20),
    ]
    assert out["strata"] == {"a": 150, "b": 50}
    for name, n in (("train", 160), ("validation", 20), ("test", 20)):
        labels = [r["row"]["label"] for r in lib.page("sp", split=name, limit=1000)["rows"]]
        assert len(labels) == n and labels.count("b") == n // 4
    first = [r["row"]["instruction"] for r in lib.page("sp", split="test")["rows"]]
    lib.undo("sp")
    split.split_dataset(services, "sp", {"seed": 7, "stratify_by": "label"}, ctx)
    assert [r["row"]["instruction"] for r in lib.page("sp", split="test")["rows"]] == first
    lib.undo("sp")
    split.split_dataset(services, "sp", {"seed": 8, "stratify_by": "label"}, ctx)
    assert [r["row"]["instruction"] for r in lib.page("sp", split="test")["rows"]] != first
    # filtering a split version keeps each row in its split
    clean.filter_rows(services, "sp", {"exclude": r"item 1\d\b"}, ctx)
    splits = lib.get("sp")["splits"]
    assert sum(s["rows"] for s in splits) == 190
    with pytest.raises(UserError, match="add up"):
        split.check_split_params({"train": 0.9, "test": 0.2})
    with pytest.raises(UserError, match="No row has a column"):
        split.split_dataset(services, "sp", {"stratify_by": "nope"}, ctx)
