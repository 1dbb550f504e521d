"""The ``data.*`` JSON-RPC methods through the dispatcher, and ``hearth-engine data`` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from engine.cli import main
from tests.engine.datasets.conftest import alpaca_rows, write_jsonl


@pytest.fixture
def client(services):
    from tests.engine.chat.rpc import Client

    c = Client(services)
    yield c
    c.close()


def call(client, method, params=None):
    return client.wait(client.send(method, params or {}))


def job_result(client, response):
    job = response["result"]["job"]
    done = call(client, "jobs.wait", {"id": job["id"], "timeout_s": 60})["result"]
    assert done["state"] == "succeeded", done
    return done["result"]


def test_rpc_import_page_edit_dedup_and_undo(client, tmp_path):
    rows = alpaca_rows(30) + alpaca_rows(5)  # 5 exact duplicates
    path = write_jsonl(tmp_path / "rpc.jsonl", rows)
    info = call(client, "data.inspect", {"path": str(path)})["result"]
    assert info["format"] == "alpaca" and not info["needs_mapping"]
    result = job_result(client, call(client, "data.import", {"path": str(path), "name": "rpc"}))
    ds = result["dataset"]
    assert result["rows"] == 35 and ds["name"] == "rpc"
    page = call(client, "data.rows", {"id": ds["id"], "offset": 30, "limit": 10})["result"]
    assert page["total"] == 35 and [r["index"] for r in page["rows"]] == [30, 31, 32, 33, 34]
    edited = call(client, "data.edit", {"id": "rpc", "delete": [0]})["result"]
    assert edited["dataset"]["rows"] == 34
    assert any(n["method"] == "data.changed" for n in client.notes)
    dedup = job_result(client, call(client, "data.dedup", {"id": "rpc", "dry_run": True}))
    assert dedup["removed"] == 4 and dedup["version"] is None
    dedup = job_result(client, call(client, "data.dedup", {"id": "rpc"}))
    assert dedup["rows_after"] == 30 and dedup["version"]["version"] == 3
    hist = call(client, "data.history", {"id": "rpc"})["result"]
    assert [v["operation"] for v in hist["versions"]] == ["import", "edit", "dedup"]
    assert call(client, "data.undo", {"id": "rpc"})["result"]["rows"] == 34
    st = call(client, "data.stats", {"id": "rpc"})["result"]
    assert st["rows"] == 34 and os.path.exists(st["plots"]["token_lengths"])
    shown = call(client, "data.render", {"id": "rpc", "index": 0, "template": "chatml"})["result"]
    assert shown["text"].startswith("<|im_start|>user\nTask 1") and shown["exact"] is False


def test_rpc_errors_answer_at_once(client, tmp_path):
    missing = call(client, "data.import", {"path": str(tmp_path / "nope.jsonl")})
    assert missing["error"]["code"] == -32001 and "does not exist" in missing["error"]["message"]
    assert call(client, "data.get", {"id": "nope"})["error"]["code"] == -32002
    assert call(client, "data.rows", {"id": "x", "bogus": 1})["error"]["code"] == -32602
    bad = call(
        client,
        "data.import",
        {"path": str(tmp_path), "format": "alpaca", "mapping": {"answer": "a"}},
    )
    assert bad["error"]["code"] == -32001 and "no field" in bad["error"]["message"]
    assert call(client, "data.filter", {"id": "x"})["error"]["code"] in (-32001, -32002)


def test_cli_import_json_shape_and_errors(hearth_home, tmp_path):
    path = tmp_path / "cli.jsonl"
    lines = [json.dumps(r) for r in alpaca_rows(6)]
    lines[2] = "{oops"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = dict(os.environ)

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "engine", "data", *a],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    out = run("import", str(path), "--json")
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.strip().splitlines()[-1:]
    assert line.startswith("hearth-engine: error: cli.jsonl: line 3: not valid JSON")
    out = run("import", str(path), "--on-error", "skip", "--name", "C", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert {k: result[k] for k in ("name", "format", "rows")} == {
        "name": "C",
        "format": "alpaca",
        "rows": 5,
    }
    assert result["errors"] == [{"line": 3, "reason": result["errors"][0]["reason"]}]


def test_cli_commands(hearth_home, tmp_path, capsys):
    rows = [{"text": f"document number {i} " + "filler words here " * 10} for i in range(40)]
    rows += [{"text": rows[i]["text"] + " extra"} for i in range(5)]
    write_jsonl(tmp_path / "docs.jsonl", rows)

    def hearth(*args: str) -> str:
        capsys.readouterr()
        assert main(["data", *args]) == 0
        return capsys.readouterr().out

    assert json.loads(hearth("import", str(tmp_path / "docs.jsonl"), "--json"))["rows"] == 45
    listed = json.loads(hearth("list", "--json"))
    assert [(d["name"], d["rows"]) for d in listed] == [("docs", 45)]
    shown = hearth("show", "docs", "--rows", "2")
    assert "#0" in shown and "#1" in shown and "#2" not in shown
    dedup = json.loads(hearth("dedup", "docs", "--near", "--threshold", "0.8", "--json"))
    assert {k: dedup[k] for k in ("rows_before", "rows_after", "removed")} == {
        "rows_before": 45, "rows_after": 40, "removed": 5,
    }  # fmt: skip
    assert sorted(r for c in dedup["clusters"] for r in c["remove"]) == [40, 41, 42, 43, 44]
    assert "removed" in hearth("filter", "docs", "--exclude", "number 3\\d")
    split = json.loads(
        hearth("split", "docs", "--train", "0.5", "--test", "0.5", "--seed", "2", "--json")
    )
    assert [(s["name"], s["rows"]) for s in split["splits"]] == [("train", 15), ("test", 15)]
    exported = json.loads(hearth("export", "docs", str(tmp_path / "out"), "--parquet", "--json"))
    assert [f["split"] for f in exported["files"]] == ["train", "test"]
    assert os.path.exists(exported["card"])
    assert "* v4" in hearth("history", "docs")
    hearth("undo", "docs")
    assert json.loads(hearth("list", "--json"))[0]["rows"] == 30
    capsys.readouterr()
    assert main(["data", "convert", "docs", "--to", "alpaca"]) == 2
    assert "instruction/response" in capsys.readouterr().err
    # conversions round-trip through the dataset's versions
    write_jsonl(tmp_path / "al.jsonl", alpaca_rows(4))
    hearth("import", str(tmp_path / "al.jsonl"))
    original = json.loads(hearth("show", "al", "--json"))["rows"]
    for fmt in ("sharegpt", "messages", "alpaca"):
        assert json.loads(hearth("convert", "al", "--to", fmt, "--json"))["format"] == fmt
    assert json.loads(hearth("show", "al", "--json"))["rows"] == original
