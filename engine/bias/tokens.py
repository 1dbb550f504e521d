"""The tokens of a model's tokenizer, without loading the model: what alignment and capture need.

Three sources, the first that applies:

- a torch folder's ``tokenizer.json`` (an imported Hugging Face model, or a GGUF's cached
  conversion), read by the ``tokenizers`` library directly: about 1.5 s for Gemma's 262k
  vocabulary, where transformers' ``AutoTokenizer`` spends over 3 s re-reading the same JSON in
  Python;
- a GGUF's own vocabulary through llama.cpp (``vocab_only``: no weights are read), so a model
  that was never converted can be checked before a capture converts it. For the bundled Gemma the
  two give the same ids for every prompt of the built-in set;
- transformers' tokenizer, for a folder without ``tokenizer.json`` (a slow-only tokenizer).

Token texts are the tokenizer's own pieces (Gemma's ``▁`` marks a leading space).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services


class PairTokens:
    """``encode(text) -> (ids, tokens)`` with the special tokens a model's prompts start with."""

    def __init__(self, encode: Any, *, pad_id: int | None, bos_id: int | None, source: str) -> None:
        self._encode = encode
        self.pad_id = pad_id
        self.bos_id = bos_id
        self.source = source

    def encode(self, text: str) -> tuple[list[int], list[str]]:
        return self._encode(text)

    @classmethod
    def of(cls, tok: Any) -> PairTokens:
        """Wrap a transformers tokenizer (or return a ``PairTokens`` as it is)."""
        if isinstance(tok, PairTokens):
            return tok

        def encode(text: str) -> tuple[list[int], list[str]]:
            ids = list(tok(text, add_special_tokens=True)["input_ids"])
            return ids, list(tok.convert_ids_to_tokens(ids))

        return cls(encode, pad_id=tok.pad_token_id, bos_id=getattr(tok, "bos_token_id", None),
                   source="transformers")  # fmt: skip


def from_folder(folder: Path) -> PairTokens:
    """The tokenizer of a Hugging Face folder."""
    file = folder / "tokenizer.json"
    if not file.is_file():
        from transformers import AutoTokenizer

        return PairTokens.of(AutoTokenizer.from_pretrained(folder, local_files_only=True))
    import json

    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(file))
    config: dict[str, Any] = {}
    config_file = folder / "tokenizer_config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))

    def special(name: str) -> int | None:
        value = config.get(name)
        if isinstance(value, dict):  # an AddedToken written out
            value = value.get("content")
        return raw.token_to_id(value) if isinstance(value, str) else None

    def encode(text: str) -> tuple[list[int], list[str]]:
        out = raw.encode(text, add_special_tokens=True)
        return list(out.ids), list(out.tokens)

    pad = special("pad_token")
    return PairTokens(encode, pad_id=pad if pad is not None else special("eos_token"),
                      bos_id=special("bos_token"), source="the model's tokenizer.json")  # fmt: skip


def from_gguf(path: Path) -> PairTokens:
    """A GGUF's vocabulary through llama.cpp, without its weights."""
    from llama_cpp import Llama

    try:
        llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise UserError(f"llama.cpp could not read the vocabulary of {path.name}: {exc}") from exc
    vocab = llm._model
    add_bos = bool(vocab.add_bos_token())

    def encode(text: str) -> tuple[list[int], list[str]]:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False)
        return list(ids), [vocab.token_get_text(i) for i in ids]

    bos = vocab.token_bos()
    return PairTokens(encode, pad_id=None, bos_id=bos if bos >= 0 else None,
                      source="the GGUF's own vocabulary (llama.cpp)")  # fmt: skip


_CACHE: OrderedDict[tuple[str, float], PairTokens] = OrderedDict()
_LOCK = threading.Lock()


def for_model(services: Services, model: dict[str, Any]) -> PairTokens:
    """The tokenizer a capture of ``model`` uses, or the GGUF's own when it is not converted yet.
    Kept in memory (a few) while the file is unchanged."""
    from engine.models.gguf_to_torch import cache_is_valid, torch_folder_for

    if model["format"] == "hf":
        source = Path(model["path"])
    else:
        folder = torch_folder_for(model, root=services.root)
        source = folder if cache_is_valid(folder, Path(model["path"])) else Path(model["path"])
    stamp = source / "tokenizer.json" if source.is_dir() else source
    try:
        key = (str(source), stamp.stat().st_mtime if stamp.exists() else 0.0)
    except OSError as exc:
        raise UserError(f"The files of {model['name']} cannot be read ({exc}).") from exc
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    made = from_folder(source) if source.is_dir() else from_gguf(source)
    with _LOCK:
        _CACHE[key] = made
        while len(_CACHE) > 3:
            _CACHE.popitem(last=False)
    return made
