"""What each runtime can do with a model, from its format, role and architecture.

A LoRA adapter (role ``adapter``) can only be chatted with, in llama.cpp, on top of its base; a
prompt-tuned one (format ``peft``) only in transformers; a model on an OpenAI-compatible server
(format ``remote``) only over HTTP.

Computed on read (never stored) so installing llama-cpp-python or converting a model shows up
at once. ``TRANSFORMERS_GGUF_ARCHS`` is the static list of GGUF architectures transformers can
load as a torch model; it decides whether a GGUF can be converted for training and pruning.
"""

from __future__ import annotations

import functools
import importlib.util

CAPABILITY_NAMES = (
    "chat_llama_cpp", "chat_transformers", "chat_remote", "train", "prune", "embed", "convert",
)  # fmt: skip
# GGUF `general.architecture` values that transformers can load with `gguf_file=` as a causal LM.
# Taken from transformers 5.23: `GGUF_SUPPORTED_ARCHITECTURES` in
# transformers/modeling_gguf_pytorch_utils.py (the keys of GGUF_CONFIG_MAPPING in
# integrations/ggml.py) plus the llama.cpp spellings it renames in `load_gguf_checkpoint`
# (qwen2moe, qwen3moe, gpt-oss, minimax-m2); t5/umt5 are left out because they are not causal LMs.
TRANSFORMERS_GGUF_ARCHS = frozenset(
    {
        "llama", "mistral", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "gpt-oss", "lfm2", "falcon",
        "phi3", "bloom", "stablelm", "gpt2", "starcoder2", "mamba", "nemotron", "gemma2",
        "gemma3", "gemma4", "deci", "minimax-m2",
    }
)  # fmt: skip


@functools.cache
def llama_cpp_available() -> bool:
    """True if llama-cpp-python is installed (checked without importing it)."""
    return importlib.util.find_spec("llama_cpp") is not None


def capabilities(fmt: str, role: str, arch: str | None, torch_path: str | None) -> dict[str, bool]:
    """What each runtime can do with a model of this format, role and architecture."""
    caps = dict.fromkeys(CAPABILITY_NAMES, False)
    if role == "embedding":
        caps["embed"] = llama_cpp_available() if fmt == "gguf" else True
        return caps
    if role == "adapter":  # a LoRA GGUF: applied to its base GGUF in llama.cpp, nothing else;
        if fmt == "peft":  # prompt tuning: virtual tokens in front of the base, in transformers
            caps["chat_transformers"] = True
        else:
            caps["chat_llama_cpp"] = llama_cpp_available()
        return caps
    if fmt == "remote":  # served elsewhere: chatted with over HTTP, nothing else
        caps["chat_remote"] = True
        return caps
    if fmt == "gguf":
        caps["chat_llama_cpp"] = llama_cpp_available()
        caps["convert"] = arch in TRANSFORMERS_GGUF_ARCHS
        as_torch = caps["convert"] or torch_path is not None
    else:
        as_torch = True
    caps["chat_transformers"] = caps["train"] = caps["prune"] = as_torch
    return caps
