"""Item models of the Training panel: the runs (``train.list``), a run's sample answers, and the
base-versus-tuned answers of an evaluation."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor

from desktop.format import clock
from desktop.table_model import RecordTableModel

STATE_COLOURS = {"running": "#1d5fa8", "succeeded": "#1d7a34", "failed": "#b3261e",
                 "interrupted": "#b06d00", "cancelled": "#777777"}  # fmt: skip


def step_text(run: dict[str, Any]) -> str:
    step, total = run.get("step") or 0, run.get("total_steps") or 0
    return f"{step} / {total}" if total else str(step)


def final_loss(run: dict[str, Any]) -> float | None:
    return (run.get("summary") or {}).get("final_loss")


class RunsModel(RecordTableModel):
    COLUMNS = ("Name", "Model", "Dataset", "Method", "State", "Step", "Final loss", "Created")

    def cell(self, run: dict[str, Any], column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and column == 4:
            colour = STATE_COLOURS.get(run.get("state") or "")
            return QColor(colour) if colour else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return run.get("error") or run.get("folder")
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        dataset = run.get("dataset") or {}
        loss = final_loss(run)
        return (
            run.get("name") or run.get("id"),
            run.get("model_name") or run.get("model_id"),
            dataset.get("name") or dataset.get("ref") or "–",
            method_text(run),
            run.get("state") or "–",
            step_text(run),
            f"{loss:.4f}" if loss is not None else "–",
            clock(run.get("created_at")),
        )[column]


class SamplesModel(RecordTableModel):
    """Sample answers written during training: ``{step, prompt, answer}``, in step order."""

    COLUMNS = ("Step", "Prompt", "Answer")

    def add(self, sample: dict[str, Any]) -> None:
        key = (sample.get("step"), sample.get("prompt"))
        if any((s.get("step"), s.get("prompt")) == key for s in self._rows):
            return
        step = sample.get("step") or 0  # a backfill can arrive after newer live samples
        row = next(
            (i for i, s in enumerate(self._rows) if (s.get("step") or 0) > step), len(self._rows)
        )
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.insert(row, sample)
        self.endInsertRows()

    def cell(self, sample: dict[str, Any], column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ToolTipRole and column > 0:
            return (sample.get("prompt"), sample.get("answer"))[column - 1]
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return (
            str(sample.get("step", "")),
            sample.get("prompt") or "",
            sample.get("answer") or "",
        )[column]


class ComparisonsModel(RecordTableModel):
    """An evaluation's greedy answers: ``{prompt, base, tuned}``."""

    COLUMNS = ("Prompt", "Base model", "Tuned model")

    def cell(self, row: dict[str, Any], column: int, role: int) -> Any:
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        return (row.get("prompt") or "", row.get("base") or "", row.get("tuned") or "")[column]


def method_text(run: dict[str, Any]) -> str:
    """The run's method, with its objective when it learns from preference pairs: "lora · DPO"."""
    method = run.get("method") or "–"
    objective = run.get("objective") or "sft"
    return method if objective == "sft" else f"{method} · {objective.upper()}"
