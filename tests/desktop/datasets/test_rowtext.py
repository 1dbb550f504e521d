"""The panel's plain-text helpers: columns per format, one-line cells, version and error text."""

from __future__ import annotations

from desktop.panels.datasets.rowtext import (
    blank_row,
    cell_text,
    columns_for,
    dataset_line,
    errors_text,
    version_text,
)


def test_columns_follow_the_format_then_extra_fields():
    assert columns_for("alpaca", ["output", "instruction", "input", "source_file"]) == [
        "instruction", "input", "output", "source_file",
    ]  # fmt: skip
    assert columns_for("preference", []) == ["prompt", "chosen", "rejected"]  # required ones
    assert columns_for(None, ["a", "b"]) == ["a", "b"]


def test_cells_are_one_short_line():
    turns = [{"role": "user", "content": "Hi\nthere"}, {"from": "gpt", "value": "Hello"}]
    assert cell_text(turns) == "user: Hi ⏎ there  │  gpt: Hello"
    assert cell_text("x" * 500).endswith("…") and len(cell_text("x" * 500)) == 240
    assert cell_text(None) == "" and cell_text({"a": 1}) == '{"a": 1}'


def test_blank_rows_are_fresh_copies():
    row = blank_row("messages")
    row["messages"][0]["content"] = "changed"
    assert blank_row("messages")["messages"][0]["content"] == ""
    assert blank_row("unknown") == {"text": ""}


def test_version_dataset_and_error_lines():
    assert version_text({"operation": "dedup", "summary": {}}) == "Deduplicated"
    assert version_text({"operation": "edit", "summary": {"description": "Rows edited 1."}}) == (
        "Rows edited 1."
    )
    ds = {"rows": 1234, "format": "alpaca", "version": 2, "versions": 3,
          "splits": [{"name": "train", "rows": 1000}, {"name": "test", "rows": 234}]}  # fmt: skip
    assert dataset_line(ds) == "1,234 rows · alpaca · version 2 of 3 · split train 1,000/test 234"
    errors = [{"line": n, "reason": "not valid JSON"} for n in (3, 9, 12)]
    assert errors_text(errors, total=40, limit=2) == (
        "line 3: not valid JSON\nline 9: not valid JSON\n… and 38 more"
    )
