"""Importing every supported source, and every kind of bad input the issue lists."""

from __future__ import annotations

import json

import pytest

from engine.core.errors import UserError
from engine.datasets.importer import inspect_source, run_import
from engine.datasets.library import DatasetLibrary
from tests.engine.datasets.conftest import alpaca_rows, write_jsonl


def _import(services, ctx, path, **params):
    return run_import(services, {"path": str(path), **params}, ctx)


def _rows(services, name):
    return [r["row"] for r in DatasetLibrary(services).page(name, limit=1000)["rows"]]


def test_malformed_jsonl_lines_are_reported_with_line_numbers_skip_or_abort(
    services, ctx, tmp_path
):
    lines = [json.dumps(r) for r in alpaca_rows(5)]
    lines[1] = '{"instruction": "broken", "output": '
    lines.insert(3, "")  # blank lines are not errors
    lines.insert(4, "[1, 2]")
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"bad.jsonl: line 2: not valid JSON") as exc:
        _import(services, ctx, path, on_error="abort")
    assert exc.value.data["errors"][0]["line"] == 2
    assert DatasetLibrary(services).list() == []  # nothing was created
    out = _import(services, ctx, path, on_error="skip")
    assert out["rows"] == 4 and out["format"] == "alpaca"
    assert [e["line"] for e in out["errors"]] == [2, 5]
    assert "not an object" in out["errors"][1]["reason"]


def test_mixed_schemas_are_converted_to_the_main_format(services, ctx, tmp_path):
    rows = [
        *alpaca_rows(4),
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"}]},
        {"conversations": [{"from": "human", "value": "yo"}, {"from": "gpt", "value": "sup"}]},
        {"text": "just some text"},
    ]
    out = _import(services, ctx, write_jsonl(tmp_path / "mixed.jsonl", rows), on_error="skip")
    assert out["format"] == "alpaca" and out["rows"] == 6
    assert out["converted"] == {"messages": 1, "sharegpt": 1}
    assert out["errors"] == [{"line": 7, "reason": out["errors"][0]["reason"]}]
    assert "text row, which cannot become alpaca" in out["errors"][0]["reason"]
    assert _rows(services, "mixed")[4] == {"instruction": "hi", "input": "", "output": "hey"}


def test_wrong_encodings_are_detected_or_reported(services, ctx, tmp_path):
    row = {"text": "Café déjà vu — naïve"}
    cp = tmp_path / "cp1252.jsonl"
    cp.write_bytes((json.dumps(row, ensure_ascii=False) + "\n").encode("cp1252"))
    out = _import(services, ctx, cp)
    assert _rows(services, "cp1252") == [row] and out["encoding"] in ("cp1252", "windows-1252")
    assert any("not valid UTF-8" in w for w in out["warnings"])
    utf16 = tmp_path / "utf16.jsonl"
    utf16.write_bytes((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-16"))
    _import(services, ctx, utf16)
    assert _rows(services, "utf16") == [row]
    # a UTF-8 file with one bad line: that line is an error, the rest imports
    good = (json.dumps({"text": "ok é"}, ensure_ascii=False) + "\n").encode("utf-8") * 300
    mixed = tmp_path / "oneBad.jsonl"
    mixed.write_bytes(good + b'{"text": "bad \xe9 byte"}\n' + good)
    out = _import(services, ctx, mixed, on_error="skip")
    assert out["rows"] == 600 and out["errors"][0]["line"] == 301
    assert "not valid utf-8" in out["errors"][0]["reason"]
    binary = tmp_path / "blob.jsonl"
    binary.write_bytes(b"\x00\x01\x02\x03" * 100 + b"\xff\x00" * 50)
    with pytest.raises(UserError, match="binary"):
        _import(services, ctx, binary)


def test_empty_files_say_so(services, ctx, tmp_path):
    for name, content in (
        ("e.jsonl", ""),
        ("blank.jsonl", "\n\n  \n"),
        ("e.csv", "a,b\n"),
        ("e.json", "[]"),
    ):
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(UserError, match=r"empty|no rows"):
            _import(services, ctx, path)
    assert DatasetLibrary(services).list() == []


def test_csv_with_embedded_newlines_and_quotes_keeps_line_numbers(services, ctx, tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text(
        "question,answer\n"
        '"Say ""hi""","He said, ""hi""\nand left"\n'
        '"Two\n\nparagraphs?","Yes,\nthree lines"\n'
        '"broken","row","extra"\n'
        "plain,row\n",
        encoding="utf-8",
    )
    out = _import(services, ctx, path, on_error="skip", format="alpaca")
    assert out["rows"] == 3
    assert out["errors"][0]["line"] == 8 and "3 fields" in out["errors"][0]["reason"]
    rows = _rows(services, "qa")
    assert rows[0] == {"instruction": 'Say "hi"', "input": "", "output": 'He said, "hi"\nand left'}
    assert rows[1]["instruction"] == "Two\n\nparagraphs?"


def test_rows_longer_than_every_model_context_are_flagged(services, ctx, tmp_path):
    long_text = "word " * 40_000  # about 40k tokens: beyond the default 32k limit with no models
    out = _import(
        services,
        ctx,
        write_jsonl(tmp_path / "long.jsonl", [{"text": "short"}, {"text": long_text}]),
    )
    assert out["too_long"] == 1 and any("context" in w for w in out["warnings"])
    page = DatasetLibrary(services).page("long")
    assert [r["flags"] for r in page["rows"]] == [[], ["too_long"]]
    found = DatasetLibrary(services).scan("long", filters=[{"op": "too_long"}])
    assert [r["index"] for r in found["rows"]] == [1]


def test_uncertain_format_asks_for_a_mapping_and_uses_the_one_given(services, ctx, tmp_path):
    path = write_jsonl(
        tmp_path / "odd.jsonl", [{"q": f"question {i}", "resp": f"r{i}"} for i in range(3)]
    )
    info = inspect_source(services, {"path": str(path)})
    assert info["columns"] == ["q", "resp"] and info["needs_mapping"]
    assert "alpaca" in info["fields"] and info["sample"][0] == {"q": "question 0", "resp": "r0"}
    with pytest.raises(UserError, match="choose a format") as exc:
        _import(services, ctx, path)
    assert exc.value.data["columns"] == ["q", "resp"]
    mapping = {"instruction": "q", "output": "resp"}
    preview = inspect_source(services, {"path": str(path), "format": "alpaca", "mapping": mapping})
    assert preview["preview"][0] == {"instruction": "question 0", "input": "", "output": "r0"}
    out = _import(services, ctx, path, format="alpaca", mapping=mapping)
    assert out["rows"] == 3 and _rows(services, "odd")[2]["output"] == "r2"


def test_json_array_parquet_hf_folder_and_text(services, ctx, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = alpaca_rows(3)
    arr = tmp_path / "arr.json"
    arr.write_text(
        "[\n" + ",\n".join(json.dumps(r) for r in rows) + ',\n"x",\n 5\n]', encoding="utf-8"
    )
    out = _import(services, ctx, arr, on_error="skip")
    assert out["rows"] == 3 and [e["line"] for e in out["errors"]] == [5, 6]
    assert out["errors"][1]["reason"] == "is a JSON int, not an object"

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    assert _import(services, ctx, tmp_path / "p.parquet")["rows"] == 3

    # a DatasetDict saved by `datasets.save_to_disk`: Arrow stream files named in state.json
    hf = tmp_path / "hf"
    for split, n in (("train", 3), ("test", 2)):
        (hf / split).mkdir(parents=True)
        table = pa.Table.from_pylist(
            [
                {
                    "messages": [
                        {"role": "user", "content": f"{split} {i}"},
                        {"role": "assistant", "content": "ok"},
                    ]
                }
                for i in range(n)
            ]
        )
        with pa.ipc.new_stream(hf / split / "data-00000-of-00001.arrow", table.schema) as w:
            w.write_table(table)
        (hf / split / "state.json").write_text(
            json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]})
        )
        (hf / split / "dataset_info.json").write_text("{}")
    (hf / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    out = _import(services, ctx, hf, split="test")
    assert out["name"] == "hf-test" and out["rows"] == 2 and out["format"] == "messages"

    txt = tmp_path / "book.txt"
    txt.write_text("First paragraph\nstill first.\n\n\nSecond one.\n", encoding="utf-8")
    out = _import(services, ctx, txt)
    assert out["format"] == "text" and _rows(services, "book") == [
        {"text": "First paragraph\nstill first."},
        {"text": "Second one."},
    ]


def test_hearth_conversations_import_the_current_branch(services, ctx):
    import time

    db = services.db()
    now = time.time()
    db.execute(
        "INSERT INTO conversations (id, title, system_prompt, current_leaf_id, created_at, updated_at) "
        "VALUES ('c1', 'Greeting', 'Be nice.', 'm3', ?, ?)",
        (now, now),
    )
    for mid, parent, role, content in (
        ("m1", None, "user", "Hi"),
        ("m2", "m1", "assistant", "Old branch"),
        ("m3", "m1", "assistant", "Hello!"),
    ):
        db.execute(
            "INSERT INTO messages (id, conversation_id, parent_id, role, content, created_at, updated_at) "
            "VALUES (?, 'c1', ?, ?, ?, ?, ?)",
            (mid, parent, role, content, now, now),
        )
    out = run_import(services, {"source": "conversations"}, ctx)
    assert out["format"] == "messages" and out["rows"] == 1
    row = _rows(services, "conversations")[0]
    assert row["messages"] == [
        {"role": "system", "content": "Be nice."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]


def test_a_cancelled_import_leaves_nothing_behind(services, tmp_path):
    from engine.core.errors import Cancelled
    from engine.jobs.registry import SimpleContext

    path = write_jsonl(tmp_path / "many.jsonl", alpaca_rows(5000))
    with pytest.raises(Cancelled):
        run_import(
            services, {"path": str(path)}, SimpleContext(services=services, cancel_flag=True)
        )
    assert DatasetLibrary(services).list() == []
    assert [p.name for p in (services.root / "datasets").iterdir()] == []


def test_a_wrong_encoding_asked_for_is_counted_and_said(services, ctx, tmp_path):
    """`--encoding utf-8` on a Latin-1 CSV: the undecodable bytes become U+FFFD, and the import
    says how many and what to do, instead of changing the text silently."""
    latin = tmp_path / "latin.csv"
    latin.write_bytes("question,answer\nCafé?,Déjà vu\nNaïve?,Oui\n".encode("latin-1"))
    out = _import(services, ctx, latin, encoding="utf-8")
    warning = next(w for w in out["warnings"] if "could not be read as utf-8" in w)
    assert warning.startswith("4 bytes of latin.csv") and "another encoding" in warning
    clean = tmp_path / "clean.csv"
    clean.write_bytes("question,answer\nCafé?,Déjà vu\n".encode())
    assert not any("could not be read" in w for w in _import(services, ctx, clean, encoding="utf-8")["warnings"])  # fmt: skip


def test_columnar_files_that_unpack_too_far_are_refused(services, ctx, tmp_path, monkeypatch):
    """A row group declaring more than Hearth reads at once is refused before reading; one that
    declares little (a dictionary-encoded value standing for many rows) is caught by what it
    actually unpacks to. Bounds scaled down: 4 MB of row group, 8 MB before the ratio counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.datasets import columnar

    monkeypatch.setattr(columnar, "MAX_ROW_GROUP_BYTES", 4 * 2**20)
    monkeypatch.setattr(columnar, "UNPACK_FLOOR_BYTES", 8 * 2**20)
    mixed = [{"text": f"{i}" * 2**18} for i in range(30)]  # 30 distinct values: no dictionary
    pq.write_table(pa.Table.from_pylist(mixed), tmp_path / "wide.parquet", use_dictionary=False)
    with pytest.raises(UserError, match=r"row group 1 of 1 unpacks to \d+ MB.*row_group_size"):
        _import(services, ctx, tmp_path / "wide.parquet")
    from tests.faults.hostile import one_value_many_times

    pq.write_table(one_value_many_times(2**20, 600), tmp_path / "bomb.parquet", compression="zstd")
    assert (tmp_path / "bomb.parquet").stat().st_size < 100_000
    with pytest.raises(UserError, match="decompression bomb"):
        _import(services, ctx, tmp_path / "bomb.parquet")
    assert DatasetLibrary(services).list() == []
