"""Embeddings for ``/v1/embeddings``: sentence-transformers models from the library (the bundled
all-MiniLM-L6-v2 by default), loaded on first use on the CPU and kept for the process.

Vectors are L2-normalised float32, like OpenAI's. ``base64`` encoding is the little-endian float32
bytes, which is what the official client asks for by default and decodes.
"""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path
from typing import Any

from engine.core.errors import UserError

_models: dict[str, Any] = {}
_lock = threading.Lock()
_encode_lock = threading.Lock()  # one batch at a time: the CPU is shared with generation


def _load(path: Path) -> Any:
    with _lock:
        model = _models.get(str(path))
        if model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # its bars would flood the engine log
            except ImportError:  # pragma: no cover - a broken install
                raise UserError(
                    "sentence-transformers is not installed; reinstall Hearth to serve embeddings."
                ) from None
            try:
                model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            except Exception as exc:
                raise UserError(
                    f"Cannot load the embedding model at {path} ({type(exc).__name__}: {exc}); "
                    "check the folder or import another embedding model."
                ) from None
            _models[str(path)] = model
        return model


def embed(model: dict[str, Any], texts: list[str]) -> tuple[list[Any], int, int]:
    """``(vectors, prompt_tokens, dimension)`` for ``texts`` with the library ``model``."""
    st = _load(Path(model["path"]))
    with _encode_lock:
        vectors = st.encode(
            texts,
            batch_size=32,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        limit = int(getattr(st, "max_seq_length", 512) or 512)
        tokens = sum(min(len(ids), limit) for ids in st.tokenizer(texts)["input_ids"])
    vectors = vectors.astype("<f4", copy=False)
    return list(vectors), int(tokens), int(vectors.shape[1])


def encode_vector(vector: Any, *, as_base64: bool) -> Any:
    if as_base64:
        return base64.b64encode(vector.astype("<f4", copy=False).tobytes()).decode("ascii")
    return [float(x) for x in vector]
