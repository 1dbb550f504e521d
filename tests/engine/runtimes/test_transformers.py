"""transformers runtime on a tiny random Llama built in the test (2 layers, hidden 64)."""

from __future__ import annotations

import pytest

from engine.chat.generate import generate
from engine.core.errors import UserError
from engine.runtimes.base import SamplingParams

HELLO = [{"role": "user", "content": "hello world"}]


def test_loads_on_cpu_and_streams(services, tiny_id):
    deltas: list[str] = []
    result = generate(
        services,
        model_id=tiny_id,
        messages=HELLO,
        params={"max_tokens": 16, "seed": 3},
        on_delta=deltas.append,
    )
    assert result["runtime"] == "transformers" and result["device"] == "cpu"
    assert result["template"] == "model"  # the tokenizer's own ChatML template
    assert "".join(deltas) == result["text"]
    assert 0 < result["usage"]["completion_tokens"] <= 16
    assert result["usage"]["prompt_tokens"] == result["truncated"]["prompt_tokens"]
    assert result["timings"]["ttft_ms"] > 0


def test_seed_reproducible(services, tiny_id):
    def text(seed: int) -> str:
        params = {"max_tokens": 20, "seed": seed, "ignore_eos": True, "temperature": 1.0}
        return generate(services, model_id=tiny_id, messages=HELLO, params=params)["text"]

    assert text(1) == text(1)
    assert text(1) != text(2)


def test_cancel_stops_between_tokens(services, tiny_id):
    deltas: list[str] = []
    with services.runtimes.use(tiny_id) as rt:
        done = rt.generate(
            rt.tokenize("hello"),
            sampling=SamplingParams(max_tokens=200, seed=1, ignore_eos=True),
            on_text=deltas.append,
            cancelled=lambda: len(deltas) >= 2,
        )
    assert done.finish_reason == "cancelled"
    assert done.text == "".join(deltas)
    assert done.completion_tokens < 200


def test_max_tokens_is_length(services, tiny_id):
    with services.runtimes.use(tiny_id) as rt:
        assert rt.context_length() == 256
        done = rt.generate(
            rt.tokenize("hello"), sampling=SamplingParams(max_tokens=7, ignore_eos=True)
        )
    assert (done.finish_reason, done.completion_tokens) == ("length", 7)


def test_json_mode_retries_then_reports_invalid(services, tiny_id):
    resets: list[int] = []
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    result = generate(
        services,
        model_id=tiny_id,
        messages=HELLO,
        params={"max_tokens": 8, "seed": 1, "json_schema": schema, "json_retries": 2},
        on_reset=lambda: resets.append(1),
    )
    # a random model cannot write JSON: three attempts, two resets, an honest report
    assert result["json"]["valid"] is False and result["json"]["attempts"] == 3
    assert len(resets) == 2


def test_unavailable_device_is_a_user_error(services, tiny_id):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    services.runtimes.settings.update(tiny_id, {"device": "cuda"})
    with pytest.raises(UserError, match="No CUDA GPU"), services.runtimes.use(tiny_id):
        pass


def test_stop_string_ends_generation_at_once(services, tiny_id):
    with services.runtimes.use(tiny_id) as rt:
        tokens = rt.tokenize("hello")
        free = rt.generate(tokens, sampling=SamplingParams(max_tokens=30, seed=9, ignore_eos=True))
        # stop at a piece of what the model writes anyway with this seed
        word = free.text.split()[2] if len(free.text.split()) > 3 else free.text[5:8]
        stopped = rt.generate(
            tokens, sampling=SamplingParams(max_tokens=30, seed=9, ignore_eos=True), stop=[word]
        )
    assert stopped.finish_reason == "stop"
    assert word not in stopped.text and free.text.startswith(stopped.text)
    assert stopped.completion_tokens < free.completion_tokens
