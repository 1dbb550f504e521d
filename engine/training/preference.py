"""Preference optimisation: DPO and ORPO on (prompt, chosen, rejected) pairs.

Each pair becomes two examples rendered with the run's chat template, the prompt masked, so a
reply's log-probability is the sum over its own tokens. A micro-batch holds the chosen replies of
its pairs, then their rejected replies; its "learned" count is the number of pairs, so the loop's
division gives the mean loss over the pairs of an optimizer step.

DPO (Rafailov et al.): with d = (log pi(c) - log ref(c)) - (log pi(r) - log ref(r)),
``sigmoid``: -(1 - e) log s(beta d) - e log s(-beta d), where e is ``label_smoothing`` (the
conservative DPO of Mitchell; 0 gives the plain loss); ``ipo``: (d' - 1 / (2 beta))^2 with the
log-ratios divided by each reply's length (Azar et al., length-normalised as TRL does).
ORPO (Hong et al.): mean NLL of the chosen replies - beta * log s(log odds(c) - log odds(r)),
odds from the length-averaged log-probabilities; no reference model.
Rewards, as TRL logs them: beta * (log pi - log ref) for DPO, beta * mean log pi for ORPO; the
margin is chosen minus rejected and the accuracy the share of pairs where chosen's is higher.

The reference model's log-probabilities are computed once, before the first step, and kept in the
run folder: with LoRA the base with the adapter disabled (the same weights, no second copy), with
full fine-tuning the starting weights. A resumed run reads them back.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.errors import Cancelled
from engine.training import data, loss

REFERENCE_FILE = "reference-logps.safetensors"


@dataclass
class Pair:
    chosen: data.Example
    rejected: data.Example

    @property
    def length(self) -> int:
        return len(self.chosen.input_ids) + len(self.rejected.input_ids)


@dataclass
class PairReport(data.Report):
    """``Report`` counted in pairs; ``identical`` pairs (chosen = rejected) are left out."""

    identical: int = 0

    def causes(self, seq_len: int) -> list[str]:
        same = [f"{self.identical} whose chosen and rejected replies are the same"] if self.identical else []  # fmt: skip
        return super().causes(seq_len) + same

    def refusal(self, seq_len: int, what: str = "training", unit: str = "pairs") -> str:
        return super().refusal(seq_len, what, unit)


def encode_pairs(encoder: data.Encoder, convs: list[Any], seq_len: int) -> tuple[list[Pair], PairReport]:  # fmt: skip
    """Both sides of each pair as examples; a pair with nothing to prefer or nothing left of
    either reply after the cut is left out and counted."""
    report = PairReport()
    pairs: list[Pair] = []
    for chosen, rejected in convs:
        report.rows += 1
        if str(chosen[-1]["content"]).strip() == str(rejected[-1]["content"]).strip():
            report.identical += 1
            continue
        side = data.Report()
        a = encoder.example(chosen, seq_len, side)
        b = encoder.example(rejected, seq_len, side)
        report.not_split += bool(side.not_split)
        if a is not None and b is not None and a.input_ids == b.input_ids:  # the same once cut
            report.identical += 1
            continue
        if a is None or b is None:
            report.too_long += bool(side.too_long)
            report.empty += bool(side.empty) and not side.too_long
            report.template_failed += bool(side.template_failed) and not (side.too_long or side.empty)  # fmt: skip
            report.reasons += side.reasons[: 5 - len(report.reasons)]
            continue
        pairs.append(Pair(a, b))
        report.kept += 1
        report.truncated += bool(side.truncated)
        report.tokens += side.tokens
        report.learned_tokens += side.learned_tokens
        report.longest = max(report.longest, side.longest)
    return pairs, report


def no_dropout(model: Any) -> int:
    """Switch every dropout of ``model`` off (as TRL does for DPO and ORPO: the rewards compare
    the model with its reference, and dropout would add noise to that difference)."""
    import torch

    layers = [m for m in model.modules() if isinstance(m, torch.nn.Dropout) and m.p > 0]
    for m in layers:
        m.p = 0.0
    return len(layers)


def collate(pairs: list[Pair], picks: list[int], *, pad_id: int) -> data.Batch:
    """The chosen replies of ``picks``, then their rejected ones; ``learned`` counts the pairs."""
    import torch

    examples = [pairs[i].chosen for i in picks] + [pairs[i].rejected for i in picks]
    batch = data.collate(examples, None, list(range(len(examples))), pad_id=pad_id)
    batch.learned = len(picks)
    batch.index = torch.tensor(picks, dtype=torch.long)
    return batch


# -- log-probabilities ---------------------------------------------------------------------
def _token_ce(model: Any, batch: data.Batch, take: Any, fused: bool) -> Any:
    """Cross-entropy of the next token at the positions ``take`` (B, T-1), in row order."""
    import torch.nn.functional as F

    targets = batch.input_ids[:, 1:]
    if fused:
        lm, hidden = loss.last_hidden(model, batch)
        softcap, scale = loss.head_settings(lm)  # type: ignore[misc]
        head = lm.get_output_embeddings().weight
        return loss.fused_token_cross_entropy(hidden[:, :-1][take], head, targets[take],
                                              softcap=softcap, scale=scale)  # fmt: skip
    out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                position_ids=batch.position_ids, use_cache=False)  # fmt: skip
    return F.cross_entropy(out.logits[:, :-1][take].float(), targets[take], reduction="none")


def sequence_logps(model: Any, batch: data.Batch, *, fused: bool, extra: Any = None) -> tuple[Any, Any, Any, Any]:  # fmt: skip
    """(sum of each row's reply log-probabilities, reply tokens per row, the cross-entropies of
    all scored positions, their rows). ``extra`` marks more positions to score (ORPO's NLL on
    the prompt) without counting them in the replies."""
    import torch

    reply = batch.labels[:, 1:] != data.IGNORE
    take = reply if extra is None else (reply | extra)
    ce = _token_ce(model, batch, take, fused)
    rows = take.nonzero()[:, 0]
    in_reply = reply[take]
    logps = torch.zeros(reply.shape[0], dtype=torch.float32, device=ce.device)
    logps = logps.index_add(0, rows[in_reply], -ce[in_reply])
    return logps, reply.sum(1).clamp(min=1).float(), ce, rows


def log1mexp(x: Any) -> Any:
    """log(1 - exp(x)) for x < 0, stable on both sides of -log 2."""
    import torch

    return torch.where(x < -0.6931471805599453, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))  # fmt: skip


class PreferenceLoss:
    """The training loss of a DPO or ORPO run; ``take()`` gives the means of its reward
    statistics since the last call."""

    STATS = ("reward_chosen", "reward_rejected", "reward_margin", "reward_accuracy")

    def __init__(self, opts: Any, reference: Any, *, fused: bool) -> None:
        self.objective = opts.objective
        self.beta = opts.beta
        self.kind = opts.dpo_loss
        self.smoothing = opts.label_smoothing
        self.nll_on_prompt = opts.train_on_prompt
        self.reference = reference  # (pairs, 2) float32 for DPO, None for ORPO
        self.fused = fused
        self._sums: dict[str, float] = {}
        self._pairs = 0

    def __call__(self, model: Any, batch: data.Batch) -> tuple[Any, int]:
        import torch.nn.functional as F

        n = batch.learned
        extra = None
        if self.objective == "orpo" and self.nll_on_prompt:
            extra = batch.attention_mask[:, 1:].bool()
            extra[n:] = False
        logps, counts, ce, rows = sequence_logps(model, batch, fused=self.fused, extra=extra)
        pc, pr, nc, nr = logps[:n], logps[n:], counts[:n], counts[n:]
        stats: dict[str, Any] = {}
        if self.objective == "orpo":
            ac, ar = pc / nc, pr / nr
            log_odds = (ac - ar) - (log1mexp(ac) - log1mexp(ar))
            ratio = F.logsigmoid(log_odds)
            nll = ce[rows < n].mean()
            total = nll * n - self.beta * ratio.sum()
            chosen, rejected = self.beta * ac, self.beta * ar
            stats = {"nll_loss": float(nll) * n, "log_odds_ratio": float(log_odds.sum())}
        else:
            ref = self.reference[batch.index].to(logps.device)
            lc, lr = pc - ref[:, 0], pr - ref[:, 1]
            if self.kind == "ipo":
                per = ((lc / nc - lr / nr) - 1 / (2 * self.beta)) ** 2
            else:
                d = self.beta * (lc - lr)
                per = -(1 - self.smoothing) * F.logsigmoid(d) - self.smoothing * F.logsigmoid(-d)
            total = per.sum()
            chosen, rejected = self.beta * lc, self.beta * lr
        chosen, rejected = chosen.detach(), rejected.detach()
        stats.update({"reward_chosen": float(chosen.sum()), "reward_rejected": float(rejected.sum()),
                      "reward_margin": float((chosen - rejected).sum()),
                      "reward_accuracy": float((chosen > rejected).float().sum())})  # fmt: skip
        for key, value in stats.items():
            self._sums[key] = self._sums.get(key, 0.0) + value
        self._pairs += n
        return total, n

    def reset(self) -> None:
        self._sums, self._pairs = {}, 0

    def take(self) -> dict[str, float]:
        out = {k: v / self._pairs for k, v in self._sums.items()} if self._pairs else {}
        self.reset()
        return out


def _batches(pairs: list[Pair], batch_size: int) -> list[list[int]]:
    return [list(range(i, min(i + batch_size, len(pairs)))) for i in range(0, len(pairs), batch_size)]  # fmt: skip


def _scored(model: Any, reference: bool) -> Any:
    """No gradients, eval mode (no dropout) and, for the reference, the adapter switched off."""
    from contextlib import ExitStack

    import torch

    stack = ExitStack()
    stack.enter_context(torch.no_grad())
    disable = getattr(model, "disable_adapter", None)
    stack.enter_context(disable() if reference and callable(disable) else nullcontext())
    was = model.training
    model.eval()
    stack.callback(model.train, was)
    return stack


def reference_logps(model: Any, pairs: list[Pair], *, batch_size: int, pad_id: int, device: str,
                    precision: str, fused: bool, cancelled: Any, progress: Any = None) -> Any:  # fmt: skip
    """(pairs, 2): the reference model's log-probability of each chosen and rejected reply."""
    import torch

    from engine.training import evaluate, modeling

    out = torch.zeros((len(pairs), 2), dtype=torch.float32)
    with _scored(model, reference=True):
        for done, picks in enumerate(_batches(pairs, batch_size)):
            if cancelled():
                raise Cancelled({"step": 0, "checkpoint": 0})
            batch = evaluate.to_device(collate(pairs, picks, pad_id=pad_id), device)
            with modeling.autocast(device, precision):
                logps, *_ = sequence_logps(model, batch, fused=fused)
            n = len(picks)
            out[picks] = torch.stack([logps[:n], logps[n:]], 1).float().cpu()
            if progress is not None:
                progress(picks[-1] + 1, len(pairs), done)
    return out


def fingerprint(*groups: list[Pair]) -> str:
    digest = hashlib.sha256()
    for pairs in groups:
        digest.update(b"|%d|" % len(pairs))
        for p in pairs:
            for ex in (p.chosen, p.rejected):
                digest.update(array("q", ex.input_ids).tobytes())
                digest.update(array("q", ex.labels).tobytes())
    return digest.hexdigest()


def load_reference(folder: Path, key: str) -> dict[str, Any] | None:
    """The saved reference log-probabilities when they were made for pairs ``key``."""
    from safetensors import safe_open

    path = folder / REFERENCE_FILE
    try:
        with safe_open(str(path), framework="pt") as fh:
            if (fh.metadata() or {}).get("fingerprint") != key:
                return None
            return {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118
    except Exception:  # missing or damaged (safetensors' own error is a plain Exception): rescore
        return None


def save_reference(folder: Path, key: str, tensors: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    tmp = folder / f".{REFERENCE_FILE}.{os.getpid()}"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"fingerprint": key})  # fmt: skip
    os.replace(tmp, folder / REFERENCE_FILE)


def evaluate_pairs(model: Any, loss_fn: PreferenceLoss, pairs: list[Pair], *, batch_size: int,
                   pad_id: int, device: str, precision: str, cancelled: Any) -> dict[str, float]:  # fmt: skip
    """The preference loss and reward statistics on held-out pairs, prefixed ``eval_``."""
    from engine.training import evaluate, modeling

    if not pairs:
        return {}
    loss_fn.reset()
    total = 0.0
    with _scored(model, reference=False):
        for picks in _batches(pairs, batch_size):
            if cancelled():
                return {}
            batch = evaluate.to_device(collate(pairs, picks, pad_id=pad_id), device)
            with modeling.autocast(device, precision):
                value, _n = loss_fn(model, batch)
            total += float(value)
    return {"eval_pref_loss": total / len(pairs), **{f"eval_{k}": v for k, v in loss_fn.take().items()}}  # fmt: skip
