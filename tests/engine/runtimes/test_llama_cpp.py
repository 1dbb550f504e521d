"""llama.cpp runtime on the bundled Gemma GGUF: streaming, cancel, seeds, bad files, locking."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest

from engine.core.errors import UserError
from engine.runtimes.base import SamplingParams

PROMPT = "Once upon a time, in a small village by the sea,"


def test_streams_deltas_that_add_up_to_the_text(services, gemma_id):
    deltas: list[str] = []
    with services.runtimes.use(gemma_id) as rt:
        assert rt.name == "llama_cpp" and rt.device == "cpu"
        assert rt.context_length() == 4096  # the default cap, below Gemma's trained 32k
        done = rt.generate(
            rt.tokenize(PROMPT),
            sampling=SamplingParams(max_tokens=24, seed=1),
            on_text=deltas.append,
        )
    assert len(deltas) > 3
    assert "".join(deltas) == done.text and done.text
    assert done.finish_reason in ("stop", "length")
    assert 0 < done.completion_tokens <= 24
    assert done.ttft_s is not None and done.tokens_per_s and done.tokens_per_s > 1


def test_cancel_between_tokens_keeps_the_partial_text(services, gemma_id):
    deltas: list[str] = []
    with services.runtimes.use(gemma_id) as rt:
        done = rt.generate(
            rt.tokenize(PROMPT),
            sampling=SamplingParams(max_tokens=400, seed=1, ignore_eos=True),
            on_text=deltas.append,
            cancelled=lambda: len(deltas) >= 5,
        )
    assert done.finish_reason == "cancelled"
    assert done.text == "".join(deltas) and done.text
    assert done.completion_tokens < 40


def test_same_seed_same_reply_and_another_seed_differs(services, gemma_id):
    with services.runtimes.use(gemma_id) as rt:
        tokens = rt.tokenize(PROMPT)

        def reply(seed: int) -> str:
            return rt.generate(tokens, sampling=SamplingParams(max_tokens=30, seed=seed)).text

        first, again, other = reply(11), reply(11), reply(12)
    assert first == again
    assert first != other


def test_tokenize_adds_bos_once(services, gemma_id):
    with services.runtimes.use(gemma_id) as rt:
        bos = rt.special_tokens()["bos_token"]
        plain = rt.tokenize("Hello")
        prefixed = rt.tokenize(bos + "Hello")
        assert plain == prefixed  # a template that writes <bos> itself gets no second one
        assert rt.count_tokens("Hello", add_bos=False) == len(plain) - 1


def test_missing_file_says_how_to_relink(services, tmp_path, gemma_id):
    src = services.library.get(gemma_id)["path"]
    moved = tmp_path / "elsewhere.gguf"
    os.link(src, moved)
    model = services.library.import_model(moved, mode="reference", name="Moved Gemma")
    moved.unlink()
    with pytest.raises(UserError, match="relink it"), services.runtimes.use(model["id"]):
        pass


def test_damaged_file_is_a_user_error(services, tmp_path, gemma_id):
    src = services.library.get(gemma_id)["path"]
    damaged = tmp_path / "damaged.gguf"
    shutil.copyfile(src, damaged)
    model = services.library.import_model(damaged, mode="reference", name="Damaged")
    with open(damaged, "r+b") as fh:
        fh.truncate(10_000_000)  # a download cut short after the import
    with (
        pytest.raises(UserError, match=r"incomplete|cannot be loaded"),
        services.runtimes.use(model["id"]),
    ):
        pass


def test_two_generations_on_one_model_are_serialized(services, gemma_id):
    manager = services.runtimes
    sampling = SamplingParams(max_tokens=20, seed=5, ignore_eos=True)
    with manager.use(gemma_id) as rt:
        tokens = rt.tokenize(PROMPT)
        expected = rt.generate(tokens, sampling=sampling).text
    results: list[str] = []
    spans: list[tuple[float, float]] = []

    def worker() -> None:
        stamps: list[float] = []
        with manager.use(gemma_id) as rt:
            done = rt.generate(
                tokens, sampling=sampling, on_text=lambda _t: stamps.append(time.monotonic())
            )
        results.append(done.text)
        spans.append((stamps[0], stamps[-1]))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [expected, expected]  # interleaved calls on one llama context would garble
    (a0, a1), (b0, b1) = sorted(spans)
    assert a1 <= b0  # one stream finished before the other began


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
def test_decoding_runs_on_one_thread_whichever_thread_asks(services, gemma_id):
    """llama.cpp's OpenMP keeps a team of workers for every thread that ever decoded; threads that
    stay alive after asking (a keep-alive API connection) must not each leave a team behind, or
    every later token pays for the oversubscription (see engine/runtimes/native.py)."""
    from engine.runtimes.settings import ModelSettings

    ModelSettings(services).update(gemma_id, {"n_threads": 2})  # a team of two: one worker each
    sampling = SamplingParams(max_tokens=4, seed=3)
    with services.runtimes.use(gemma_id) as rt:
        tokens = rt.tokenize(PROMPT)
        rt.generate(tokens, sampling=sampling)  # the compute thread and its team exist now
    before = len(os.listdir("/proc/self/task"))
    release, finished = threading.Event(), []

    def asker() -> None:
        with services.runtimes.use(gemma_id) as rt:
            finished.append(rt.generate(tokens, sampling=sampling).completion_tokens)
        release.wait(30)  # alive after its request, as a kept-alive connection's thread is

    askers = [threading.Thread(target=asker) for _ in range(3)]
    for t in askers:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while len(finished) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert finished == [4, 4, 4]
        assert len(os.listdir("/proc/self/task")) - before == 3  # the askers, no team of theirs
    finally:
        release.set()
        for t in askers:
            t.join(30)


def test_compute_thread_returns_results_raises_errors_and_runs_nested_calls():
    from engine.runtimes.native import NativeThread

    native = NativeThread("test-compute")
    assert native.call(lambda a, b=0: a + b, 2, b=3) == 5
    with pytest.raises(ValueError, match="bad"):
        native.call(lambda: (_ for _ in ()).throw(ValueError("bad")))
    assert (
        native.call(lambda: native.call(lambda: threading.current_thread().name)) == "test-compute"
    )
