"""Stop strings never leak into a delta, and deltas always add up to the final text."""

from __future__ import annotations

import pytest

from engine.runtimes.base import StopScanner


def run(pieces: list[str], stops: list[str], *, trim: bool = True) -> tuple[str, bool, list[str]]:
    scanner = StopScanner(stops, trim=trim)
    deltas = []
    for piece in pieces:
        delta, hit = scanner.push(piece)
        deltas.append(delta)
        if hit:
            return "".join(deltas), True, deltas
    deltas.append(scanner.finish())
    return "".join(deltas), False, deltas


@pytest.mark.parametrize(
    ("pieces", "stops", "text", "stopped"),
    [
        ([" Hello", " world", "\n", "User", ":", " more"], ["\nUser:"], "Hello world", True),
        ([" Hello", "\n", "Us", "ually"], ["\nUser:"], "Hello\nUsually", False),
        (["\n", "User:"], ["\nUser:"], "", True),
        (["a", "<|im", "_end|>", "b"], ["<|im_end|>"], "a", True),
        (["x<|im_end|>y"], ["<|im_end|>", "<|im_start|>"], "x", True),
        (["  lead", "ing  ", "  "], [], "leading", False),
        (["one", "\n\n", "two"], [], "one\n\ntwo", False),
    ],
)
def test_stop_strings_and_whitespace(pieces, stops, text, stopped):
    joined, hit, deltas = run(pieces, stops)
    assert (joined, hit) == (text, stopped)
    for stop in stops:
        assert all(stop not in d for d in deltas)


@pytest.mark.parametrize(
    ("pieces", "stops", "text", "stopped"),
    [
        ([" blue", " and", " clear", ".\n"], [], " blue and clear.\n", False),
        ([" Hello", " world", "\n", "User", ":"], ["\nUser:"], " Hello world", True),
        (["  ", "x", "<|im", "_end|>"], ["<|im_end|>"], "  x", True),
        (["a", "<|im"], ["<|im_end|>"], "a<|im", False),
    ],
)
def test_untrimmed_keeps_the_text_as_decoded(pieces, stops, text, stopped):
    joined, hit, deltas = run(pieces, stops, trim=False)
    assert (joined, hit) == (text, stopped)
    for stop in stops:
        assert all(stop not in d for d in deltas)


def test_earliest_stop_wins():
    joined, hit, _ = run(["a STOP2 b STOP1"], ["STOP1", "STOP2"])
    assert (joined, hit) == ("a", True)
