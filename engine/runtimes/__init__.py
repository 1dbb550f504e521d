"""Inference runtimes: llama.cpp for GGUF files, transformers for Hugging Face models.

- ``base``: the ``Runtime`` interface, ``SamplingParams``, ``Completion``, stop-string handling
- ``llama_cpp_runtime``: ``LlamaCppRuntime`` (CPU threads, GPU offload when the build has it)
- ``transformers_runtime``: ``TransformersRuntime`` (CUDA, MPS or CPU; GGUF-as-torch too)
- ``manager``: ``RuntimeManager`` keeps models warm (LRU) and evicts under memory pressure;
  ``services.runtimes`` is the one per process
- ``settings``: per-model settings (runtime, device, context length, GPU layers, template)

Heavy libraries are imported inside the runtime modules, only when a model is loaded.
"""

from engine.runtimes.base import Completion, Runtime, SamplingParams
from engine.runtimes.manager import RuntimeManager

__all__ = [
    "Completion",
    "Runtime",
    "RuntimeManager",
    "SamplingParams",
]
