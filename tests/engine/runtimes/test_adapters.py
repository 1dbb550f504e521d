"""A LoRA adapter on the bundled Gemma GGUF in llama.cpp: it changes the replies exactly as
llama-cpp-python's own ``lora_path`` does, and the warm LRU keeps base and base + adapter apart."""

from __future__ import annotations

import os

import pytest

from engine.chat.generate import generate
from engine.core.errors import UserError
from engine.runtimes.base import SamplingParams
from tests.engine.runtimes.fixtures import write_lora_gguf

PROMPT = "Once upon a time, in a small village by the sea,"
GREEDY = SamplingParams(max_tokens=24, seed=3, temperature=0.0, repeat_penalty=1.0)


@pytest.fixture
def lora(services, gemma_id, tmp_path):
    return write_lora_gguf(tmp_path / "gemma-lora.gguf", services.library.get(gemma_id)["path"])


@pytest.fixture
def adapter_id(services, gemma_id, lora) -> str:
    return services.library.import_model(
        lora, mode="reference", name="Gemma LoRA", base_model_id=gemma_id
    )["id"]


def _reply(services, model_id, sampling=GREEDY) -> str:
    with services.runtimes.use(model_id) as rt:
        return rt.generate(rt.tokenize(PROMPT), sampling=sampling).text


def test_adapter_reply_differs_from_the_base_and_matches_llama_cpp_python(
    services, gemma_id, adapter_id, lora
):
    from llama_cpp import Llama

    from engine.core.devices import physical_cores

    base = _reply(services, gemma_id)
    with services.runtimes.use(gemma_id) as rt:
        base_specials, base_ctx = rt.special_tokens(), rt.context_length()
    with services.runtimes.use(adapter_id) as rt:
        assert rt.name == "llama_cpp" and rt.model_id == adapter_id
        tuned = rt.generate(rt.tokenize(PROMPT), sampling=GREEDY).text
        assert rt.special_tokens() == base_specials and rt.context_length() == base_ctx
    assert tuned and tuned != base

    direct = Llama(model_path=services.library.get(gemma_id)["path"], lora_path=str(lora),
                   n_ctx=base_ctx, n_threads=physical_cores(), verbose=False)  # fmt: skip
    try:
        out = direct.create_completion(PROMPT, max_tokens=24, temperature=0.0, repeat_penalty=1.0,
                                       seed=3)  # fmt: skip
    finally:
        direct.close()
    assert out["choices"][0]["text"].strip() == tuned

    sampled = SamplingParams(max_tokens=24, seed=5)  # the same seed, sampled: still different
    assert _reply(services, adapter_id, sampled) != _reply(services, gemma_id, sampled)


def test_lru_keeps_the_base_and_base_plus_adapter_apart(services, gemma_id, adapter_id):
    manager = services.runtimes
    manager.max_loaded = 2
    base_before = _reply(services, gemma_id)
    with manager.use(adapter_id) as tuned_rt:
        tuned = tuned_rt.generate(tuned_rt.tokenize(PROMPT), sampling=GREEDY).text
    with manager.use(gemma_id) as base_rt:
        assert base_rt is not tuned_rt and tuned_rt.is_loaded
        # the base loaded next to its adapter still answers as the plain base
        assert base_rt.generate(base_rt.tokenize(PROMPT), sampling=GREEDY).text == base_before
    loaded = {m["model_id"]: m for m in manager.loaded()}
    assert set(loaded) == {gemma_id, adapter_id}
    assert loaded[adapter_id]["base_model_id"] == gemma_id
    assert loaded[adapter_id]["memory_bytes"] > loaded[gemma_id]["memory_bytes"]
    assert tuned != base_before

    # scale 0 reloads the adapter's entry (its settings changed) and gives the base's reply
    services.library.set_adapter(adapter_id, scale=0.0)
    with manager.use(adapter_id) as zero_rt:
        assert zero_rt is not tuned_rt and not tuned_rt.is_loaded
        assert zero_rt.generate(zero_rt.tokenize(PROMPT), sampling=GREEDY).text == base_before

    manager.max_loaded = 1
    with manager.use(gemma_id):
        pass
    assert [m["model_id"] for m in manager.loaded()] == [gemma_id]


def test_chat_with_the_adapter_uses_the_base_template_and_its_own_weights(
    services, gemma_id, adapter_id
):
    messages = [{"role": "user", "content": "Tell me about the sea."}]
    params = {"max_tokens": 20, "seed": 7, "temperature": 0.0}
    tuned = generate(services, model_id=adapter_id, messages=messages, params=params)
    base = generate(services, model_id=gemma_id, messages=messages, params=params)
    assert tuned["model_id"] == adapter_id and tuned["runtime"] == "llama_cpp"
    assert tuned["template"] == base["template"] == "plain"  # Gemma 270M has no template
    assert tuned["text"] and tuned["text"] != base["text"]


def test_a_missing_base_file_says_so_when_loading(services, gemma_id, lora, tmp_path):
    base = services.library.get(gemma_id)["path"]
    copy = tmp_path / "gemma-copy.gguf"
    os.link(base, copy)
    base_id = services.library.import_model(copy, mode="reference", name="Copy")["id"]
    adapter = services.library.import_model(lora, mode="reference", base_model_id=base_id)
    copy.unlink()
    with pytest.raises(UserError, match="the file of its base model Copy is missing"):
        _reply(services, adapter["id"])
