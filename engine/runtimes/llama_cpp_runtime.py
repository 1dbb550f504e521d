"""GGUF models in llama.cpp (``llama_cpp.Llama``): CPU threads, GPU offload when the build has it.

Generation drives ``Llama.generate`` (the token loop under ``create_completion``) directly: the
prompt is tokenized once by the chat layer, each token is decoded once as it arrives (not the
whole reply again, as ``create_completion`` does), and cancel, stop strings and end-of-turn tokens
are checked between tokens. The evaluated prefix of the previous prompt is reused, so the next turn
of a conversation only evaluates the new messages -- except when a seed is given: then the prompt is
evaluated from scratch, because a reused prefix differs in the last bits from a fresh evaluation and
that is enough to change a sampled reply.

JSON mode constrains sampling with a grammar built from the JSON Schema
(``LlamaGrammar.from_json_schema``), cached per schema.

A LoRA adapter entry loads its base GGUF with the adapter applied (``lora_path``, ``lora_scale``):
context length, special tokens and memory are the base's, and the adapter only changes the
weights. llama.cpp reads the base into memory rather than mapping it when an adapter is applied.
"""

from __future__ import annotations

import codecs
import json
import logging
import random
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.core.errors import UserError
from engine.runtimes.base import (
    Completion,
    IsCancelled,
    OnText,
    Runtime,
    SamplingParams,
    StopScanner,
    max_new_tokens,
)
from engine.runtimes.native import compute, step

log = logging.getLogger(__name__)

DEFAULT_N_CTX = 4096  # like LM Studio: enough for a conversation, cheap in KV memory


def gpu_offload_supported() -> bool:
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:  # a broken build must not stop CPU chat
        return False


@lru_cache(maxsize=32)
def grammar_for_schema(schema_json: str) -> Any:
    """A llama.cpp grammar that only admits JSON valid against the schema (cached per schema)."""
    from llama_cpp import LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(schema_json, verbose=False)
    except Exception as exc:
        raise UserError(
            f"llama.cpp cannot turn this JSON Schema into a grammar ({type(exc).__name__}: {exc}); "
            "simplify the schema (plain types, properties, required, enum, items, $defs)."
        ) from None


class LlamaCppRuntime(Runtime):
    name = "llama_cpp"

    def __init__(self, model: dict[str, Any], *, settings: dict[str, Any]) -> None:
        super().__init__(model, settings=settings)
        self._llm: Any = None
        self._bos_text = ""
        self._eos_text = ""
        self._add_bos = True
        self.n_gpu_layers = 0
        self._kv_bytes = 0
        self._stop_ids: dict[tuple[str, ...], frozenset[int]] = {}

    # ---- lifecycle -----------------------------------------------------------------------
    @property
    def is_adapter(self) -> bool:
        return self.model.get("role") == "adapter"

    def config_key(self) -> tuple[Any, ...]:
        key = super().config_key()
        if self.is_adapter:
            scale = float(self.model.get("adapter_scale") or 0.0)
            return (*key, self.model.get("base_path"), self.model["path"], scale)
        return key

    def _checked_paths(self) -> tuple[Path, Path | None]:
        """(GGUF to load, LoRA adapter or None), each checked to be a complete GGUF."""
        from engine.models.gguf_meta import read_gguf

        model = self.model
        if self.is_adapter:
            if model.get("missing") or not model.get("base_path"):
                raise UserError(
                    f"{model['name']} cannot be loaded: "
                    f"{model.get('missing_reason') or 'its base model is missing'}."
                )
            files = [(Path(model["base_path"]), model.get("base_name") or "its base"),
                     (Path(model["path"]), model["name"])]  # fmt: skip
        else:
            files = [(Path(model["path"]), model["name"])]
        for path, name in files:
            if model.get("missing") or not path.is_file():
                raise UserError(
                    f"The file of {name} is missing ({path}). If you moved it, relink it "
                    "(Models > Locate…, or `hearth-engine models relink ID PATH`); otherwise remove "
                    "it from the library."
                )
            try:
                read_gguf(path)  # milliseconds; names what is wrong with a damaged file
            except UserError as exc:
                raise UserError(
                    f"{model['name']} cannot be loaded: {exc.message} Then import it again."
                ) from None
        return files[0][0], files[1][0] if len(files) > 1 else None

    def load(self) -> None:
        if self._llm is not None:
            return
        model = self.model
        path, lora = self._checked_paths()
        import llama_cpp

        from engine.core.devices import best_device, physical_cores

        n_threads = int(self.settings.get("n_threads") or physical_cores())
        trained = int(model.get("context_length") or DEFAULT_N_CTX)
        n_ctx = int(self.settings.get("n_ctx") or min(trained, DEFAULT_N_CTX))
        offload = gpu_offload_supported()
        layers = self.settings.get("n_gpu_layers")
        self.n_gpu_layers = (-1 if layers is None else int(layers)) if offload else 0
        try:
            llm = llama_cpp.Llama(
                str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_gpu_layers=self.n_gpu_layers,
                verbose=False,
            )
            if lora is not None:
                _apply_lora(llm, lora, float(model.get("adapter_scale", 1.0)))
        except (ValueError, RuntimeError, OSError) as exc:
            if lora is not None:
                raise UserError(
                    f"llama.cpp could not apply {model['name']} to {model.get('base_name')} ({exc}); "
                    "the adapter may not belong to this base. Relink it to the base model it was "
                    "trained on, or export it again."
                ) from None
            raise UserError(
                f"llama.cpp could not load {model['name']} ({exc}); the file may be damaged or its "
                "architecture too new for this llama.cpp. Download it again, or import another model."
            ) from None
        self._llm = llm
        self._bos_text = _token_text(llm, llm.token_bos())
        self._eos_text = _token_text(llm, llm.token_eos())
        self._add_bos = str(llm.metadata.get("tokenizer.ggml.add_bos_token", "true")) != "false"
        self._kv_bytes = _kv_bytes(llm.metadata, llm.n_ctx())
        if self.n_gpu_layers:
            best = best_device()
            self.device = best if best != "cpu" else "gpu"
        else:
            self.device = "cpu"
        self.loaded_at = time.time()
        log.info(
            "llama.cpp loaded %s: n_ctx=%d threads=%d gpu_layers=%d",
            model["id"],
            llm.n_ctx(),
            n_threads,
            self.n_gpu_layers,
        )

    def unload(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()

    @property
    def is_loaded(self) -> bool:
        return self._llm is not None

    def info(self) -> dict[str, Any]:
        out = super().info()
        if self.is_adapter:
            out.update(base_model_id=self.model.get("base_model_id"),
                       adapter_scale=self.model.get("adapter_scale"))  # fmt: skip
        return out

    def memory_bytes(self) -> int:
        if self._llm is None:
            return 0
        base = int(self.model.get("base_size_bytes") or 0)  # adapters: the base's weights too
        return int(self.model.get("size_bytes") or 0) + base + self._kv_bytes

    # ---- tokens --------------------------------------------------------------------------
    def context_length(self) -> int:
        return int(self._require().n_ctx())

    def tokenize(self, text: str, *, add_bos: bool | None = None) -> list[int]:
        llm = self._require()
        if add_bos is None:
            add_bos = self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        return list(llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def special_tokens(self) -> dict[str, str]:
        self._require()
        return {"bos_token": self._bos_text, "eos_token": self._eos_text}

    # ---- generation ----------------------------------------------------------------------
    def _generate(
        self,
        prompt_tokens: list[int],
        *,
        sampling: SamplingParams,
        stop: list[str],
        json_schema: dict[str, Any] | None,
        on_text: OnText,
        cancelled: IsCancelled,
        start: float,
        trim: bool = True,
    ) -> Completion:
        import llama_cpp

        llm = self._require()
        n_ctx = llm.n_ctx()
        if len(prompt_tokens) >= n_ctx:
            raise UserError(
                f"The prompt is {len(prompt_tokens)} tokens but {self.model['name']} is loaded with a "
                f"{n_ctx}-token context; shorten it or raise the context length in the model settings."
            )
        budget = max_new_tokens(sampling, len(prompt_tokens), n_ctx)
        grammar = (
            grammar_for_schema(json.dumps(json_schema, sort_keys=True)) if json_schema else None
        )
        if not sampling.cache_prompt or sampling.seed is not None:
            # A reused prefix is numerically a little different from a fresh evaluation (other
            # batch shapes), enough to change a sampled reply: a seed promises the same reply.
            llm.reset()
        llm.set_seed(sampling.seed if sampling.seed is not None else random.randrange(2**31))
        vocab = llm._model.vocab  # the public API has no is-end-of-generation check
        is_eog = llama_cpp.llama_vocab_is_eog
        stop_ids = self._stop_token_ids(tuple(stop))
        scanner = StopScanner(stop, trim=trim)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        emitted: list[str] = []
        finish, count = "length", 0
        first = last = None
        if cancelled():
            return Completion("", "cancelled", len(prompt_tokens), 0, None, 0.0, 0.0)
        tokens = llm.generate(
            prompt_tokens,
            top_k=int(sampling.top_k),
            top_p=float(sampling.top_p),
            min_p=float(sampling.min_p),
            temp=float(sampling.temperature),
            repeat_penalty=float(sampling.repeat_penalty),
            grammar=grammar,
        )
        try:
            while budget > 0:
                token = step(tokens)  # the decode runs on the compute thread (see native.py)
                if token is None:
                    break
                last = time.perf_counter()
                if first is None:
                    first = last
                if not sampling.ignore_eos and (is_eog(vocab, token) or token in stop_ids):
                    finish = "stop"
                    break
                count += 1
                piece = decoder.decode(llm.detokenize([token]))
                if piece:
                    delta, hit = scanner.push(piece)
                    if delta:
                        emitted.append(delta)
                        on_text(delta)
                    if hit:
                        finish = "stop"
                        break
                if count >= budget:
                    break
                if cancelled():
                    finish = "cancelled"
                    break
        finally:
            compute().call(tokens.close)
        if scanner.stopped_by is None:
            scanner.push(decoder.decode(b"", final=True))
            tail = scanner.finish()
            if tail:
                emitted.append(tail)
                on_text(tail)
        end = time.perf_counter()
        return Completion(
            text="".join(emitted),
            finish_reason=finish,
            prompt_tokens=len(prompt_tokens),
            completion_tokens=count,
            ttft_s=None if first is None else first - start,
            decode_s=0.0 if first is None or last is None else last - first,
            total_s=end - start,
        )

    def _stop_token_ids(self, stop: tuple[str, ...]) -> frozenset[int]:
        """Stop strings that are one control token (e.g. <|im_end|>): they decode to no text, so
        they are caught by id."""
        cached = self._stop_ids.get(stop)
        if cached is None:
            llm = self._require()
            ids = set()
            for text in stop:
                tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
                if len(tokens) == 1 and not llm.detokenize(tokens):
                    ids.add(tokens[0])
            cached = self._stop_ids[stop] = frozenset(ids)
        return cached

    def _require(self) -> Any:
        if self._llm is None:
            raise UserError(f"{self.model['name']} is not loaded; try again.")
        return self._llm


def _apply_lora(llm: Any, lora: Path, scale: float) -> None:
    """Apply a LoRA adapter GGUF to a loaded ``Llama`` through llama.cpp's adapter API.

    ``Llama(lora_path=...)`` would do the same but turns memory mapping off for the base (a
    leftover from when llama.cpp merged adapters into the weights in place), so every loaded
    adapter held a private copy of its base: 292 MB more for the bundled Gemma, on top of the
    plain base loaded beside it. llama.cpp applies adapters in the compute graph and never writes
    the base weights, so the adapter's model maps the base file and shares its pages.
    """
    import ctypes

    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    with suppress_stdout_stderr(disable=False):  # a line per tensor about CPU buffer types
        handle = llama_cpp.llama_adapter_lora_init(llm._model.model, str(lora).encode("utf-8"))
    if not handle:
        raise RuntimeError(f"llama.cpp cannot read the LoRA adapter {lora.name}")

    def free() -> None:
        llama_cpp.llama_adapter_lora_free(handle)

    llm._stack.callback(free)  # freed on close, as Llama frees the adapter it applies itself
    adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(handle)
    scales = (ctypes.c_float * 1)(scale)
    if llama_cpp.llama_set_adapters_lora(llm._ctx.ctx, adapters, 1, scales):
        raise RuntimeError(f"llama.cpp cannot apply the LoRA adapter {lora.name}")


def _token_text(llm: Any, token: int) -> str:
    if token is None or token < 0:
        return ""
    try:
        return llm.detokenize([token], special=True).decode("utf-8", errors="replace")
    except Exception:
        return ""


def _kv_bytes(metadata: dict[str, str], n_ctx: int) -> int:
    """KV-cache size at ``n_ctx`` tokens in f16, from the GGUF's attention shape."""
    arch = metadata.get("general.architecture", "")

    def num(key: str, default: int = 0) -> int:
        try:
            return int(metadata.get(f"{arch}.{key}", default))
        except (TypeError, ValueError):
            return default

    layers = num("block_count")
    heads_kv = num("attention.head_count_kv", num("attention.head_count"))
    embd, heads = num("embedding_length"), max(1, num("attention.head_count", 1))
    k_len = num("attention.key_length", embd // heads)
    v_len = num("attention.value_length", embd // heads)
    return n_ctx * layers * heads_kv * (k_len + v_len) * 2
