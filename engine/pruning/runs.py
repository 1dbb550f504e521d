"""Pruning runs: one folder per pruning under ``<root>/runs/<run id>/``, beside training runs.

    run.json    the request, the plan with per-layer scores, what was cut, the figures before and
                after, the answers side by side, the library model made, its recoveries and exports
    model/      the pruned model (safetensors folder with its tokenizer and hearth-lineage.json)

The record layout, locking and atomic writes are the training runs' (``RunStore``); only the kind
differs, so each store lists its own runs.
"""

from __future__ import annotations

from typing import Any

from engine.training.runs import RunStore


class PruneRunStore(RunStore):
    kind = "prune"
    noun = "pruning run"
    list_hint = "hearth-engine prune list"

    def family(self, parent_id: str) -> list[dict[str, Any]]:
        """Every finished pruning of ``parent_id`` (for the perplexity-vs-parameters plot)."""
        return [r for r in self.list() if r.get("request", {}).get("model_id") == parent_id
                and r.get("result")]  # fmt: skip
