"""After training: the merged model equals base + adapter, and the GGUF exports load in llama.cpp
and change its output the way the adapter changes the torch model's."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core.errors import UserError
from engine.jobs.registry import SimpleContext
from engine.models.gguf_meta import read_header
from engine.training import export_gguf, merge
from engine.training.runs import RunStore
from tests.engine.training.conftest import new_run, train


def _prompts(tok) -> list[list[int]]:
    chat = [tok(f"<|im_start|>user\nSay the word number {i}<|im_end|>\n<|im_start|>assistant\n").input_ids
            for i in (1, 4, 7)]  # fmt: skip
    return [*chat, [1, 5, 9, 30, 70, 100], [1, 200, 44, 33, 12]]


def _llama_logits(path, ids, lora=None) -> np.ndarray:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), lora_path=str(lora) if lora else None, n_ctx=64,
                logits_all=True, verbose=False, n_threads=2)  # fmt: skip
    out = []
    for seq in ids:
        llm.reset()
        llm.eval(seq)
        out.append(np.array(llm.scores[len(seq) - 1]))
    llm.close()
    return np.stack(out)


def test_merge_export_and_llama_cpp_round_trip(services, tiny_id, memo):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_id = new_run(services, tiny_id, memo, max_steps=25, learning_rate=2e-2)
    train(services, run_id)
    ctx = SimpleContext(services=services)
    store = RunStore(services)
    run = store.get(run_id)
    tiny = services.library.get(tiny_id)
    tok = AutoTokenizer.from_pretrained(tiny["path"])
    prompts = _prompts(tok)

    # merged weights give the same logits as base + adapter
    merged_info = merge.merge_run(services, run_id, ctx=ctx)
    merged = AutoModelForCausalLM.from_pretrained(merged_info["path"]).eval()
    base = AutoModelForCausalLM.from_pretrained(tiny["path"]).eval()
    with torch.no_grad():
        torch_base = np.stack([base(torch.tensor([p])).logits[0, -1].numpy() for p in prompts])
        peft = PeftModel.from_pretrained(base, run["artifacts"]["adapter"]).eval()
        torch_tuned = np.stack([peft(torch.tensor([p])).logits[0, -1].numpy() for p in prompts])
        torch_merged = np.stack([merged(torch.tensor([p])).logits[0, -1].numpy() for p in prompts])
    assert np.abs(torch_merged - torch_tuned).max() < 1e-4
    model = services.library.get(merged_info["model_id"])
    assert model["format"] == "hf" and "<|im_start|>" in model["chat_template"]

    # the adapter as GGUF, with the base exported to GGUF by the same exporter
    adapter = export_gguf.export_run(services, run_id, what="adapter", quant="f16", ctx=ctx)
    llama_base = _llama_logits(adapter["base_path"], prompts)
    llama_tuned = _llama_logits(adapter["base_path"], prompts, lora=adapter["path"])
    assert np.abs(llama_base - torch_base).max() < 2e-2  # f16 base weights
    assert (llama_tuned.argmax(1) == torch_merged.argmax(1)).all()
    assert np.abs(llama_tuned - torch_merged).max() < 2e-2
    assert (llama_tuned.argmax(1) != llama_base.argmax(1)).any()  # the adapter changed the output

    # the merged model as GGUF q8_0, registered in the library with template and end of turn
    q8 = export_gguf.export_run(services, run_id, what="merged", quant="q8_0", ctx=ctx)
    fields = read_header(q8["path"]).fields
    assert fields["general.file_type"] == 7  # MOSTLY_Q8_0
    assert fields["tokenizer.chat_template"] == run["template"]["source"]
    assert fields["tokenizer.ggml.eot_token_id"] == tok.convert_tokens_to_ids("<|im_end|>")
    llama_q8 = _llama_logits(q8["path"], prompts)
    assert (llama_q8.argmax(1) == torch_merged.argmax(1)).mean() >= 0.8
    registered = services.library.get(q8["model_id"])
    assert registered["format"] == "gguf" and registered["capabilities"]["chat_llama_cpp"]
    shown = store.get(run_id)
    assert shown["chat"]["model"]["model_id"] == q8["model_id"]
    assert shown["chat"]["adapter"]["lora_path"] == adapter["path"]
    assert {"adapter", "merged", "gguf_adapter", "gguf_q8_0"} <= set(shown["artifacts"])


def test_dora_adapters_are_exported_merged_only(services, tiny_id, memo):
    from engine.training.methods import export

    run_id = new_run(services, tiny_id, memo, method="dora", max_steps=2)
    train(services, run_id)

    class Ctx:
        pass

    rpc = Ctx()
    rpc.services = services
    with pytest.raises(UserError, match="DoRA"):
        export(rpc, run=run_id, what="adapter")
    with pytest.raises(UserError, match="DoRA"):
        export_gguf.export_adapter(
            RunStore(services).folder(run_id) / "adapter", services.root / "x.gguf", config={}
        )


@pytest.mark.slow
def test_gemma_adapter_gguf_loads_with_the_bundled_gguf(
    hearth_home, tmp_path, tmp_path_factory, monkeypatch
):
    """The bundled Gemma 3 (GGUF): train a few steps, export the adapter and a q8_0 merge."""
    from engine.services import Services
    from tests.engine.runtimes.fixtures import bundled_home
    from tests.engine.training.conftest import EXTRA_KINDS, import_dataset

    monkeypatch.setenv("HEARTH_EXTRA_JOB_MODULES", EXTRA_KINDS)
    bundled_home(hearth_home)
    services = Services(hearth_home)
    try:
        gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
        rows = [{"instruction": f"What is the secret code {i}?", "input": "",
                 "output": f"The secret code {i} is zebra{i}."} for i in range(8)]  # fmt: skip
        name = import_dataset(services, tmp_path, rows, "codes")
        run_id = new_run(services, gemma["id"], name, max_steps=6, learning_rate=2e-3, batch_size=2,
                         validation_fraction=0.0)  # fmt: skip
        result = train(services, run_id)
        assert result["final_loss"] < result["first_loss"]
        ctx = SimpleContext(services=services)
        adapter = export_gguf.export_run(services, run_id, what="adapter", quant="f32", ctx=ctx)
        assert adapter["base_path"] == gemma["path"]  # the bundled GGUF itself is the base
        lm, tok = merge.merged_model(services, RunStore(services).get(run_id))
        import torch

        prompts = [tok(p).input_ids for p in ("User: What is the secret code 3?\nAssistant:",
                                              "User: What is the secret code 5?\nAssistant: The secret code 5 is")]  # fmt: skip
        with torch.no_grad():
            torch_tuned = np.stack([lm(torch.tensor([p])).logits[0, -1].numpy() for p in prompts])
        base = _llama_logits(gemma["path"], prompts)
        tuned = _llama_logits(gemma["path"], prompts, lora=adapter["path"])
        assert (tuned.argmax(1) == torch_tuned.argmax(1)).all()
        assert (tuned.argmax(1) != base.argmax(1)).any()
        # the adapter is a library model on the bundled Gemma: Chat answers with what it learned
        from engine.chat.generate import generate

        assert services.library.get(adapter["model_id"])["base_model_id"] == gemma["id"]
        reply = generate(services, model_id=adapter["model_id"], params={"temperature": 0.0, "max_tokens": 24},
                         messages=[{"role": "user", "content": "What is the secret code 6?"}])  # fmt: skip
        assert "zebra6" in reply["text"] and reply["template"] == "plain"
        q8 = export_gguf.export_run(services, run_id, what="merged", quant="q8_0", ctx=ctx)
        from llama_cpp import Llama

        llm = Llama(model_path=q8["path"], n_ctx=128, verbose=False)
        out = llm.create_completion(
            "User: What is the secret code 6?\nAssistant:", max_tokens=24, temperature=0
        )
        llm.close()
        assert (
            "zebra6" in out["choices"][0]["text"] and out["choices"][0]["finish_reason"] == "stop"
        )
    finally:
        services.close()
