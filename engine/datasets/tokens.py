"""Token counts for dataset rows, and a row rendered with a model's chat template.

``estimate_tokens(text)`` is the fallback when no model is chosen (or none can load): words,
numbers and punctuation marks count one each, long words one per six characters, CJK characters
one each -- within about 20% of common BPE tokenizers on English text, and always marked as an
estimate. ``load_tokenizer(services, model_id)`` gives a model's real tokenizer without loading its
weights: llama.cpp with ``vocab_only`` for GGUF, ``transformers.AutoTokenizer`` for HF folders.
``render_row`` formats a row as the model would see it in training: the model's own chat template
(or the one chosen in its settings) through ``engine.chat.templates``, with its token count.
"""

from __future__ import annotations

import atexit
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.datasets import formats

if TYPE_CHECKING:
    from engine.services import Services

_TOKEN_RE = re.compile(r"[^\W\d_]+|\d+|[^\w\s]|_", re.UNICODE)
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
DEFAULT_CONTEXT = 32768  # "too long" limit when the library has no model to compare with


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    n = 0
    for piece in _TOKEN_RE.findall(text):
        size = len(piece)
        n += 1 if size <= 6 else (size + 5) // 6
    cjk = len(_CJK_RE.findall(text))
    return n + cjk  # a CJK run matched as one "word" above; each character is about a token


@dataclass
class Tokenizer:
    """Counts tokens with a model's tokenizer (``exact``) or the estimate."""

    name: str
    exact: bool
    context_length: int | None
    _encode: Any = None
    _lock: Any = None
    bos_token: str = ""
    eos_token: str = ""
    own_template: str | None = None

    def count(self, text: str) -> int:
        if self._encode is None:
            return estimate_tokens(text)
        with self._lock:
            return len(self._encode(text))

    def encode(self, text: str) -> list[int] | None:
        """The token ids of ``text`` (no special tokens added); None for the estimate."""
        if self._encode is None:
            return None
        with self._lock:
            return list(self._encode(text))


ESTIMATE = Tokenizer("estimate", False, None)
_cache: OrderedDict[str, Tokenizer] = OrderedDict()
_cache_lock = threading.Lock()


def _close(tok: Tokenizer) -> None:
    llm = getattr(tok, "_llm", None)
    if llm is not None:
        try:
            llm.close()
        except Exception:  # closing at exit must never raise
            pass


@atexit.register
def _close_all() -> None:
    """Free llama.cpp vocabularies before the interpreter tears its modules down."""
    with _cache_lock:
        while _cache:
            _close(_cache.popitem()[1])


def load_tokenizer(services: Services, model_id: str | None) -> Tokenizer:
    """The tokenizer of library model ``model_id`` (cached); the estimate when ``model_id`` is None."""
    if not model_id:
        return ESTIMATE
    model = services.library.get(model_id)
    key = f"{model['id']}:{model.get('path')}:{model.get('torch_path')}"
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    tok = _load(model)
    with _cache_lock:
        _cache[key] = tok
        while len(_cache) > 4:
            _cache.popitem(last=False)  # freed when no caller still counts with it
    return tok


def _load(model: dict[str, Any]) -> Tokenizer:
    if model.get("missing"):
        raise UserError(
            f"The files of {model['name']} are missing ({model['path']}); import it again or "
            "choose another model."
        )
    if model.get("role") != "llm":
        raise UserError(f"{model['name']} is an embedding model; choose a chat model.")
    ctx = int(model.get("context_length") or 0) or None
    if model["format"] == "gguf":
        try:
            import llama_cpp
        except ImportError:
            raise UserError(
                "llama-cpp-python is not installed, so GGUF tokenizers are unavailable."
            ) from None
        try:
            llm = llama_cpp.Llama(model["path"], vocab_only=True, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise UserError(f"Could not read the tokenizer of {model['name']} ({exc}).") from None

        def encode(text: str) -> list[int]:
            return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

        bos = llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "replace")
        eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "replace")
        tok = Tokenizer(model["name"], True, ctx, encode, threading.Lock(), bos, eos)
        tok._llm = llm  # type: ignore[attr-defined]  # keep the vocab alive
        return tok
    try:
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(
            model.get("torch_path") or model["path"], local_files_only=True
        )
    except Exception as exc:  # a broken folder is the user's to fix, not a crash
        raise UserError(
            f"Could not load the tokenizer of {model['name']} ({type(exc).__name__}: {exc})."
        ) from None

    def encode(text: str) -> list[int]:
        return hf(text, add_special_tokens=False).input_ids

    template = getattr(hf, "chat_template", None)
    return Tokenizer(
        model["name"],
        True,
        ctx or getattr(hf, "model_max_length", None),
        encode,
        threading.Lock(),
        hf.bos_token or "",
        hf.eos_token or "",
        template if isinstance(template, str) and template.strip() else None,
    )


def max_library_context(services: Services) -> int:
    """The longest context window of any chat model in the library (rows above it fit none)."""
    best = 0
    try:
        for model in services.library.list():
            if model.get("role") == "llm" and not model.get("missing"):
                best = max(best, int(model.get("context_length") or 0))
    except Exception:  # the library is only advice here
        best = 0
    return best or DEFAULT_CONTEXT


def row_tokens(row: dict[str, Any], fmt: str, tok: Tokenizer = ESTIMATE) -> int:
    return tok.count(formats.row_text(row, fmt))


def render_row(
    services: Services, row: dict[str, Any], fmt: str, *, model_id: str | None, template: str | None
) -> dict[str, Any]:
    """The row as training text for a model, with its token count."""
    from engine.chat import templates

    tok = load_tokenizer(services, model_id)
    model = (
        services.library.get(model_id) if model_id else {"name": "no model", "chat_template": None}
    )
    choice = template
    if choice is None and model_id:
        choice = _model_template_setting(services, model_id)
    if fmt == "text":
        variants = {"text": row.get("text", "")}
        used = "none"
    else:
        chat = templates.resolve(model, choice=choice, own_template=tok.own_template)
        used = chat.name
        convs = {"chosen": formats.to_chat(row, fmt)}
        if fmt == "preference":
            rejected = dict(row, chosen=row.get("rejected", ""))
            convs["rejected"] = formats.to_chat(rejected, fmt)
        variants = {
            name: templates.render(
                chat,
                messages,
                bos_token=tok.bos_token,
                eos_token=tok.eos_token,
                add_generation_prompt=False,
                model_name=model["name"],
            )
            for name, messages in convs.items()
        }
    counts = {name: tok.count(text) for name, text in variants.items()}
    main = "text" if fmt == "text" else "chosen"
    ctx = tok.context_length
    out = {
        "text": variants[main],
        "tokens": counts[main],
        "exact": tok.exact,
        "tokenizer": tok.name,
        "model_id": model_id,
        "template": used,
        "context_length": ctx,
        "fits": None if not ctx else max(counts.values()) <= ctx,
    }
    if fmt == "preference":
        out["variants"] = [{"name": n, "text": variants[n], "tokens": counts[n]} for n in variants]
    return out


def _model_template_setting(services: Services, model_id: str) -> str | None:
    try:
        row = (
            services.db()
            .execute(
                "SELECT value FROM model_settings WHERE model_id = ? AND key = 'template'",
                (model_id,),
            )
            .fetchone()
        )
    except Exception:
        return None
    if row is None:
        return None
    import json

    try:
        value = json.loads(row[0])
    except ValueError:
        return None
    return value if isinstance(value, str) else None


class RowCounter:
    """Counts a row's tokens as a model sees it in training: rendered with its chat template and
    counted with its tokenizer; without a model, the estimate over the row's text."""

    def __init__(self, services: Services, model_id: str | None, fmt: str) -> None:
        self.fmt = fmt
        self.tok = load_tokenizer(services, model_id)
        self.exact = self.tok.exact
        self.context_length = self.tok.context_length
        self._chat = None
        if model_id and fmt != "text":
            from engine.chat import templates

            model = services.library.get(model_id)
            self._model_name = model["name"]
            self._chat = templates.resolve(
                model,
                choice=_model_template_setting(services, model_id),
                own_template=self.tok.own_template,
            )

    def __call__(self, row: dict[str, Any]) -> int:
        if self._chat is None:
            return self.tok.count(formats.row_text(row, self.fmt))
        from engine.chat import templates

        try:
            messages = formats.to_chat(row, self.fmt)
        except formats.RowError:
            return self.tok.count(formats.row_text(row, self.fmt))
        text = templates.render(
            self._chat,
            messages,
            bos_token=self.tok.bos_token,
            eos_token=self.tok.eos_token,
            add_generation_prompt=False,
            model_name=self._model_name,
        )
        return self.tok.count(text)
