"""Token alignment of a prompt pair: which positions of the two prompts correspond.

The prompts share a prefix and a suffix of tokens; between them is the part that differs (the
group words). Shared positions align one to one. The differing part aligns one to one when both
prompts tokenize it to the same number of tokens; otherwise it becomes *one* row joining the
differing tokens of each side (their activations are averaged over the span), and the pair is
marked ``unequal``. No pair is dropped for having different token counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Alignment:
    tokens_a: list[str]
    tokens_b: list[str]
    prefix: int  # shared leading tokens
    suffix: int  # shared trailing tokens
    rows: list[tuple[list[int], list[int], bool]] = field(default_factory=list)
    """(positions in a, positions in b, differs) per aligned row, in reading order."""

    @property
    def equal_length(self) -> bool:
        return len(self.tokens_a) == len(self.tokens_b)

    @property
    def differing(self) -> list[int]:
        """Indexes of the rows that differ."""
        return [i for i, (_a, _b, d) in enumerate(self.rows) if d]

    def labels(self) -> list[str]:
        """One label per row: the token, or ``a / b`` where the prompts differ."""
        out = []
        for ia, ib, differs in self.rows:
            ta = "".join(self.tokens_a[i] for i in ia)
            tb = "".join(self.tokens_b[i] for i in ib)
            out.append(f"{ta} / {tb}" if differs else ta)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"tokens_a": self.tokens_a, "tokens_b": self.tokens_b, "prefix": self.prefix,
                "suffix": self.suffix, "equal_length": self.equal_length,
                "rows": [{"a": a, "b": b, "differs": d} for a, b, d in self.rows],
                "labels": self.labels()}  # fmt: skip


def align(
    ids_a: list[int], ids_b: list[int], tokens_a: list[str], tokens_b: list[str]
) -> Alignment:
    n_a, n_b = len(ids_a), len(ids_b)
    prefix = 0
    while prefix < min(n_a, n_b) and ids_a[prefix] == ids_b[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < min(n_a, n_b) - prefix
           and ids_a[n_a - 1 - suffix] == ids_b[n_b - 1 - suffix]):  # fmt: skip
        suffix += 1
    rows: list[tuple[list[int], list[int], bool]] = [([i], [i], False) for i in range(prefix)]
    mid_a = list(range(prefix, n_a - suffix))
    mid_b = list(range(prefix, n_b - suffix))
    if len(mid_a) == len(mid_b):
        rows += [([i], [j], True) for i, j in zip(mid_a, mid_b, strict=True)]
    elif mid_a and mid_b:
        rows.append((mid_a, mid_b, True))
    else:  # one side adds tokens the other lacks: join them to the token before
        if rows:
            last_a, last_b, _ = rows.pop()
            rows.append((last_a + mid_a, last_b + mid_b, True))
        else:
            rows.append((mid_a or [0], mid_b or [0], True))
    rows += [([n_a - suffix + k], [n_b - suffix + k], False) for k in range(suffix)]
    return Alignment(list(tokens_a), list(tokens_b), prefix, suffix, rows)
