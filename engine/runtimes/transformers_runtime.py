"""Hugging Face models (and GGUFs loaded as torch) in transformers, on CUDA, MPS or the CPU.

Weights come through ``engine.models.gguf_to_torch.load_torch_model`` (safetensors only; a GGUF is
dequantized once and cached). ``model.generate`` runs in a helper thread and streams through a
``TextIteratorStreamer``; a ``StoppingCriteria`` ends it between tokens when the request is
cancelled or a stop string has appeared. The device is picked automatically (cuda, then mps, then
cpu) unless the model's settings name one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from engine.services import Services

log = logging.getLogger(__name__)

DEVICES = ("auto", "cuda", "mps", "cpu")
_STREAM_TIMEOUT_S = 600.0  # a generate thread silent this long is hung


def pick_device(requested: str | None) -> str:
    """``auto`` -> cuda, then mps, then cpu; an explicit choice is checked to exist."""
    import torch

    want = (requested or "auto").lower()
    if want not in DEVICES and not want.startswith("cuda:"):
        raise UserError(f"Unknown device {requested!r}; use one of {', '.join(DEVICES)}.")
    has_cuda = torch.cuda.is_available()
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if want == "auto":
        return "cuda" if has_cuda else "mps" if has_mps else "cpu"
    if want.startswith("cuda") and not has_cuda:
        raise UserError("No CUDA GPU is available to torch here; set the device to auto or cpu.")
    if want == "mps" and not has_mps:
        raise UserError("Apple MPS is not available here; set the device to auto or cpu.")
    return want


class TransformersRuntime(Runtime):
    name = "transformers"

    def __init__(
        self, model: dict[str, Any], *, settings: dict[str, Any], services: Services
    ) -> None:
        super().__init__(model, settings=settings)
        self._services = services
        self._lm: Any = None
        self._tok: Any = None
        self._n_ctx = 0
        self._bos_id: int | None = None
        self._adds_bos = False
        self._tok_lock = threading.Lock()

    # ---- lifecycle -----------------------------------------------------------------------
    def load(self) -> None:
        if self._lm is not None:
            return
        model = self.model
        if model.get("role") != "llm" and model.get("format") != "peft":
            raise UserError(f"{model['name']} is an embedding model; pick a chat model.")
        if model.get("missing"):
            raise UserError(
                f"The files of {model['name']} are missing ({model['path']}). If you moved them, "
                "import the model again from its new place (Models > Import) to relink it."
            )
        from transformers.utils import logging as hf_logging

        from engine.models.gguf_to_torch import load_torch_model

        hf_logging.disable_progress_bar()  # no tqdm bars in the engine log
        device = pick_device(self.settings.get("device"))
        dtype = (
            None if device == "cpu" else ("bfloat16" if device.startswith("cuda") else "float16")
        )
        try:
            lm, tok = load_torch_model(model, services=self._services, device=device, dtype=dtype)
        except UserError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(
                f"transformers could not load {model['name']} ({type(exc).__name__}: {exc}); the "
                "folder may be incomplete. Download or export it again."
            ) from None
        lm.eval()
        from engine.pruning.bypass import install as install_bypass

        install_bypass(lm)  # attention a pruning bypassed (static or per prompt) is skipped
        self._lm, self._tok, self.device = lm, tok, device
        config = getattr(lm.config, "text_config", None) or lm.config
        trained = (
            getattr(config, "max_position_embeddings", None) or model.get("context_length") or 2048
        )
        self._n_ctx = int(min(int(self.settings.get("n_ctx") or trained), int(trained)))
        table = getattr(lm, "table", None)  # a prompt-tuned model: its virtual tokens come first
        if table is not None and getattr(table, "ndim", 0) == 2:
            self._n_ctx -= int(table.shape[0])
        self._bos_id = tok.bos_token_id
        probe = tok("a").input_ids
        self._adds_bos = bool(probe) and self._bos_id is not None and probe[0] == self._bos_id
        self.loaded_at = time.time()
        log.info("transformers loaded %s on %s (n_ctx=%d)", model["id"], device, self._n_ctx)

    def unload(self) -> None:
        lm, self._lm, self._tok = self._lm, None, None
        if lm is None:
            return
        device = self.device
        del lm
        if device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    @property
    def is_loaded(self) -> bool:
        return self._lm is not None

    def memory_bytes(self) -> int:
        lm = self._lm
        if lm is None:
            return 0
        total = sum(p.numel() * p.element_size() for p in lm.parameters())
        return int(total + sum(b.numel() * b.element_size() for b in lm.buffers()))

    # ---- tokens --------------------------------------------------------------------------
    def context_length(self) -> int:
        self._require()
        return self._n_ctx

    def tokenize(self, text: str, *, add_bos: bool | None = None) -> list[int]:
        _lm, tok = self._require()
        with self._tok_lock:  # a fast tokenizer may not be entered from two threads at once
            ids = list(tok(text, add_special_tokens=False).input_ids)
        if add_bos is None:
            bos = tok.bos_token
            add_bos = self._adds_bos and not (bos and text.startswith(bos))
        if add_bos and self._bos_id is not None:
            ids.insert(0, self._bos_id)
        return ids

    def special_tokens(self) -> dict[str, str]:
        _lm, tok = self._require()
        return {"bos_token": tok.bos_token or "", "eos_token": tok.eos_token or ""}

    def chat_template(self) -> str | None:
        """The tokenizer's own chat template, if it has one."""
        _lm, tok = self._require()
        template = getattr(tok, "chat_template", None)
        return template if isinstance(template, str) and template.strip() else None

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
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        lm, tok = self._require()
        n_prompt = len(prompt_tokens)
        if n_prompt >= self._n_ctx:
            raise UserError(
                f"The prompt is {n_prompt} tokens but {self.model['name']} takes {self._n_ctx}; "
                "shorten it."
            )
        budget = max_new_tokens(sampling, n_prompt, self._n_ctx)
        if budget == 0 or cancelled():
            reason = "cancelled" if cancelled() else "length"
            return Completion("", reason, n_prompt, 0, None, 0.0, time.perf_counter() - start)

        stop_flag = threading.Event()
        cancel_seen = threading.Event()
        times: list[float] = []

        class _Streamer(TextIteratorStreamer):
            """Also notes when each generated token arrives (the first one is the TTFT)."""

            def put(self, value: Any) -> None:
                if not self.next_tokens_are_prompt:
                    times.append(time.perf_counter())
                super().put(value)

        stop_texts = [t for t in stop if t]
        tail_tokens = 8 + max((len(t) for t in stop_texts), default=0)

        class _Stop(StoppingCriteria):
            """Ends generation between tokens on cancel, or once a stop string was generated."""

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                if cancelled():
                    cancel_seen.set()
                if stop_texts and not stop_flag.is_set():
                    tail = input_ids[0, max(n_prompt, input_ids.shape[1] - tail_tokens) :]
                    text = tok.decode(tail.tolist(), skip_special_tokens=False)
                    if any(t in text for t in stop_texts):
                        stop_flag.set()
                done = stop_flag.is_set() or cancel_seen.is_set()
                return torch.full((input_ids.shape[0],), done, dtype=torch.bool)

        streamer = _Streamer(
            tok, skip_prompt=True, skip_special_tokens=True, timeout=_STREAM_TIMEOUT_S
        )
        input_ids = torch.tensor([prompt_tokens], dtype=torch.long, device=lm.device)
        eos_ids = self._eos_ids(stop) if not sampling.ignore_eos else []
        kwargs: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "max_new_tokens": budget,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([_Stop()]),
            "repetition_penalty": float(sampling.repeat_penalty),
            "pad_token_id": tok.pad_token_id
            if tok.pad_token_id is not None
            else (eos_ids or [0])[0],
            "eos_token_id": eos_ids or None,
        }
        if sampling.ignore_eos:
            kwargs["min_new_tokens"] = budget
        if float(sampling.temperature) > 0:
            kwargs.update(
                do_sample=True,
                temperature=float(sampling.temperature),
                top_p=float(sampling.top_p),
                top_k=int(sampling.top_k),
                min_p=float(sampling.min_p) or None,
            )
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if sampling.seed is not None:
            torch.manual_seed(int(sampling.seed))

        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                with torch.inference_mode():
                    outcome["sequences"] = lm.generate(**kwargs)
            except BaseException as exc:
                outcome["error"] = exc
                streamer.end()  # unblock the reader

        thread = threading.Thread(target=run, name=f"generate-{self.model_id}", daemon=True)
        thread.start()
        scanner = StopScanner(stop, trim=trim)
        emitted: list[str] = []
        stopped = False
        try:
            for piece in streamer:
                if stopped or not piece:
                    continue
                delta, hit = scanner.push(piece)
                if delta:
                    emitted.append(delta)
                    on_text(delta)
                if hit:
                    stopped = True
                    stop_flag.set()
        finally:
            stop_flag.set()
            thread.join()
        if "error" in outcome:
            exc = outcome["error"]
            raise UserError(
                f"Generation with {self.model['name']} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not stopped:
            tail = scanner.finish()
            if tail:
                emitted.append(tail)
                on_text(tail)
        sequences = outcome.get("sequences")
        generated = sequences[0, n_prompt:].tolist() if sequences is not None else []
        count = len(generated)
        ended_by_eos = bool(count and eos_ids and generated[-1] in eos_ids)
        if ended_by_eos:
            count -= 1  # the end-of-turn token is not part of the reply
        if stopped or ended_by_eos:
            finish = "stop"
        elif cancel_seen.is_set():
            finish = "cancelled"
        elif len(generated) >= budget:
            finish = "length"
        else:
            finish = "stop"
        end = time.perf_counter()
        return Completion(
            text="".join(emitted),
            finish_reason=finish,
            prompt_tokens=n_prompt,
            completion_tokens=count,
            ttft_s=(times[0] - start) if times else None,
            decode_s=(times[-1] - times[0]) if len(times) > 1 else 0.0,
            total_s=end - start,
        )

    def _eos_ids(self, stop: list[str]) -> list[int]:
        """End-of-text ids: the model's, plus stop strings that are single special tokens."""
        lm, tok = self._require()
        ids: list[int] = []
        for source in (getattr(lm, "generation_config", None), lm.config, tok):
            value = getattr(source, "eos_token_id", None)
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, int) and item not in ids:
                    ids.append(item)
        special = set(getattr(tok, "all_special_tokens", []) or [])
        for text in stop:
            if text in special:
                token_id = tok.convert_tokens_to_ids(text)
                if isinstance(token_id, int) and token_id not in ids:
                    ids.append(token_id)
        return ids

    def _require(self) -> tuple[Any, Any]:
        if self._lm is None:
            raise UserError(f"{self.model['name']} is not loaded; try again.")
        return self._lm, self._tok
