"""Quantizing library models with llama.cpp's quantizer: the types a model can take and why not
the others, the job end to end on a tiny Llama (from its Hugging Face folder and from GGUFs),
the CLI, and what a full disk, a failure or a cancel leave behind (nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.core.errors import Cancelled, UserError
from engine.jobs.registry import SimpleContext
from engine.models import quantize
from tests.engine.runtimes.fixtures import bundled_home, tiny_hf

pytest.importorskip("llama_cpp")


def _job(services, model_id: str, quant: str) -> dict:
    from types import SimpleNamespace

    from engine.models import methods

    ctx = SimpleNamespace(services=services, request_id=1, cancelled=lambda: False)
    started = methods.quantize_model(ctx, id=model_id, quant=quant)
    return services.jobs.wait(started["job"]["id"], 120)


@pytest.fixture
def tiny_model(services, tmp_path_factory) -> dict:
    folder = tiny_hf(tmp_path_factory.getbasetemp())
    return services.library.import_model(folder, mode="reference", name="Tiny")


def _made(services) -> list[str]:
    """The GGUF models in the library that a test made (not the bundled ones)."""
    return [m["id"] for m in services.library.list() if m["format"] == "gguf" and not m["bundled"]]


def _tensor_types(path: str) -> set[str]:
    from gguf import GGUFReader

    return {t.tensor_type.name for t in GGUFReader(path).tensors if len(t.shape) == 2}


def test_a_hugging_face_model_becomes_a_smaller_gguf_with_its_parent_named(services, tiny_model):
    options = quantize.options(services, tiny_model["id"])
    assert [t["quant"] for t in options["types"]] == ["f16", "q8_0", "q6_k", "q5_k_m", "q4_k_m"]
    assert all(t["allowed"] for t in options["types"])  # safetensors in f32: every type

    job = _job(services, tiny_model["id"], "q8_0")
    assert job["state"] == "succeeded", job.get("error")
    result = job["result"]
    out = Path(result["path"])
    assert out.is_file() and result["size_bytes"] == out.stat().st_size
    assert "Q8_0" in _tensor_types(str(out))
    model = services.library.get(result["model_id"])
    assert model["format"] == "gguf" and model["quant"] == "Q8_0" and model["name"] == "Tiny (q8_0)"
    lineage = model["lineage"]
    assert lineage["parent_id"] == tiny_model["id"] and lineage["method"] == "quantize"
    assert lineage["quant"] == "q8_0"
    # nothing half-written is left next to it: the f16 it went through, or the partial file
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]

    # it runs in llama.cpp
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(out), n_ctx=64, verbose=False)
    assert llm.n_vocab() > 0 and llm("hello", max_tokens=2)["choices"][0]["text"] is not None


def test_a_gguf_is_quantized_downwards_only(services, tiny_model):
    f16 = _job(services, tiny_model["id"], "f16")["result"]
    f16_model = services.library.get(f16["model_id"])
    assert f16_model["quant"] == "F16"
    refused = {t["quant"]: t["reason"] for t in quantize.options(services, f16["model_id"])["types"]
               if not t["allowed"]}  # fmt: skip
    assert list(refused) == ["f16"] and "already 16-bit floats (F16)" in refused["f16"]

    q8 = _job(services, f16["model_id"], "q8_0")["result"]
    assert services.library.get(q8["model_id"])["name"] == "Tiny (q8_0)"
    assert q8["note"] is None  # from 16-bit floats: a first quantization
    with pytest.raises(UserError, match=r"already 8-bit \(Q8_0\).*cannot bring back"):
        _job(services, q8["model_id"], "q8_0")
    with pytest.raises(UserError, match="already 8-bit"):
        _job(services, q8["model_id"], "f16")

    q4 = _job(services, q8["model_id"], "q4_k_m")
    assert q4["state"] == "succeeded", q4.get("error")
    assert "Quantized again from Q8_0" in q4["result"]["note"]
    assert q4["result"]["size_bytes"] < q8["size_bytes"] < f16["size_bytes"]


def test_adapters_embeddings_and_unknown_types_are_refused(services, tiny_model):
    with pytest.raises(UserError, match="quant must be one of f16, q8_0, q6_k, q5_k_m, q4_k_m"):
        quantize.check(services, tiny_model["id"], "q3_k")
    adapter = {"name": "A", "role": "adapter", "format": "gguf"}
    assert "LoRA adapter" in quantize.refusal(adapter, quantize.TYPES["q4_k_m"])
    embed = {"name": "E", "role": "embedding", "format": "gguf"}
    assert "embedding model" in quantize.refusal(embed, quantize.TYPES["q4_k_m"])
    odd = {"name": "O", "role": "llm", "format": "gguf", "quant": "MXFP4_MOE"}
    assert "cannot rank" in quantize.refusal(odd, quantize.TYPES["q4_k_m"])
    assert quantize.source_bits("IQ3_XS") == 3 and quantize.source_bits("BF16") == 16


def test_the_bundled_model_is_already_4_bit(services, hearth_home):
    bundled_home(hearth_home)
    gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
    options = quantize.options(services, gemma["id"])
    assert options["source_quant"] == "Q4_K_M" and not any(t["allowed"] for t in options["types"])
    assert "already 4-bit (Q4_K_M)" in options["types"][-1]["reason"]
    assert "Hearth writes nothing smaller" in options["types"][-1]["reason"]
    # the size a q4_k_m of it would have (the embedding kept in q8_0) is the bundled file's
    assert options["types"][-1]["estimated_bytes"] == pytest.approx(gemma["size_bytes"], rel=0.05)


def test_a_full_disk_is_refused_before_writing(services, tiny_model, monkeypatch):
    from engine.core import space

    monkeypatch.setattr(space, "free_bytes", lambda _path: 3 * 2**20)
    with pytest.raises(space.DiskFull, match="is full"):
        quantize.run(services, {"model_id": tiny_model["id"], "quant": "q8_0"},
                     SimpleContext(services=services))  # fmt: skip
    assert _made(services) == []
    assert not (services.root / "exports" / tiny_model["id"]).exists()


FILL_UP = r"""
import json, resource, signal, sys
from engine.services import Services
from engine.jobs.registry import SimpleContext
from engine.models import quantize
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
services = Services()
model_id, limit = sys.argv[1], int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    quantize.run(services, {"model_id": model_id, "quant": "q8_0"}, SimpleContext(services=services))
    print(json.dumps({"ok": True}))
except Exception as exc:
    print(json.dumps({"ok": False, "type": type(exc).__name__, "message": str(exc)}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE stands in for a full disk")
@pytest.mark.parametrize("source", ["hf", "gguf"])
def test_a_disk_that_fills_up_while_writing_leaves_nothing(
    services, tiny_model, hearth_home, source
):
    model_id = tiny_model["id"]
    if source == "gguf":  # llama.cpp's own writes fail, not the f16 export's
        model_id = _job(services, model_id, "f16")["result"]["model_id"]
    before = sorted(_made(services))
    size = quantize.estimated_bytes(tiny_model["params"], quantize.TYPES["q8_0"]) - 16 * 2**20
    env = dict(os.environ, HEARTH_HOME=str(hearth_home), PYTHONPATH=os.getcwd())
    proc = subprocess.run([sys.executable, "-c", FILL_UP, model_id, str(size // 3)],
                          capture_output=True, text=True, env=env, timeout=120, check=True)  # fmt: skip
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not outcome["ok"] and outcome["type"] in ("DiskFull", "UserError"), outcome
    assert "is full" in outcome["message"] and "move the data folder" in outcome["message"]
    folder = hearth_home / "exports" / model_id
    assert not folder.exists() or list(folder.iterdir()) == []
    assert sorted(_made(services)) == before


def test_a_cancel_removes_the_half_written_file(services, tiny_model, monkeypatch):
    import time

    import llama_cpp

    def slow(_src: bytes, dest: bytes, _params) -> int:
        Path(dest.decode()).write_bytes(b"GGUF" + b"\0" * 4096)
        time.sleep(1.5)
        return 0

    monkeypatch.setattr(llama_cpp, "llama_model_quantize", slow)

    class Ctx(SimpleContext):
        def cancelled(self) -> bool:
            return True

    f16 = _job(services, tiny_model["id"], "f16")["result"]
    with pytest.raises(Cancelled):
        quantize.run(
            services, {"model_id": f16["model_id"], "quant": "q8_0"}, Ctx(services=services)
        )
    folder = Path(f16["path"]).parent
    assert sorted(p.name for p in folder.iterdir()) == [Path(f16["path"]).name]


def test_cli_quantizes_and_lists_the_types(services, tiny_model, hearth_home):
    env = dict(os.environ, HEARTH_HOME=str(hearth_home))
    run = [sys.executable, "-m", "engine", "models", "quantize", tiny_model["id"]]
    listed = subprocess.run([*run, "--list"], capture_output=True, text=True, env=env, check=True)
    assert "q4_k_m" in listed.stdout and "4-bit k-quant" in listed.stdout
    done = subprocess.run([*run, "--quant", "Q4_K_M", "--json"], capture_output=True, text=True,
                          env=env, check=True)  # fmt: skip
    result = json.loads(done.stdout)
    assert set(result) == {"model_id", "path", "size_bytes"}
    assert Path(result["path"]).stat().st_size == result["size_bytes"]
    refused = subprocess.run([*run, "--quant", "q9"], capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and "quant must be one of" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_family_table_has_sizes_and_perplexity_from_one_run(services, tiny_model, tmp_path):
    from types import SimpleNamespace

    from engine.evaluation import methods as evaluation

    assert quantize.family(services, tiny_model["id"])["rows"] == []  # nothing quantized yet
    f16 = _job(services, tiny_model["id"], "f16")["result"]["model_id"]
    q4 = _job(services, f16, "q4_k_m")["result"]["model_id"]
    family = quantize.family(services, q4)  # from any member: the whole line, from its root
    assert family["root_id"] == tiny_model["id"]
    assert [r["model_id"] for r in family["rows"]] == [tiny_model["id"], f16, q4]
    assert family["run_id"] is None and all(r["perplexity"] is None for r in family["rows"])

    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 60, encoding="utf-8")
    ctx = SimpleNamespace(services=services, request_id=1, cancelled=lambda: False,
                          notify=lambda *_a: None)  # fmt: skip
    started = evaluation.perplexity(ctx, models=[tiny_model["id"], q4], file=str(text),
                                    max_tokens=256, seq_len=64)  # fmt: skip
    assert services.jobs.wait(started["job"]["id"], 120)["state"] == "succeeded"
    family = quantize.family(services, tiny_model["id"])
    assert family["run_id"] == started["run_id"]
    by_id = {r["model_id"]: r for r in family["rows"]}
    base, small = by_id[tiny_model["id"]]["perplexity"], by_id[q4]["perplexity"]
    assert base > 1 and small > 1 and by_id[f16]["perplexity"] is None  # not in that run
    assert family["base_id"] == tiny_model["id"]
    assert by_id[q4]["change"] == pytest.approx(small / base - 1)
    assert by_id[q4]["size_bytes"] < by_id[f16]["size_bytes"]
    # a newer run without the original: the change is against the f16
    again = evaluation.perplexity(ctx, models=[q4, f16], file=str(text), max_tokens=256, seq_len=64)
    assert services.jobs.wait(again["job"]["id"], 120)["state"] == "succeeded"
    family = quantize.family(services, f16)
    by_id = {r["model_id"]: r for r in family["rows"]}
    assert family["run_id"] == again["run_id"] and family["base_id"] == f16
    assert by_id[tiny_model["id"]]["perplexity"] is None and by_id[f16]["change"] == 0.0


def test_a_torch_copy_exports_with_the_gguf_it_was_converted_from(services, tiny_model, tmp_path):
    from engine.pruning.export import base_gguf
    from tests.engine.models.conftest import write_gguf

    assert base_gguf(services, tiny_model) is None  # no lineage, no GGUF behind it
    gguf = services.library.import_model(write_gguf(tmp_path / "orig.gguf"), mode="reference")
    services.library.set_torch_path(gguf["id"], tiny_model["path"])  # as Models > Convert does
    assert base_gguf(services, tiny_model) == Path(gguf["path"])
