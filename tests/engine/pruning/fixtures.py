"""Tiny random models for the pruning tests: Gemma 3 (GLU MLP, sliding/global layer pattern,
q/k norms, tied embeddings), Llama (GLU) and GPT-2 (Conv1D MLP), all with the byte-level BPE
tokenizer of ``tests.engine.runtimes.fixtures``."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.engine.runtimes.fixtures import build_tiny_hf

_lock = threading.Lock()
_made: dict[str, Path] = {}


def build(root: Path, kind: str, *, layers: int = 8) -> Path:
    """A saved tiny model of ``kind`` (gemma3, llama, gpt2) in ``root / kind``."""
    import torch
    from transformers import AutoTokenizer

    key = f"{root}:{kind}:{layers}"
    with _lock:
        if key in _made:
            return _made[key]
        base = build_tiny_hf(root / "tok-source")
        tok = AutoTokenizer.from_pretrained(base)
        torch.manual_seed(0)
        vocab = len(tok)
        if kind == "gemma3":
            from transformers import Gemma3ForCausalLM, Gemma3TextConfig

            config = Gemma3TextConfig(
                vocab_size=vocab, hidden_size=64, intermediate_size=256, num_hidden_layers=layers,
                num_attention_heads=4, num_key_value_heads=1, head_dim=16,
                max_position_embeddings=512, sliding_window=16,
                query_pre_attn_scalar=16,  # = head_dim, as in the real Gemma 3 (llama.cpp assumes it)
                layer_types=["full_attention" if i % 6 == 5 else "sliding_attention" for i in range(layers)],
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id, tie_word_embeddings=True,
            )  # fmt: skip
            model = Gemma3ForCausalLM(config)
        elif kind == "llama":
            from transformers import LlamaConfig, LlamaForCausalLM

            config = LlamaConfig(
                vocab_size=vocab, hidden_size=64, intermediate_size=256, num_hidden_layers=layers,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
            )  # fmt: skip
            model = LlamaForCausalLM(config)
        else:
            from transformers import GPT2Config, GPT2LMHeadModel

            config = GPT2Config(vocab_size=vocab, n_embd=64, n_layer=layers, n_head=4, n_inner=256,
                                n_positions=512, bos_token_id=tok.bos_token_id,
                                eos_token_id=tok.eos_token_id)  # fmt: skip
            model = GPT2LMHeadModel(config)
        # random weights make every block alike; scale them so blocks differ and scores rank
        with torch.no_grad():
            for i, p in enumerate(model.parameters()):
                if p.ndim == 2:
                    p.mul_(1.0 + 0.5 * ((i * 7919) % 13) / 13)
        folder = root / kind
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        _made[key] = folder
        return folder


TEXT = (
    "the quick brown fox jumps over the lazy dog. hello world, how are you today? I am fine. "
    "Once upon a time there was a small model that could count: 1 2 3 4 5 6 7 8 9 10. "
) * 60
