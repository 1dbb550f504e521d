"""The ``prune.*``, ``eval.perplexity`` and ``models.export_gguf`` methods through the dispatcher,
and ``hearth-engine prune`` / ``eval perplexity`` / ``export gguf MODEL_ID``."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.core.errors import UserError
from engine.jobs.registry import SimpleContext
from tests.engine.chat.rpc import call, finished


@pytest.fixture
def client(services):
    from tests.engine.chat.rpc import Client

    c = Client(services)
    yield c
    c.close()


def small(model_id, text_file, **extra):
    return {"model_id": model_id, "file": str(text_file), "seq_len": 32,
            "calibration_tokens": 512, "eval_tokens": 256, **extra}  # fmt: skip


def test_rpc_describe_plan_run_list_and_lineage(client, services, llama_id, text_file):
    info = call(client, "prune.describe")["result"]
    assert [m["name"] for m in info["methods"]] == ["width", "depth", "attention"]
    assert all(m["about"].count(". ") >= 1 for m in info["methods"])  # two sentences each

    plan = finished(client, call(client, "prune.plan", {"request": small(llama_id, text_file, method="width", percent=25)}))  # fmt: skip
    assert plan["width_before"] == 256 and plan["width_after"] == 192
    assert plan["params_after"] == plan["params_before"] - 8 * 64 * 3 * 64
    assert [row["removed"] for row in plan["layers"]] == [64] * 8
    assert plan["size_after_bytes"] < plan["size_before_bytes"]

    started = call(client, "prune.start", {"request": small(llama_id, text_file, method="width", percent=25, name="Narrow")})  # fmt: skip
    result = finished(client, started)
    run_id = started["result"]["run"]["id"]
    assert result["run_id"] == run_id and result["params_after"] == plan["params_after"]
    assert result["ppl_before"] > 0 and result["ppl_after"] > 0 and result["eval_tokens"] > 0
    pruned = services.library.get(result["model_id"])
    assert pruned["name"] == "Narrow" and pruned["format"] == "hf"
    assert pruned["lineage"]["parent_id"] == llama_id and pruned["lineage"]["method"] == "width"
    assert "192" in pruned["lineage"]["amount"]
    assert any(n["method"] == "models.changed" for n in client.notes)
    shown = call(client, "prune.get", {"run": run_id})["result"]
    assert shown["state"] == "succeeded" and len(shown["answers"]) == 3
    assert shown["plan"]["layers"][0]["score"] is not None
    family = call(client, "prune.list", {"model_id": llama_id})["result"]["runs"]
    assert [r["id"] for r in family] == [run_id]

    # the pruned model is a library model like any other: it chats in transformers
    from engine.chat.generate import generate

    reply = generate(services, model_id=result["model_id"], params={"temperature": 0.0, "max_tokens": 4},
                     messages=[{"role": "user", "content": "hello"}])  # fmt: skip
    assert isinstance(reply["text"], str)


def test_bad_requests_answer_at_once(client, services, llama_id, text_file):
    cases = [
        ({"model_id": llama_id, "method": "width", "percent": 100}, "every neuron"),
        ({"model_id": llama_id, "method": "width"}, "percentage of neurons"),
        ({"model_id": llama_id, "method": "sideways"}, "method must be one of"),
        (
            {"model_id": llama_id, "method": "width", "percent": 10, "selector": "vibes"},
            "selectors are",
        ),
        ({"model_id": llama_id, "method": "depth"}, "how many blocks"),
        (
            {"model_id": llama_id, "method": "width", "percent": 10, "bogus": 1},
            "Unknown pruning option",
        ),
    ]
    for request, message in cases:
        answer = call(client, "prune.start", {"request": request})
        assert answer["error"]["code"] == -32001 and message in answer["error"]["message"], answer
    missing = call(client, "prune.plan", {"request": {"model_id": "nope", "method": "depth", "layers": 1}})  # fmt: skip
    assert missing["error"]["code"] == -32002
    # every block: refused by the job's check, which fails with the message
    failed = call(client, "prune.plan", {"request": small(llama_id, text_file, method="depth", layers=8)})  # fmt: skip
    done = call(client, "jobs.wait", {"id": failed["result"]["job"]["id"], "timeout_s": 120})[
        "result"
    ]
    assert done["state"] == "failed" and "leave none" in done["error"]
    empty = text_file.with_name("empty.txt")
    empty.write_text("", encoding="utf-8")
    failed = call(client, "prune.plan", {"request": {**small(llama_id, text_file, method="width", percent=10), "file": str(empty)}})  # fmt: skip
    done = call(client, "jobs.wait", {"id": failed["result"]["job"]["id"], "timeout_s": 120})[
        "result"
    ]
    assert done["state"] == "failed" and "empty" in done["error"]


def test_an_unconverted_gguf_offers_the_conversion(services, model_root, tmp_path):
    from engine.pruning.pipeline import check_model
    from engine.training.export_gguf import export_model
    from tests.engine.pruning.fixtures import build

    path = export_model(build(model_root, "llama"), tmp_path / "tiny.gguf", quant="f32")
    gguf = services.library.import_model(path, mode="reference")
    with pytest.raises(UserError, match="not been converted") as info:
        check_model(services, gguf["id"])
    assert info.value.data == {"convert": gguf["id"]}


def test_cancelled_or_killed_pruning_leaves_no_model(client, services, llama_id, text_file):
    from engine.pruning import pipeline
    from engine.pruning.request import Request
    from engine.pruning.runs import PruneRunStore

    store = PruneRunStore(services)
    req = Request.from_dict(small(llama_id, text_file, method="depth", layers=2))
    before = {m["id"] for m in services.library.list()}

    class CancelWhenSaving(SimpleContext):
        def progress(self, fraction, message=None):
            if message and message.startswith("Saving"):
                self.cancel_flag = True

    run = store.create({"name": "c", "request": req.to_dict(), "model_id": llama_id})
    from engine.core.errors import Cancelled

    with pytest.raises(Cancelled):
        pipeline.run(services, run["id"], CancelWhenSaving(services=services))
    assert {m["id"] for m in services.library.list()} == before
    assert not list(store.folder(run["id"]).glob("*model*"))

    # killed (SIGKILL) in a worker after the files were written under their temporary name
    run = store.create({"name": "k", "request": req.to_dict(), "model_id": llama_id})
    job = services.jobs.start("test.prune_killed", {"run_id": run["id"]})
    done = services.jobs.wait(job["id"], 180)
    assert done["state"] == "failed" and "killed" in (done["error"] or "").lower()
    assert {m["id"] for m in services.library.list()} == before
    assert not (store.folder(run["id"]) / "model").exists()
    assert list(store.folder(run["id"]).glob(".model.partial-*"))  # what a restart cleans up
    # running it again cleans the partial folder and finishes
    result = pipeline.run(services, run["id"], SimpleContext(services=services))
    assert not list(store.folder(run["id"]).glob(".model.partial-*"))
    assert services.library.get(result["model_id"])["lineage"]["method"] == "depth"


def test_disk_full_while_saving_says_so_and_keeps_nothing(services, llama_id, text_file, monkeypatch):  # fmt: skip
    from engine.pruning import pipeline
    from engine.pruning.request import Request
    from engine.pruning.runs import PruneRunStore

    store = PruneRunStore(services)
    req = Request.from_dict(small(llama_id, text_file, method="width", percent=10, selector="maw", refit=False))  # fmt: skip
    run = store.create({"name": "d", "request": req.to_dict(), "model_id": llama_id})
    from transformers import PreTrainedModel

    def full(self, folder, *a, **k):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "model.safetensors").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", full)
    before = {m["id"] for m in services.library.list()}
    with pytest.raises(UserError, match=r"(?i)disk|space") as info:
        pipeline.run(services, run["id"], SimpleContext(services=services))
    assert "saving the pruned model" in info.value.message
    assert {m["id"] for m in services.library.list()} == before
    assert not [p for p in store.folder(run["id"]).iterdir() if "model" in p.name]


def _llama_tokens(path, ids):
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=len(ids) + 8, logits_all=True, verbose=False, n_threads=2)  # fmt: skip
    llm.eval(ids)
    out = np.array(llm.scores[: len(ids)]).argmax(1)
    llm.close()
    return out


@pytest.mark.parametrize("method", ["width", "depth", "attention"])
def test_pruned_models_export_to_gguf_and_match_torch(services, llama_id, text_file, method, capsys):  # fmt: skip
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.pruning import pipeline
    from engine.pruning.request import Request
    from engine.pruning.runs import PruneRunStore

    extra = {"percent": 25} if method == "width" else {"layers": 2}
    req = Request.from_dict(small(llama_id, text_file, method=method, **extra))
    store = PruneRunStore(services)
    run = store.create({"name": method, "request": req.to_dict(), "model_id": llama_id})
    result = pipeline.run(services, run["id"], SimpleContext(services=services))
    assert main(["export", "gguf", result["model_id"], "--quant", "f32", "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    model = services.library.get(result["model_id"])
    lm = AutoModelForCausalLM.from_pretrained(model["path"]).eval()
    tok = AutoTokenizer.from_pretrained(model["path"])
    ids = tok(text_file.read_text()[:600]).input_ids[:160]
    with torch.no_grad():
        expected = lm(torch.tensor([ids])).logits[0].argmax(-1).numpy()
    got = _llama_tokens(exported["path"], ids)
    assert (got == expected).mean() >= 0.99
    entry = services.library.get(exported["model_id"])
    assert entry["format"] == "gguf" and entry["lineage"]["method"] == method
    assert store.get(run["id"])["models"]["gguf_f32"] == exported["model_id"]


def test_depth_pruned_gemma_keeps_its_layer_types_in_gguf(services, gemma_id, text_file):
    """Removing Gemma 3's global block leaves six sliding-window layers, which llama.cpp's
    every-sixth-layer default would get wrong; the export says so per layer, and llama.cpp then
    agrees with torch past the 16-token sliding window of the tiny model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.pruning import export, pipeline
    from engine.pruning.request import Request
    from engine.pruning.runs import PruneRunStore

    req = Request.from_dict(small(gemma_id, text_file, method="depth", selector="layers", layers_list=[1, 5]))  # fmt: skip
    run = PruneRunStore(services).create({"name": "g", "request": req.to_dict(), "model_id": gemma_id})  # fmt: skip
    result = pipeline.run(services, run["id"], SimpleContext(services=services))
    model = services.library.get(result["model_id"])
    lm = AutoModelForCausalLM.from_pretrained(model["path"]).eval()
    assert lm.config.layer_types == ["sliding_attention"] * 6
    out = export.run(services, {"model_id": model["id"], "quant": "f32"}, SimpleContext(services=services))  # fmt: skip
    from engine.models.gguf_meta import read_fields

    assert read_fields(out["path"])["gemma3.attention.sliding_window_pattern"] == [True] * 6
    tok = AutoTokenizer.from_pretrained(model["path"])
    ids = tok(text_file.read_text()[:900]).input_ids[:120]
    with torch.no_grad():
        expected = lm(torch.tensor([ids])).logits[0].argmax(-1).numpy()
    assert (_llama_tokens(out["path"], ids) == expected).mean() >= 0.99


def test_cli_plan_run_list_show_and_perplexity(services, llama_id, text_file, capsys):
    args = ["--model", llama_id, "--method", "depth", "--layers", "2", "--calibration-file", str(text_file),
            "--seq-len", "32", "--calibration-tokens", "512", "--eval-tokens", "256", "--json"]  # fmt: skip
    assert main(["prune", "plan", *args]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert {"method", "selector", "params_before", "params_after", "layers"} <= set(plan)
    assert sum(1 for row in plan["layers"] if row["removed"]) == 2
    assert all(set(row) >= {"index", "score", "removed"} for row in plan["layers"])
    assert main(["prune", "run", *args]) == 0
    run = json.loads(capsys.readouterr().out)
    assert set(run) == {"run_id", "model_id", "params_before", "params_after", "ppl_before", "ppl_after",
                        "eval_tokens", "tokens_per_s_before", "tokens_per_s_after", "seconds"}  # fmt: skip
    assert main(["prune", "list", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["runs"]] == [run["run_id"]]
    assert main(["prune", "show", run["run_id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["result"]["model_id"] == run["model_id"]
    assert main(["eval", "perplexity", "--model", llama_id, "--model", run["model_id"], "--file",
                 str(text_file), "--max-tokens", "512", "--seq-len", "64", "--json"]) == 0  # fmt: skip
    ppl = json.loads(capsys.readouterr().out)
    assert [r["model_id"] for r in ppl["results"]] == [llama_id, run["model_id"]]
    assert all(
        r["ppl"] > 0 and r["tokens"] == 512 for r in ppl["results"]
    )  # every token scored once
    assert main(["prune", "run", "--model", llama_id, "--method", "width", "--percent", "100"]) == 2
    assert "every neuron" in capsys.readouterr().err
