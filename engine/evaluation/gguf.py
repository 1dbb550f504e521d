"""A GGUF model (or a LoRA adapter on its base) in llama.cpp, for scoring and batched answers.

``GgufModel`` loads the weights once and holds two kinds of llama.cpp context:

- a scoring context asked for the logits of every position (``logits_all``): log-likelihoods of
  token windows (perplexity) and of continuations (multiple choice);
- a batch context with ``n_seq_max`` sequences: up to that many prompts are evaluated, then each
  step decodes one token of *every* unfinished answer in a single ``llama_decode`` call. On a CPU
  a step reads the weights once for all of them instead of once per answer, which is where the
  speed-up over answering one prompt at a time comes from. Decoding is greedy (an evaluation
  must give the same answers every time).

A LoRA adapter is applied to both contexts through llama.cpp's adapter API.
"""

from __future__ import annotations

import codecs
import ctypes
import math
from collections.abc import Callable, Sequence
from typing import Any

from engine.core.errors import UserError
from engine.runtimes.base import StopScanner

ANSWER_BATCH = 8


class GgufModel:
    def __init__(self, model: dict[str, Any], *, n_ctx: int = 2048, threads: int | None = None,
                 scoring: bool = True) -> None:  # fmt: skip
        """``scoring=False`` (answers only): the scoring context is kept tiny and asks for no
        per-position logits (with Gemma's 262k vocabulary those are 1 MB a token)."""
        import llama_cpp

        from engine.core.devices import physical_cores
        from engine.runtimes.llama_cpp_runtime import LlamaCppRuntime, _apply_lora

        self.model = model
        path, lora = LlamaCppRuntime(model, settings={})._checked_paths()
        self.threads = int(threads or physical_cores())
        self.n_ctx = int(n_ctx) if scoring else 64
        try:
            self.llm = llama_cpp.Llama(str(path), n_ctx=self.n_ctx, n_batch=min(self.n_ctx, 512),
                                       logits_all=scoring, n_threads=self.threads,
                                       n_threads_batch=self.threads, verbose=False)  # fmt: skip
            if lora is not None:
                _apply_lora(self.llm, lora, float(model.get("adapter_scale", 1.0)))
        except (ValueError, RuntimeError, OSError) as exc:
            raise UserError(f"llama.cpp could not load {model['name']} ({exc}).") from None
        self.lora = lora
        self._batch_ctx: Any = None
        self._batch_seqs = 0
        self.vocab = self.llm._model.vocab
        self.n_vocab = self.llm.n_vocab()
        self.bos = self.llm.token_bos()
        self.add_bos = str(self.llm.metadata.get("tokenizer.ggml.add_bos_token", "true")) != "false"

    # -- tokens --------------------------------------------------------------------------------
    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = False) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.llm.detokenize(list(ids)).decode("utf-8", errors="replace")

    def chat_template(self) -> str | None:
        return self.llm.metadata.get("tokenizer.chat_template")

    def special_texts(self) -> tuple[str, str]:
        """The BOS and EOS tokens as text (what a chat template writes for them)."""

        def text(token: int) -> str:
            if token is None or token < 0:
                return ""
            return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

        return text(self.bos), text(self.llm.token_eos())

    # -- scoring -------------------------------------------------------------------------------
    def logprobs(self, ids: Sequence[int], start: int) -> list[float]:
        """log P(ids[i] | ids[:i]) for i from ``start`` (>= 1) to the end, in one evaluation."""
        import numpy as np

        ids = list(ids)
        if len(ids) > self.n_ctx:
            raise UserError(f"{len(ids)} tokens do not fit the {self.n_ctx}-token context.")
        self.llm.reset()
        self.llm.eval(ids)
        logits = self.llm.scores[start - 1 : len(ids) - 1]  # a view of llama.cpp's float32 logits
        peak = logits.max(axis=1, keepdims=True)
        logz = peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=1, dtype=np.float64))
        picked = logits[np.arange(len(logits)), ids[start:]]
        return [float(x) for x in picked - logz]

    # -- batched greedy answers ----------------------------------------------------------------
    def _context(self, seqs: int, per_seq: int) -> Any:
        import llama_cpp

        if self._batch_ctx is not None and self._batch_seqs >= seqs and self._per_seq >= per_seq:
            return self._batch_ctx
        self._free_batch()
        params = llama_cpp.llama_context_default_params()
        params.n_seq_max = seqs
        params.n_ctx = seqs * per_seq
        params.n_batch = max(512, seqs)
        params.n_ubatch = max(512, seqs)
        params.n_threads = params.n_threads_batch = self.threads
        params.kv_unified = False  # each answer its own cells: no answer sees another's tokens
        ctx = llama_cpp.llama_init_from_model(self.llm._model.model, params)
        if not ctx:
            raise UserError(f"llama.cpp could not make a context of {seqs} x {per_seq} tokens.")
        if self.lora is not None:
            handle = llama_cpp.llama_adapter_lora_init(self.llm._model.model, str(self.lora).encode("utf-8"))  # fmt: skip
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(handle)
            scales = (ctypes.c_float * 1)(float(self.model.get("adapter_scale", 1.0)))
            llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, scales)
            self._adapter = handle
        self._batch_ctx, self._batch_seqs, self._per_seq = ctx, seqs, per_seq
        return ctx

    def _free_batch(self) -> None:
        import llama_cpp

        if self._batch_ctx is not None:
            llama_cpp.llama_free(self._batch_ctx)
            self._batch_ctx = None
        if getattr(self, "_adapter", None) is not None:
            llama_cpp.llama_adapter_lora_free(self._adapter)
            self._adapter = None

    def answer_batch(self, prompts: list[list[int]], *, max_tokens: int, stop: Sequence[str] = (),
                     cancelled: Callable[[], bool] | None = None) -> list[tuple[str, str, int]]:  # fmt: skip
        """Greedy answers to tokenized prompts, all decoded together: ``(text, finish, tokens)``
        each, ``finish`` being ``stop`` or ``length``."""
        import llama_cpp
        import numpy as np

        if not prompts:
            return []
        n = len(prompts)
        longest = max(len(p) for p in prompts)
        per_seq = 256 * math.ceil((longest + max_tokens + 1) / 256)
        ctx = self._context(max(n, ANSWER_BATCH), per_seq)
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        cap = max(512, n)
        batch = llama_cpp.llama_batch_init(cap, 0, 1)
        try:
            last = [0] * n  # logits row of each sequence's last token in the latest decode
            # prompts: as many whole prompts per decode as fit, each asking for its last logits
            pending = list(range(n))
            while pending:
                batch.n_tokens = 0
                taken = []
                while pending and batch.n_tokens + len(prompts[pending[0]]) <= cap:
                    s = pending.pop(0)
                    for pos, tok in enumerate(prompts[s]):
                        _put(batch, tok, pos, s, pos == len(prompts[s]) - 1)
                    last[s] = batch.n_tokens - 1
                    taken.append(s)
                if not taken:  # one prompt longer than a decode: in pieces
                    s = pending.pop(0)
                    self._decode_long(ctx, batch, prompts[s], s, cap)
                    last[s] = batch.n_tokens - 1
                    taken.append(s)
                else:
                    _decode(ctx, batch)
                for s in taken:
                    last[s] = _argmax(ctx, last[s], self.n_vocab, np)
            texts = [[] for _ in range(n)]
            decoders = [codecs.getincrementaldecoder("utf-8")(errors="replace") for _ in range(n)]
            scanners = [StopScanner(list(stop)) for _ in range(n)]
            finish = ["length"] * n
            counts = [0] * n
            pos = [len(p) for p in prompts]
            nxt = last  # the greedy next token of each sequence
            live = list(range(n))
            while live:
                if cancelled is not None and cancelled():
                    from engine.core.errors import Cancelled

                    raise Cancelled()
                going = []
                for s in live:
                    tok = nxt[s]
                    if llama_cpp.llama_vocab_is_eog(self.vocab, tok):
                        finish[s] = "stop"
                        continue
                    counts[s] += 1
                    piece = decoders[s].decode(self.llm.detokenize([tok]))
                    delta, hit = scanners[s].push(piece) if piece else ("", False)
                    texts[s].append(delta)
                    if hit:
                        finish[s] = "stop"
                        continue
                    if counts[s] >= max_tokens:
                        continue
                    going.append(s)
                if not going:
                    break
                batch.n_tokens = 0
                for s in going:
                    _put(batch, nxt[s], pos[s], s, True)
                    pos[s] += 1
                _decode(ctx, batch)
                for i, s in enumerate(going):
                    nxt[s] = _argmax(ctx, i, self.n_vocab, np)
                live = going
            out = []
            for s in range(n):
                if scanners[s].stopped_by is None:
                    scanners[s].push(decoders[s].decode(b"", final=True))
                    texts[s].append(scanners[s].finish())
                out.append(("".join(texts[s]).strip(), finish[s], counts[s]))
            return out
        finally:
            llama_cpp.llama_batch_free(batch)

    def _decode_long(self, ctx: Any, batch: Any, prompt: list[int], seq: int, cap: int) -> None:
        for start in range(0, len(prompt), cap):
            batch.n_tokens = 0
            part = prompt[start : start + cap]
            for i, tok in enumerate(part):
                _put(batch, tok, start + i, seq, start + i == len(prompt) - 1)
            _decode(ctx, batch)

    def close(self) -> None:
        self._free_batch()
        self.llm.close()


def _put(batch: Any, token: int, pos: int, seq: int, logits: bool) -> None:
    i = batch.n_tokens
    batch.token[i] = token
    batch.pos[i] = pos
    batch.n_seq_id[i] = 1
    batch.seq_id[i][0] = seq
    batch.logits[i] = logits
    batch.n_tokens = i + 1


def _decode(ctx: Any, batch: Any) -> None:
    import llama_cpp

    code = llama_cpp.llama_decode(ctx, batch)
    if code != 0:
        raise UserError(f"llama.cpp could not evaluate the batch (code {code}); try fewer rows at once.")  # fmt: skip


def _argmax(ctx: Any, row: int, n_vocab: int, np: Any) -> int:
    import llama_cpp

    ptr = llama_cpp.llama_get_logits_ith(ctx, row)
    return int(np.ctypeslib.as_array(ptr, shape=(n_vocab,)).argmax())
