"""Writes a BERT sentence encoder (a Hugging Face folder) as a GGUF embedding model, so the
llama.cpp embedding path can be tested on the bundled all-MiniLM-L6-v2 without downloads.

Follows llama.cpp's layout for the ``bert`` architecture: WordPiece vocabulary in "phantom space"
form (a word-initial piece gets a leading U+2581, a ``##`` continuation loses its marks), mean
pooling, non-causal attention, and the tensor names of gguf's ``TensorNameMap``.
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import load_file


def _phantom(token: str) -> str:
    if token.startswith("[") and token.endswith("]"):
        return token
    if token.startswith("##"):
        return token[2:]
    return "\u2581" + token


def write_bert_gguf(
    folder: Path, out: Path, *, q8: bool = False, name: str = "MiniLM GGUF"
) -> Path:
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    arch = gguf.MODEL_ARCH.BERT
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[arch])
    blocks = cfg["num_hidden_layers"]
    writer.add_name(name)
    writer.add_context_length(cfg["max_position_embeddings"])
    writer.add_embedding_length(cfg["hidden_size"])
    writer.add_feed_forward_length(cfg["intermediate_size"])
    writer.add_block_count(blocks)
    writer.add_head_count(cfg["num_attention_heads"])
    writer.add_layer_norm_eps(cfg["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if q8 else gguf.LlamaFileType.ALL_F32)

    vocab: dict[str, int] = tok["model"]["vocab"]
    tokens = [""] * len(vocab)
    for piece, index in vocab.items():
        tokens[index] = piece
    special = {t["content"] for t in tok.get("added_tokens", [])}
    writer.add_token_type_count(cfg.get("type_vocab_size", 2))
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([_phantom(t) for t in tokens])
    writer.add_token_types(
        [gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens]
    )
    writer.add_bos_token_id(vocab["[CLS]"])
    writer.add_eos_token_id(vocab["[SEP]"])
    writer.add_sep_token_id(vocab["[SEP]"])
    writer.add_unk_token_id(vocab["[UNK]"])
    writer.add_pad_token_id(vocab["[PAD]"])
    writer.add_mask_token_id(vocab["[MASK]"])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)

    names = gguf.TensorNameMap(arch, blocks)
    for hf_name, data in load_file(str(folder / "model.safetensors")).items():
        if hf_name.startswith("pooler") or hf_name.endswith("position_ids"):
            continue
        target = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise ValueError(f"no GGUF name for {hf_name}")
        data = data.astype(np.float32)
        # Embedding tables are added to activations (no quantized add on CPU): keep them f32.
        matrix = data.ndim == 2 and target.endswith(".weight") and "embd" not in target
        if q8 and matrix and "token_types" not in target and data.shape[-1] % 32 == 0:
            packed = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(
                target, packed, raw_shape=packed.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0
            )
        else:
            writer.add_tensor(target, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
