"""Shared test set-up for the runtime and chat tests.

- ``bundled_home(home)``: a data root with the bundled models registered in milliseconds: the
  Gemma GGUF is assembled once per test session (in a folder of its own, removed at exit: tests'
  own folders go when they pass) and hard-linked (same inode, so its verification stamp still
  matches) into each test's data root.
- ``build_tiny_hf(folder)``: a 2-layer, hidden-64 random Llama with a byte-level BPE tokenizer and
  a ChatML chat template, built on the spot with ``tokenizers`` -- nothing is downloaded.
- ``write_lora_gguf(path, base)``: a llama.cpp LoRA adapter GGUF with small random A/B matrices
  for some weights of any base GGUF (shapes read from the base's header), in milliseconds.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()
_bundled_dir: list[Path] = []


def _assembled() -> Path:
    """``models/bundled`` of a data root where ensure_bundled() ran once (built once per session)."""
    with _lock:
        if not _bundled_dir:
            from engine.services import Services

            home = Path(tempfile.mkdtemp(prefix="hearth-tests-bundled-"))
            atexit.register(shutil.rmtree, home, True)
            services = Services(home)
            services.library.ensure_bundled()
            services.close()
            _bundled_dir.append(home / "models" / "bundled")
        return _bundled_dir[0]


def bundled_home(home: Path) -> Path:
    """Put the bundled Gemma into ``home`` (hard links) so ensure_bundled() finds it ready."""
    source = _assembled()
    target = home / "models" / "bundled"
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        dest = target / item.name
        if dest.exists():
            continue
        try:
            os.link(item, dest)
        except OSError:
            shutil.copy2(item, dest)
    return home


CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "hello world, how are you today? I am fine, thank you.",
    "User: hi Assistant: hello there. System: be brief.",
    '{"name": "Ada", "age": 36} [1, 2, 3] true false null',
    "Once upon a time there was a small model that could count: 1 2 3 4 5 6 7 8 9 10.",
]


def build_tiny_hf(folder: Path) -> Path:
    """A tiny random Llama with its tokenizer, saved as safetensors in ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(_CORPUS * 4, trainer=trainer)
    bos = tk.token_to_id("<s>")
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tok.chat_template = CHATML
    config = LlamaConfig(
        vocab_size=tk.get_vocab_size(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=bos,
        eos_token_id=tk.token_to_id("</s>"),
        pad_token_id=tk.token_to_id("<pad>"),
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


_tiny: list[Path] = []


def tiny_hf(tmp_root: Path) -> Path:
    """``build_tiny_hf`` once per test session."""
    with _lock:
        if not _tiny:
            _tiny.append(build_tiny_hf(tmp_root / "tiny-hf" / "tiny-llama"))
        return _tiny[0]


def write_lora_gguf(
    path: Path,
    base: Path,
    *,
    targets: tuple[str, ...] = ("attn_v", "attn_output", "ffn_up"),
    rank: int = 4,
    alpha: float = 8.0,
    b_std: float = 0.05,
    arch: str | None = None,
    seed: int = 0,
) -> Path:
    """A LoRA GGUF as ``export_adapter`` writes it: ``<weight>.lora_a`` (r x in) and ``.lora_b``
    (out x r) for each ``blk.N.<target>.weight`` of ``base``, with ``adapter.lora.alpha``."""
    import gguf
    import numpy as np

    from engine.models.gguf_meta import read_header

    header = read_header(base)
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), arch or header.fields["general.architecture"])
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for name, shape in header.shapes.items():
        if not (name.startswith("blk.") and name.split(".")[2] in targets):
            continue
        n_in, n_out = shape  # ggml ne: (in, out)
        a = (rng.standard_normal((rank, n_in)) / np.sqrt(n_in)).astype(np.float32)
        b = (rng.standard_normal((n_out, rank)) * b_std).astype(np.float32)
        writer.add_tensor(f"{name[: -len('.weight')]}.weight.lora_a", a)
        writer.add_tensor(f"{name[: -len('.weight')]}.weight.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
