"""Format detection (with confidence and column mappings) and conversions between formats."""

from __future__ import annotations

import itertools

import pytest

from engine.core.errors import UserError
from engine.datasets import formats
from engine.datasets.formats import RowError, convert, detect, needs_mapping, to_canonical

# The same conversations in the three formats that can all hold them.
CHATS = [
    [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}],
    [
        {"role": "system", "content": "You are terse. Ünïcödé ✓"},
        {"role": "user", "content": "Hi\nthere"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": ""},
    ],
]
CONVERSATION_FORMATS = ("alpaca", "sharegpt", "messages")


def _as(fmt: str, chat: list[dict[str, str]]) -> dict:
    return formats.from_chat(chat, fmt)


@pytest.mark.parametrize(("src", "dst"), list(itertools.permutations(CONVERSATION_FORMATS, 2)))
def test_round_trip_between_every_pair_of_conversation_formats(src, dst):
    for chat in CHATS:
        row = {**_as(src, chat), "id": 7}  # extra columns ride along
        there, lossy = convert(row, src, dst)
        back, lossy_back = convert(there, dst, src)
        assert back == row and not lossy and not lossy_back
        assert formats.to_chat(there, dst) == chat


def test_alpaca_input_joins_the_user_turn():
    row = {"instruction": "Translate", "input": "chat", "output": "cat"}
    messages, _ = convert(row, "alpaca", "messages")
    assert messages["messages"][0] == {"role": "user", "content": "Translate\n\nchat"}


def test_preference_keeps_the_chosen_reply_and_says_it_lost_the_rejected_one():
    row = {"prompt": "Best pet?", "chosen": "A cat.", "rejected": "A rock.", "system": "Be kind."}
    assert convert(row, "preference", "preference") == (row, False)
    for dst in CONVERSATION_FORMATS:
        out, lossy = convert(row, "preference", dst)
        assert lossy and formats.to_chat(out, dst)[-1]["content"] == "A cat."
    text, lossy = convert(row, "preference", "text")
    assert lossy and "A cat." in text["text"] and "A rock." not in text["text"]


def test_impossible_conversions_raise_row_errors():
    with pytest.raises(RowError, match="rejected"):
        convert({"messages": CHATS[0]}, "messages", "preference")
    with pytest.raises(RowError, match="plain text"):
        convert({"text": "hello"}, "text", "alpaca")
    with pytest.raises(RowError, match="alternating"):
        convert(
            {"messages": [{"role": "user", "content": "only a question"}]}, "messages", "alpaca"
        )
    assert convert({"text": "same"}, "text", "text") == ({"text": "same"}, False)


def test_conversations_become_text_through_a_transcript():
    out, _ = convert({"messages": CHATS[0]}, "messages", "text")
    assert out == {"text": "User: What is 2+2?\nAssistant: 4"}


@pytest.mark.parametrize(
    ("row", "fmt"),
    [
        ({"instruction": "a", "input": "", "output": "b"}, "alpaca"),
        (
            {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]},
            "sharegpt",
        ),
        ({"messages": [{"role": "user", "content": "a"}]}, "messages"),
        ({"prompt": "a", "chosen": "b", "rejected": "c"}, "preference"),
        ({"text": "a long document"}, "text"),
    ],
)
def test_detects_each_format_confidently(row, fmt):
    candidates = detect([row] * 5)
    assert candidates[0].format == fmt and candidates[0].confidence == 1.0
    assert not needs_mapping(candidates)


def test_synonyms_are_detected_with_lower_confidence_and_ask_for_a_mapping():
    rows = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(5)]
    candidates = detect(rows)
    best = candidates[0]
    assert best.format == "alpaca" and best.mapping == {
        "instruction": "question",
        "output": "answer",
    }
    assert 0.5 <= best.confidence < formats.CONFIDENT and needs_mapping(candidates)
    row = to_canonical(rows[0], "alpaca", best.mapping)
    assert row == {"instruction": "q0", "input": "", "output": "a0"}


def test_unknown_columns_give_no_candidate_and_an_explicit_mapping_reads_them():
    rows = [{"q": "Why?", "resp": "Because."}]
    assert all(c.format != "alpaca" for c in detect(rows))
    mapping = formats.check_mapping("alpaca", {"instruction": "q", "output": "resp"})
    assert to_canonical(rows[0], "alpaca", mapping) == {
        "instruction": "Why?",
        "input": "",
        "output": "Because.",
    }
    with pytest.raises(UserError, match="no field"):
        formats.check_mapping("alpaca", {"answer": "resp"})


def test_turns_stored_as_json_text_in_a_csv_cell_are_read():
    cell = '[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]'
    assert detect([{"messages": cell}])[0].format == "messages"
    assert to_canonical({"messages": cell}, "messages", {})["messages"][1]["content"] == "yo"
