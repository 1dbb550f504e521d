"""Token counts with real tokenizers, chat-template previews, stats plots and export with a card."""

from __future__ import annotations

import json

import pytest

from engine.core.errors import UserError
from engine.datasets import clean, export, split, stats
from engine.datasets.library import DatasetLibrary
from engine.datasets.tokens import estimate_tokens, render_row
from tests.engine.datasets.conftest import alpaca_rows, import_rows
from tests.engine.runtimes.fixtures import bundled_home, tiny_hf

CHAT = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello world"},
                     {"role": "assistant", "content": "the quick brown fox"}]}  # fmt: skip


def test_estimate_is_close_to_a_word_count():
    assert estimate_tokens("") == 0
    assert estimate_tokens("Hello, world!") == 4
    assert 40 <= estimate_tokens("word " * 50) <= 60
    assert estimate_tokens("你好世界") >= 4


def test_render_and_count_with_a_model_template(services, tmp_path_factory, tmp_path):
    tiny = services.library.import_model(
        tiny_hf(tmp_path_factory.getbasetemp()), mode="reference", name="Tiny"
    )
    out = render_row(services, CHAT, "messages", model_id=tiny["id"], template=None)
    assert out["template"] == "model" and out["exact"]
    assert out["text"].startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhello world"
    )
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny["path"])
    assert out["tokens"] == len(tok(out["text"], add_special_tokens=False).input_ids)
    assert out["context_length"] == 256 and out["fits"] is True
    plain = render_row(services, CHAT, "messages", model_id=None, template="plain")
    assert plain["text"].startswith("System: Be brief.") and not plain["exact"]
    pref = render_row(services, {"prompt": "p", "chosen": "good", "rejected": "bad"}, "preference",
                      model_id=tiny["id"], template="chatml")  # fmt: skip
    assert [v["name"] for v in pref["variants"]] == ["chosen", "rejected"] and "bad" in pref[
        "variants"
    ][1]["text"]
    # a token-length filter with the model's tokenizer; "context" is its window (256 tokens)
    rows = [
        CHAT,
        {
            "messages": [
                {"role": "user", "content": "long " * 400},
                {"role": "assistant", "content": "x"},
            ]
        },
    ]
    import_rows(services, tmp_path, rows, name="tok")
    out = clean.filter_rows(
        services, "tok", {"max_tokens": "context", "model_id": tiny["id"]}, clean_ctx(services)
    )
    assert out["removed"] == 1 and out["reasons"]["too_long"] == 1
    kept = DatasetLibrary(services).page("tok")["rows"][0]
    assert (
        kept["tokens"]
        == render_row(services, CHAT, "messages", model_id=tiny["id"], template=None)["tokens"]
    )


def clean_ctx(services):
    from engine.jobs.registry import SimpleContext

    return SimpleContext(services=services)


def test_gguf_tokenizer_without_loading_weights(services, tmp_path_factory):
    bundled_home(services.root)
    gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
    out = render_row(services, CHAT, "messages", model_id=gemma["id"], template=None)
    assert out["template"] == "plain" and out["exact"] and out["context_length"] == 32768
    assert (
        out["text"].rstrip()
        == "System: Be brief.\nUser: hello world\nAssistant: the quick brown fox"
    )
    assert 10 <= out["tokens"] <= 30


def test_stats_and_plots(services, ctx, tmp_path):
    import_rows(services, tmp_path, [CHAT] * 3 + [{"messages": CHAT["messages"][1:]}], name="st")
    out = stats.compute_stats(services, "st", plots=True)
    assert out["rows"] == 4 and out["roles"] == {"user": 4, "assistant": 4, "system": 3}
    assert out["turns"] == {"1": 4} and out["tokens"]["count"] == 4 and out["tokens"]["max"] > 0
    assert sum(out["tokens"]["histogram"]["counts"]) == 4
    for path in out["plots"].values():
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert set(out["plots"]) == {"token_lengths", "roles"}


def test_export_jsonl_in_any_format_and_parquet_with_a_card(services, ctx, tmp_path):
    import pyarrow.parquet as pq

    import_rows(services, tmp_path, alpaca_rows(20), name="ex")
    clean.filter_rows(services, "ex", {"exclude": "item 1[0-4]"}, ctx)
    split.split_dataset(
        services, "ex", {"seed": 1, "train": 0.6, "validation": 0.2, "test": 0.2}, ctx
    )
    out = export.export_dataset(
        services, "ex", {"path": str(tmp_path / "out"), "format": "sharegpt"}, ctx
    )
    assert [(f["split"], f["rows"]) for f in out["files"]] == [
        ("train", 9),
        ("validation", 3),
        ("test", 3),
    ]
    first = json.loads((tmp_path / "out" / "train.jsonl").read_text("utf-8").splitlines()[0])
    assert first["conversations"][0]["from"] == "human"
    card = (tmp_path / "out" / "README.md").read_text("utf-8")
    assert "Format: **sharegpt** (converted from alpaca)" in card and "| train | 9 |" in card
    assert (
        "exclude" in card
        and "Split into train 9, validation 3, test 3" in card
        and "ex.jsonl" in card
    )
    single = export.export_dataset(services, "ex", {"path": str(tmp_path / "all.parquet")}, ctx)
    table = pq.read_table(tmp_path / "all.parquet")
    assert table.num_rows == 15 and table.column_names == ["instruction", "input", "output"]
    assert single["card"] == str(tmp_path / "all.README.md")
    text = export.export_dataset(
        services, "ex", {"path": str(tmp_path / "t.jsonl"), "format": "text", "split": "test"}, ctx
    )
    assert text["rows"] == 3
    assert json.loads((tmp_path / "t.jsonl").read_text("utf-8").splitlines()[0])["text"].startswith(
        "User: Task"
    )
    with pytest.raises(UserError, match="is a file"):
        export.plan(str(tmp_path / "all.parquet" / "x.jsonl"), None)
