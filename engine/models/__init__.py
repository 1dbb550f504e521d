"""The model library: GGUF files and Hugging Face folders a user can chat with, train and prune.

``gguf_meta`` and ``hf_meta`` read metadata without loading weights; ``library`` keeps the list
in SQLite and copies files into the data root; ``gguf_to_torch`` turns a GGUF into a cached
safetensors folder that transformers loads fast; ``jobs`` and ``methods`` expose all of it as
job kinds and JSON-RPC methods. Only ``gguf_to_torch`` imports torch/transformers, and only inside
its functions, so importing this package keeps engine start-up fast.
"""

from __future__ import annotations
