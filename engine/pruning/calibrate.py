"""Calibration and held-out text: where the activations that choose what to prune come from.

A source is a dataset from the library (its rows as plain text; chat rows as a transcript), a
text/Markdown/JSONL file, or, when none is named, Python's own reference documentation
(``pydoc_data.topics``, real English prose that ships with every Python, so Hearth calibrates
offline with nothing downloaded). The text is tokenized once and cut into fixed-length windows
with no padding. The windows are split in two: the first part calibrates, the rest measures
perplexity, so a result is never scored on the text it was tuned on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.evaluation.texts import default_text, read_file, source_text

__all__ = ["Text", "default_text", "load", "read_file", "source_text", "windows"]

if TYPE_CHECKING:
    from engine.services import Services

MIN_TOKENS = 256  # fewer calibration tokens than this cannot rank thousands of neurons
DEFAULT_SEQ = 256
DEFAULT_CAL_TOKENS = 8192
DEFAULT_EVAL_TOKENS = 4096


@dataclass
class Text:
    """Token windows ``[n, seq]`` for calibration and for held-out evaluation."""

    calibration: Any  # LongTensor
    held_out: Any  # LongTensor (may have 0 rows)
    source: dict[str, Any]

    @property
    def calibration_tokens(self) -> int:
        return int(self.calibration.numel())

    @property
    def held_out_tokens(self) -> int:
        return int(self.held_out.numel())


def windows(tokenizer: Any, text: str, *, seq_len: int, max_tokens: int) -> Any:
    """Token windows of ``seq_len`` from the first ``max_tokens`` tokens of ``text``."""
    import torch

    if not text.strip():
        raise UserError("The calibration text is empty; choose a dataset or file with text in it.")
    # tokenize a prefix long enough for the budget (about 4 characters a token, with margin)
    ids = tokenizer(text[: max_tokens * 8], add_special_tokens=False).input_ids
    ids = ids[:max_tokens]
    n = len(ids) // seq_len
    if n == 0:
        return torch.zeros((0, seq_len), dtype=torch.long)
    bos = tokenizer.bos_token_id
    rows = torch.tensor(ids[: n * seq_len], dtype=torch.long).view(n, seq_len)
    if bos is not None:  # each window starts like a document does
        rows[:, 0] = bos
    return rows


def load(services: Services, tokenizer: Any, *, dataset: str | None = None, file: str | None = None,
         seq_len: int = DEFAULT_SEQ, calibration_tokens: int = DEFAULT_CAL_TOKENS,
         eval_tokens: int = DEFAULT_EVAL_TOKENS) -> Text:  # fmt: skip
    """Calibration windows first, then held-out windows from the text that follows them."""
    text, source = source_text(services, dataset=dataset, file=file)
    seq_len = max(16, int(seq_len))
    rows = windows(tokenizer, text, seq_len=seq_len, max_tokens=calibration_tokens + eval_tokens)
    total = int(rows.numel())
    if total < MIN_TOKENS:
        raise UserError(
            f"The calibration text is {total} tokens; at least {MIN_TOKENS} are needed "
            f"(windows of {seq_len}). Choose a longer text."
        )
    n_cal = max(1, min(len(rows), calibration_tokens // seq_len))
    if n_cal == len(rows) and len(rows) > 1:  # keep something to measure on
        n_cal = max(1, len(rows) * 2 // 3)
    source = {**source, "seq_len": seq_len}
    return Text(rows[:n_cal], rows[n_cal:], source)
