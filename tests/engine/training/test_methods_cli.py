"""The ``train.*`` RPC methods through the dispatcher, and ``hearth-engine train`` / ``export gguf``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from tests.engine.chat.rpc import call, finished


@pytest.fixture
def client(services):
    from tests.engine.chat.rpc import Client

    c = Client(services)
    yield c
    c.close()


def test_rpc_options_start_metrics_eval_and_errors(client, tiny_id, memo):
    opts = call(client, "train.options")["result"]
    names = {f["name"] for f in opts["fields"]}
    assert {"rank", "seq_len", "batch_size", "learning_rate", "packing"} <= names
    assert all(f["help"] for f in opts["fields"])
    assert [p["name"] for p in opts["presets"]] == ["quick", "balanced", "thorough"]
    methods = {m["name"]: m for m in opts["methods"]}
    assert methods["lora"]["available"] and methods["full"]["available"]

    bad = call(
        client, "train.start", {"model_id": tiny_id, "dataset": memo, "options": {"rnak": 2}}
    )
    assert bad["error"]["code"] == -32001 and "rnak" in bad["error"]["message"]
    missing = call(client, "train.start", {"model_id": tiny_id, "dataset": "nope"})
    assert missing["error"]["code"] == -32002

    plan = call(client, "train.plan", {"model_id": tiny_id, "preset": "quick"})["result"]
    assert plan["verdict"] == "ok" and plan["total_bytes"] > 0

    options = {"max_steps": 6, "seq_len": 64, "rank": 4, "learning_rate": 1e-2, "eval_every": 3,
               "sample_tokens": 4}  # fmt: skip
    started = call(
        client, "train.start", {"model_id": tiny_id, "dataset": memo, "options": options}
    )
    result = finished(client, started)
    run_id = started["result"]["run"]["id"]
    assert result["run_id"] == run_id and result["steps"] == 6
    assert any(n["method"] == "train.changed" for n in client.notes)
    assert any(n["method"] == "job.metrics" for n in client.notes)
    listed = call(client, "train.list")["result"]["runs"]
    assert [r["id"] for r in listed] == [run_id] and listed[0]["state"] == "succeeded"
    shown = call(client, "train.metrics", {"run": run_id})["result"]
    assert [m["step"] for m in shown["metrics"] if "loss" in m] == [1, 2, 3, 4, 5, 6]
    assert shown["metrics"][0]["step"] == 0 and "eval_loss" in shown["metrics"][0]  # the base's
    later = call(client, "train.metrics", {"run": run_id, "after_step": 4})["result"]
    assert [m["step"] for m in later["metrics"] if "loss" in m] == [5, 6]
    assert shown["samples"] and shown["samples"][0]["step"] == 3
    assert shown["evaluation"] is None  # not evaluated yet

    bad = call(client, "train.export", {"run": run_id, "quant": "q4_k"})
    assert bad["error"]["code"] == -32001 and "quant" in bad["error"]["message"]
    again = call(client, "train.resume", {"run": run_id})
    assert again["error"]["code"] == -32001 and "finished" in again["error"]["message"]

    evaluated = finished(client, call(client, "train.eval", {"run": run_id, "prompts": ["Say the word number 3"], "max_new_tokens": 4}))  # fmt: skip
    assert evaluated["perplexity_after"] < evaluated["perplexity_before"]
    pair = evaluated["comparisons"][0]
    assert pair["prompt"] == "Say the word number 3" and {"base", "tuned"} <= set(pair)
    kept = call(client, "train.metrics", {"run": run_id})["result"]["evaluation"]
    assert kept["comparisons"] == evaluated["comparisons"]  # the panel shows it again later
    assert kept["perplexity_after"] == evaluated["perplexity_after"]
    # the same figures are a run of the evaluation service, listed in Evaluate with the others
    stored = call(client, "eval.show", {"run_id": evaluated["evaluation_run"]})["result"]
    assert stored["kind"] == "perplexity" and stored["state"] == "done"
    by_model = {r["model_id"]: r["ppl"] for r in stored["results"]}
    assert by_model == {tiny_id: round(evaluated["perplexity_before"], 4),
                        f"train:{run_id}": round(evaluated["perplexity_after"], 4)}  # fmt: skip
    assert "validation rows" in stored["dataset"]
    listed = call(client, "eval.list")["result"]["runs"]
    assert [r["run_id"] for r in listed] == [evaluated["evaluation_run"]]


def test_cli_train_export_list(services, tiny_id, memo, capsys):
    def hearth(*args: str) -> str:
        assert main(list(args)) == 0, capsys.readouterr().err
        return capsys.readouterr().out

    out = hearth("train", "lora", "--model", tiny_id, "--dataset", memo, "--max-steps", "4",
                 "--rank", "4", "--seq-len", "64", "--batch", "2", "--lr", "0.01",
                 "--eval-every", "0", "--json")  # fmt: skip
    summary = json.loads(out)
    assert list(summary) == ["run_id", "steps", "first_loss", "final_loss", "tokens_per_s",
                             "peak_rss_mb", "artifacts"]  # fmt: skip
    assert summary["steps"] == 4 and Path(summary["artifacts"]["adapter"]).is_dir()
    run_id = summary["run_id"]
    exported = json.loads(hearth("export", "gguf", run_id, "--adapter", "--json"))
    assert Path(exported["path"]).suffix == ".gguf" and Path(exported["base_path"]).is_file()
    listed = json.loads(hearth("train", "list", "--json"))
    assert listed[0]["id"] == run_id and "gguf_adapter" in listed[0]["artifacts"]
    assert run_id in hearth("train", "list")
    assert main(["train", "resume", run_id]) == 2
    assert "finished" in capsys.readouterr().err
    from engine.core.devices import best_device

    if best_device() != "cuda":
        assert (
            main(["train", "lora", "--model", tiny_id, "--dataset", memo, "--method", "qlora"]) == 2
        )
        assert "CUDA" in capsys.readouterr().err
