"""Dense embeddings from a GGUF embedding model through llama.cpp.

The same interface as ``Embedder`` (``counter``, ``dimension``, ``max_seq_length``,
``embed_documents``, ``embed_query``), for GGUF files whose header declares a pooling type (BERT,
nomic-bert, jina, ...): the library imports those with role ``embedding``.

What the splitter needs stays light: the dimension and the longest input come from the header,
and tokens are counted by a vocabulary-only llama.cpp model (no weights). The weights load on the
first ``embed_*`` call, with the model's own pooling, and one batch holds at most one context of
tokens: a BERT-style model attends across every token of a batch (other sequences are masked, but
still computed), so a larger batch costs quadratically more for the same output.

Measured on the bundled all-MiniLM-L6-v2 written as GGUF (2 CPU cores): vectors match
sentence-transformers to cosine 0.99999 (f32) / 0.9993 (q8_0), at a third to a half of its
throughput -- torch's CPU matrix kernels beat ggml's on this small encoder, so the torch path
stays the default and this one serves models that only exist as GGUF.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.documents.query_cache import QueryCache
from engine.runtimes.native import compute

if TYPE_CHECKING:
    import numpy as np

_DEFAULT_CONTEXT = 512


def _threads() -> int:
    from engine.core.devices import physical_cores

    return physical_cores()


def _open_llama(path: Path, **kwargs: Any) -> Any:
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - a broken install
        raise UserError(
            "llama-cpp-python is not installed; reinstall Hearth to embed with GGUF models."
        ) from exc
    try:
        return llama_cpp.Llama(model_path=str(path), verbose=False, **kwargs)
    except Exception as exc:
        raise UserError(
            f"llama.cpp cannot load the embedding model {path.name} ({exc}); check the file or "
            "choose another embedding model."
        ) from exc


class LlamaTokenCounter:
    """Counts tokens with the GGUF's own tokenizer (a vocabulary-only llama.cpp model)."""

    def __init__(self, path: Path) -> None:
        self._llm = _open_llama(path, vocab_only=True)
        self._lock = threading.Lock()

    def _tokens(self, text: str) -> int:
        with self._lock:
            return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count(self, texts: list[str]) -> list[int]:
        return [self._tokens(t) for t in texts]

    def cut(self, text: str, max_tokens: int) -> int:
        """The longest prefix within ``max_tokens``, backed up to a word boundary when it can be.

        The tokenizer may normalise (lowercase, strip accents), so token pieces cannot be mapped
        back to characters; a binary search over prefix lengths finds the cut instead.
        """
        if self._tokens(text) <= max_tokens:
            return len(text)
        lo, hi = 0, len(text)  # tokens(text[:lo]) <= max_tokens < tokens(text[:hi])
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._tokens(text[:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid
        space = max(text.rfind(" ", 0, lo + 1), text.rfind("\n", 0, lo + 1))
        return space if space > 0 else max(lo, 1)


class GgufEmbedder:
    """A GGUF embedding model at ``path``; llama.cpp loads the weights on the first ``embed_*``."""

    def __init__(self, path: Path, *, model_id: str = "", name: str = "") -> None:
        from engine.models.gguf_meta import read_header

        self.path = Path(path)
        self.model_id = model_id
        self.name = name or self.path.stem
        fields = read_header(self.path).fields
        arch = fields.get("general.architecture") or ""
        context = fields.get(f"{arch}.context_length")
        self.max_seq_length = context if isinstance(context, int) and context > 0 else 512
        dim = fields.get(f"{arch}.embedding_length")
        self._dimension = dim if isinstance(dim, int) and dim > 0 else None
        self._model: Any = None
        self._counter: LlamaTokenCounter | None = None
        self._lock = threading.Lock()  # one decode at a time: a llama.cpp context is not shared
        self._queries = QueryCache()

    # ---- light -----------------------------------------------------------------------------
    def counter(self) -> LlamaTokenCounter:
        if self._counter is None:
            self._counter = LlamaTokenCounter(self.path)
        return self._counter

    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self.model().n_embd())
        return self._dimension

    # ---- heavy -----------------------------------------------------------------------------
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                n_ctx = min(self.max_seq_length, 8192) or _DEFAULT_CONTEXT
                self._model = _open_llama(
                    self.path,
                    embedding=True,
                    n_ctx=n_ctx,
                    n_batch=n_ctx,
                    n_ubatch=n_ctx,
                    n_threads=_threads(),
                    n_threads_batch=_threads(),
                )
            return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def embed_documents(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        """Normalised embeddings, (len(texts), dim) float32; inputs longer than the context are
        truncated (the splitter keeps chunks inside it)."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension()), dtype=np.float32)
        llm = self.model()
        parts = []
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            with self._lock:  # on the engine's one llama.cpp compute thread (runtimes/native.py)
                vectors = compute().call(llm.embed, batch, normalize=True, truncate=True)
            parts.append(np.asarray(vectors, dtype=np.float32).reshape(len(batch), -1))
        return np.concatenate(parts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._queries.get(text, lambda q: self.embed_documents([q], batch_size=1)[0])
