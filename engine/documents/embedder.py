"""Dense embeddings: sentence-transformers models from the library, loaded on first use.

(GGUF embedding models go through llama.cpp instead: ``engine.documents.gguf_embedder``;
``open_embedder`` picks the class for a model.)

The bundled all-MiniLM-L6-v2 is the default. Any Hugging Face folder holding a
sentence-transformers model (``modules.json``) or a plain encoder (mean pooling) works; what the
splitter needs -- the tokenizer and the longest input -- is read from the folder without loading
torch, so splitting and the collection's settings never wait for the model.

Vectors are L2-normalised float32 (cosine similarity = dot product). ``embed_query`` keeps a small
LRU of recent queries, since the GUI often repeats one while the user tweaks filters.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.documents.query_cache import QueryCache

if TYPE_CHECKING:
    import numpy as np

    from engine.documents.splitter import TokenCounter
    from engine.services import Services

log = logging.getLogger(__name__)
MINILM_KEY = "all-minilm-l6-v2"


def bundled_embedder_id() -> str:
    from engine.models import bundled

    return bundled.bundled_id(_minilm_spec())


def _minilm_spec() -> Any:
    from engine.models import bundled

    return next(s for s in bundled.SPECS if s.key == MINILM_KEY)


def resolve_model(services: Services, model_id: str | None) -> dict[str, Any]:
    """``{id, name, path}`` of an embedding model (default: the bundled MiniLM)."""
    model_id = model_id or bundled_embedder_id()
    if model_id == bundled_embedder_id():
        spec = _minilm_spec()
        try:
            model = services.library.get(model_id)
            if not model.get("missing"):
                return {"id": model_id, "name": model["name"], "path": Path(model["path"]),
                        "format": "hf"}  # fmt: skip
        except UserError:
            pass
        path = Path(spec.provide(services.library))
        return {"id": model_id, "name": spec.name, "path": path, "format": "hf"}
    model = services.library.get(model_id)
    if model.get("missing"):
        raise UserError(
            f"The embedding model {model['name']} is missing from {model['path']}; "
            "put it back or re-import it."
        )
    if model.get("role") != "embedding":
        raise UserError(
            f"{model['name']} is a chat model, not an embedding model; choose the bundled "
            "all-MiniLM-L6-v2, a sentence-transformers folder or a GGUF embedding model."
        )
    if model["format"] == "gguf":
        if not (model.get("capabilities") or {}).get("embed"):
            raise UserError(
                f"{model['name']} is a GGUF embedding model, which needs llama-cpp-python; "
                "reinstall Hearth or choose a sentence-transformers folder."
            )
        return {
            "id": model_id,
            "name": model["name"],
            "path": Path(model["path"]),
            "format": "gguf",
        }
    if not (Path(model["path"]) / "tokenizer.json").is_file():
        raise UserError(
            f"{model['name']} has no tokenizer.json (a fast tokenizer), which Hearth needs to "
            "bound chunks in tokens; choose another embedding model."
        )
    return {"id": model_id, "name": model["name"], "path": Path(model["path"]), "format": "hf"}


def open_embedder(model: dict[str, Any]) -> Any:
    """An ``Embedder`` (sentence-transformers) or ``GgufEmbedder`` (llama.cpp) for a resolved
    model (``resolve_model``'s result); nothing heavy loads yet."""
    if model.get("format") == "gguf":
        from engine.documents.gguf_embedder import GgufEmbedder

        return GgufEmbedder(model["path"], model_id=model["id"], name=model["name"])
    return Embedder(model["path"], model_id=model["id"], name=model["name"])


class Embedder:
    """A sentence-transformers model at ``path``; torch loads on the first ``embed_*`` call."""

    def __init__(self, path: Path, *, model_id: str = "", name: str = "") -> None:
        self.path = Path(path)
        self.model_id = model_id
        self.name = name or self.path.name
        self._model: Any = None
        self._lock = threading.Lock()
        self._counter: TokenCounter | None = None
        self._queries = QueryCache()
        self.max_seq_length = _read_max_seq_length(self.path)

    # ---- light (no torch) -----------------------------------------------------------------
    def counter(self) -> TokenCounter:
        if self._counter is None:
            from engine.documents.splitter import HFTokenCounter

            self._counter = HFTokenCounter(self.path / "tokenizer.json")
        return self._counter

    def dimension(self) -> int:
        dim = _read_dimension(self.path)
        return dim if dim is not None else int(self.model().get_sentence_embedding_dimension())

    # ---- heavy ------------------------------------------------------------------------------
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = _load(self.path)
            return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def embed_documents(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        """Normalised embeddings, (len(texts), dim) float32.

        Texts are sorted by length (as ``encode`` does, so batches pad little) and encoded one
        batch at a time under a lock: the tokenizer cannot be used by two threads at once, and a
        search arriving during an ingest then waits for one batch, not for the whole window.
        """
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension()), dtype=np.float32)
        model = self.model()
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), 0), dtype=np.float32)
        parts = []
        for start in range(0, len(order), batch_size):
            batch = [texts[i] for i in order[start : start + batch_size]]
            with _encode_lock(model):
                vectors = model.encode(
                    batch,
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            parts.append(np.asarray(vectors, dtype=np.float32))
        stacked = np.concatenate(parts) if parts else out
        result = np.empty_like(stacked)
        result[np.asarray(order)] = stacked
        return result

    def embed_query(self, text: str) -> np.ndarray:
        return self._queries.get(text, lambda q: self.embed_documents([q], batch_size=1)[0])


_MODELS: dict[str, Any] = {}  # path -> loaded model, shared by every Services in the process
_MODELS_LOCK = threading.Lock()
_ENCODE_LOCKS: dict[int, threading.Lock] = {}


def _encode_lock(model: Any) -> threading.Lock:
    with _MODELS_LOCK:
        return _ENCODE_LOCKS.setdefault(id(model), threading.Lock())


def _load(path: Path) -> Any:
    with _MODELS_LOCK:
        model = _MODELS.get(str(path))
        if model is None:
            model = _MODELS[str(path)] = _load_model(path)
        return model


def _load_model(path: Path) -> Any:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would flood the engine log
    except ImportError as exc:  # pragma: no cover - a broken install
        raise UserError(
            f"sentence-transformers cannot be loaded ({exc}); reinstall Hearth to embed documents."
        ) from exc
    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except Exception as exc:
        raise UserError(
            f"Cannot load the embedding model at {path} ({type(exc).__name__}: {exc}); "
            "check the folder or choose another embedding model."
        ) from exc


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_max_seq_length(path: Path) -> int:
    cfg = _read_json(path / "sentence_bert_config.json") or {}
    if isinstance(cfg.get("max_seq_length"), int):
        return cfg["max_seq_length"]
    model_cfg = _read_json(path / "config.json") or {}
    return int(min(model_cfg.get("max_position_embeddings", 512), 512))


def _read_dimension(path: Path) -> int | None:
    """The output size, when no Dense layer changes it (else None: ask the loaded model)."""
    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        modules = None
    if modules and any("Dense" in str(m.get("type", "")) for m in modules):
        return None
    for sub in ("1_Pooling",):
        cfg = _read_json(path / sub / "config.json")
        if cfg and isinstance(cfg.get("word_embedding_dimension"), int):
            return cfg["word_embedding_dimension"]
    cfg = _read_json(path / "config.json") or {}
    return cfg.get("hidden_size") if isinstance(cfg.get("hidden_size"), int) else None
