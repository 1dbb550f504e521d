"""A Hugging Face model (an imported folder, a pruned or merged model) in transformers, with the
same three uses as ``gguf.GgufModel``: tokens, log-likelihoods and batched greedy answers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from engine.runtimes.base import StopScanner

if TYPE_CHECKING:
    from engine.services import Services


class TorchModel:
    def __init__(self, services: Services, model: dict[str, Any], ctx: Any = None) -> None:
        import torch

        from engine.models.gguf_to_torch import load_torch_model
        from engine.pruning import bypass

        self.model = model
        self.lm, self.tok = load_torch_model(model, services=services, device="cpu", ctx=ctx)
        self.lm.eval()
        bypass.install(self.lm)
        self.torch = torch
        self.bos = self.tok.bos_token_id
        self.add_bos = self.bos is not None and bool(
            self.tok("a", add_special_tokens=True)["input_ids"][:1] == [self.bos]
        )

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = False) -> list[int]:
        ids = list(self.tok(text, add_special_tokens=False, split_special_tokens=not special)["input_ids"])  # fmt: skip
        return [self.bos, *ids] if add_bos and self.bos is not None else ids

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=False)

    def chat_template(self) -> str | None:
        return getattr(self.tok, "chat_template", None)

    def special_texts(self) -> tuple[str, str]:
        return self.tok.bos_token or "", self.tok.eos_token or ""

    def logprobs(self, ids: Sequence[int], start: int) -> list[float]:
        torch = self.torch
        tensor = torch.tensor([list(ids)], dtype=torch.long)
        with torch.no_grad():
            # counted from the end: a prompt-tuned model's logits start with its virtual tokens
            logits = self.lm(input_ids=tensor, use_cache=False).logits[0, start - 1 - len(ids) : -1]
            logits = logits.float()
        picked = torch.log_softmax(logits, -1).gather(1, tensor[0, start:, None])[:, 0]
        return [float(x) for x in picked]

    def nll(self, windows: Sequence[tuple[list[int], int]], cancelled: Callable[[], None] | None = None) -> tuple[float, int]:  # fmt: skip
        """Summed negative log-likelihood of each window's last ``k`` targets, and their count."""
        from engine.evaluation.scoring import torch_window_nll

        return torch_window_nll(self.lm, windows, cancelled=cancelled)

    def answer_batch(self, prompts: list[list[int]], *, max_tokens: int, stop: Sequence[str] = (),
                     cancelled: Callable[[], bool] | None = None) -> list[tuple[str, str, int]]:  # fmt: skip
        """Greedy answers to tokenized prompts in one left-padded ``generate``."""
        torch = self.torch
        if not prompts:
            return []
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.tok.eos_token_id
        pad = 0 if pad is None else pad
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, p in enumerate(prompts):
            ids[row, width - len(p) :] = torch.tensor(p)
            mask[row, width - len(p) :] = 1
        if cancelled is not None and cancelled():
            from engine.core.errors import Cancelled

            raise Cancelled()
        with torch.no_grad():
            out = self.lm.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_tokens,
                                   do_sample=False, pad_token_id=pad)  # fmt: skip
        eos = set(_as_list(self.lm.generation_config.eos_token_id)) | set(_as_list(self.tok.eos_token_id))  # fmt: skip
        answers = []
        for row in out[:, width:].tolist():
            tokens, finish = [], "length"
            for t in row:
                if t in eos:
                    finish = "stop"
                    break
                tokens.append(t)
            scanner = StopScanner(list(stop))
            text, hit = scanner.push(self.tok.decode(tokens, skip_special_tokens=True))
            if not hit:
                text += scanner.finish()
            answers.append((text.strip(), "stop" if hit else finish, len(tokens)))
        return answers

    def close(self) -> None:
        self.lm = None


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [int(value)]
