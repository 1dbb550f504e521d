"""Loading library models as torch: the GGUF -> safetensors cache, and plain HF folders."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from engine.core.errors import UserError
from engine.jobs.registry import SimpleContext
from engine.models import jobs as model_jobs
from engine.models.gguf_to_torch import MARKER, cache_is_valid, load_torch_model, torch_folder_for

from .conftest import write_gguf

PROMPT = "The capital of France is"


def test_cache_marker_tracks_the_gguf(services, tmp_path):
    gguf_path = write_gguf(tmp_path / "t.gguf")
    model = services.library.import_model(gguf_path, mode="reference")
    folder = torch_folder_for(model, root=services.root)
    assert folder == services.root / "cache" / "torch" / model["id"]
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert not cache_is_valid(folder, gguf_path)  # no marker: an unfinished conversion
    st = gguf_path.stat()
    marker = {"gguf_size": st.st_size, "gguf_mtime_ns": st.st_mtime_ns}
    (folder / MARKER).write_text(json.dumps(marker))
    assert cache_is_valid(folder, gguf_path)
    os.utime(gguf_path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the GGUF changed
    assert not cache_is_valid(folder, gguf_path)


def test_embedding_models_do_not_load_as_causal_lms(services):
    minilm = next(m for m in services.library.ensure_bundled() if m["role"] == "embedding")
    with pytest.raises(UserError, match="embedding model"):
        load_torch_model(minilm, services=services)


def _tiny_hf_causal_lm(folder: Path) -> None:
    """A random 2-layer Llama with hidden size 64 and a word-level tokenizer, saved as a folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", *PROMPT.lower().split()])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)


def test_hf_folder_loads_directly(services, tmp_path):
    import torch

    _tiny_hf_causal_lm(tmp_path / "tiny")
    model = services.library.import_model(tmp_path / "tiny", mode="reference")
    assert model["format"] == "hf" and model["params"] > 0
    lm, tok = load_torch_model(model["id"], services=services, dtype="bfloat16")
    assert lm.dtype == torch.bfloat16
    with torch.no_grad():
        logits = lm(**tok(PROMPT.lower(), return_tensors="pt")).logits
    assert logits.shape[-1] == len(tok)
    assert not (services.root / "cache" / "torch" / model["id"]).exists()  # nothing converted


@pytest.mark.slow
def test_bundled_gemma_converts_once_then_loads_from_cache(services, tmp_path, capsys):
    import numpy as np
    import torch
    from llama_cpp import Llama
    from transformers import Trainer, TrainingArguments

    gemma = next(m for m in services.library.ensure_bundled() if m["format"] == "gguf")
    folder = services.root / "cache" / "torch" / gemma["id"]

    start = time.perf_counter()
    fresh, tok = load_torch_model(gemma["id"], services=services, ctx=SimpleContext())
    convert_s = time.perf_counter() - start
    assert (folder / MARKER).is_file()
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    assert services.library.get(gemma["id"])["torch_path"] == str(folder)

    start = time.perf_counter()
    cached, cached_tok = load_torch_model(gemma["id"], services=services)
    cached_s = time.perf_counter() - start
    with capsys.disabled():
        print(f"\nGemma 3 270M: convert {convert_s:.1f} s, cached load {cached_s:.1f} s")
    assert cached_s * 4 < convert_s

    inputs = tok(PROMPT, return_tensors="pt")
    assert torch.equal(inputs["input_ids"], cached_tok(PROMPT, return_tensors="pt")["input_ids"])
    with torch.no_grad():
        fresh_logits = fresh(**inputs).logits
        cached_logits = cached(**inputs).logits
    torch.testing.assert_close(cached_logits, fresh_logits, rtol=0, atol=1e-5)

    for lm in (fresh, cached):  # a plain dense model: the Trainer must accept it
        assert getattr(lm, "hf_quantizer", None) is None
        assert not getattr(lm, "is_quantized", False)
        assert getattr(lm.config, "quantization_config", None) is None
    args = TrainingArguments(output_dir=str(tmp_path / "trainer"), report_to=[], use_cpu=True)
    Trainer(model=cached, args=args)

    # The dequantized model predicts what llama.cpp predicts from the GGUF itself.
    llm = Llama(gemma["path"], n_ctx=64, logits_all=True, verbose=False)
    ids = inputs["input_ids"][0].tolist()
    llm.eval(ids)
    llama_logits = np.asarray(llm.scores[len(ids) - 1])
    assert int(np.argmax(llama_logits)) == int(cached_logits[0, -1].argmax())

    again = model_jobs.convert_model(SimpleContext(params={"id": gemma["id"]}, services=services))
    assert again["cached"] is True and again["torch_path"] == str(folder)
