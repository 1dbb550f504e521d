"""The tables of an evaluation run in the Evaluate panel: every row with each model's answer and
scores (optionally only where the models differ), the leaderboard of every model measured on the
same data, and the rows' export as CSV or the run as JSON. A mixin of ``EvaluatePanel``, which
holds the widgets and the shown run."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QTableWidgetItem

LOWER_IS_BETTER = {"perplexity"}


def _cell(m: dict[str, float] | None) -> str:
    if not m:
        return ""
    if m["ci_low"] == m["ci_high"] == m["value"]:
        return f"{m['value']:.4g}"
    return f"{m['value']:.4g} [{m['ci_low']:.4g}, {m['ci_high']:.4g}]"


class _Number(QTableWidgetItem):
    """A cell that sorts by its number, not its text."""

    def __init__(self, text: str, value: float | None) -> None:
        super().__init__(text)
        self.value = float("-inf") if value is None else float(value)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, _Number):
            return self.value < other.value
        return super().__lt__(other)


class RunTables:
    shown: dict[str, Any] | None
    runs: list[dict[str, Any]]

    def visible_rows(self) -> list[dict[str, Any]]:
        rows = list((self.shown or {}).get("rows") or [])
        if self.only_differ.isChecked():
            by_index: dict[int, list[dict[str, Any]]] = {}
            for r in rows:
                by_index.setdefault(r["index"], []).append(r)
            keep = {i for i, group in by_index.items()
                    if len({json.dumps(g["scores"], sort_keys=True) for g in group}) > 1}  # fmt: skip
            rows = [r for r in rows if r["index"] in keep]
        model = self.row_model.currentData()
        if model:
            rows = [r for r in rows if r["model_id"] == model]
        return rows

    def _fill_rows(self) -> None:
        rows = self.visible_rows()
        names = sorted({k for r in rows for k in r["scores"]})
        model_names = {r["model_id"]: r.get("name") or r["model_id"] for r in (self.shown or {}).get("results") or []}  # fmt: skip
        headers = ["row", "model", "input", "reference", "answer", *names]
        self.rows.setSortingEnabled(False)
        self.rows.clear()
        self.rows.setColumnCount(len(headers))
        self.rows.setHorizontalHeaderLabels(headers)
        self.rows.setRowCount(len(rows))
        for i, r in enumerate(rows):
            self.rows.setItem(i, 0, _Number(str(r["index"] + 1), r["index"]))
            self.rows.setItem(i, 1, QTableWidgetItem(model_names.get(r["model_id"], r["model_id"])))
            for col, key in ((2, "input"), (3, "reference"), (4, "prediction")):
                item = QTableWidgetItem(r[key])
                item.setToolTip(r[key])
                self.rows.setItem(i, col, item)
            for col, n in enumerate(names, 5):
                value = r["scores"].get(n)
                self.rows.setItem(i, col, _Number("" if value is None else f"{value:.3g}", value))
        for col, width in ((0, 40), (1, 150), (2, 230), (3, 150), (4, 300)):
            self.rows.setColumnWidth(col, width)
        self.rows.setSortingEnabled(True)
        if (self.shown or {}).get("kind") != "tasks":
            self.rows.setRowCount(0)

    def _fill_board(self) -> None:
        """Every model evaluated on the same data and kind of measure, best run per model."""
        shown = self.shown or {}
        same = [r for r in self.runs if r.get("kind") == shown.get("kind")
                and r.get("dataset_name") == shown.get("dataset") and r.get("split") == shown.get("split")]  # fmt: skip
        metrics: list[str] = []
        best: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        for run in same:
            for res in run.get("results") or []:
                for m in res["metrics"]:
                    if m not in metrics:
                        metrics.append(m)
                best.setdefault(res["model_id"], (res, run))  # runs come newest first
        key = metrics[0] if metrics else None
        sign = 1 if key in LOWER_IS_BETTER else -1
        ordered = sorted(best.values(), key=lambda rr: sign * rr[0]["metrics"].get(key, {}).get("value", 0) if key else 0)  # fmt: skip
        self.board.setSortingEnabled(False)
        self.board.clear()
        headers = ["model", *metrics, "run"]
        self.board.setColumnCount(len(headers))
        self.board.setHorizontalHeaderLabels(headers)
        self.board.setRowCount(len(ordered))
        for i, (res, run) in enumerate(ordered):
            self.board.setItem(i, 0, QTableWidgetItem(res.get("name") or res["model_id"]))
            for col, m in enumerate(metrics, 1):
                self.board.setItem(i, col, _Number(_cell(res["metrics"].get(m)), res["metrics"].get(m, {}).get("value")))  # fmt: skip
            self.board.setItem(i, len(headers) - 1, QTableWidgetItem(run["run_id"]))
        self.board.resizeColumnsToContents()
        if key:  # sorted as built: best first by the first metric
            order = (
                Qt.SortOrder.AscendingOrder
                if key in LOWER_IS_BETTER
                else Qt.SortOrder.DescendingOrder
            )
            self.board.horizontalHeader().setSortIndicator(1, order)
        self.board.setSortingEnabled(True)
        where = f"{shown.get('dataset')}" + (
            f", split {shown['split']}" if shown.get("split") else ""
        )
        count = f"{len(ordered)} model{'s' if len(ordered) != 1 else ''}"
        self.board_note.setText(f"{count} measured on {where} ({shown.get('kind')}), the latest run of each; best {key or '—'} first (click a column to sort by it).")  # fmt: skip

    # -- export --------------------------------------------------------------------------------------
    def _export_csv(self) -> None:
        if not self.shown:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export rows", f"{self.shown['run_id']}.csv", "CSV (*.csv)")  # fmt: skip
        if path:
            self.write_csv(Path(path))

    def write_csv(self, path: Path) -> None:
        rows = self.visible_rows()
        names = sorted({k for r in rows for k in r["scores"]})
        try:
            with open(path, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["row", "model_id", "input", "reference", "prediction", *names])
                for r in rows:
                    w.writerow([r["index"] + 1, r["model_id"], r["input"], r["reference"], r["prediction"],
                                *(r["scores"].get(n, "") for n in names)])  # fmt: skip
        except OSError as exc:
            self.message.show_message(f"Cannot write {path}: {exc.strerror or exc}.", "error")
            return
        self.message.show_message(f"Wrote {len(rows)} rows to {path}.", "success", timeout_ms=6000)

    def _export_json(self) -> None:
        if not self.shown:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export run", f"{self.shown['run_id']}.json", "JSON (*.json)")  # fmt: skip
        if path:
            try:
                Path(path).write_text(json.dumps(self.shown, indent=1, ensure_ascii=False), encoding="utf-8")  # fmt: skip
            except OSError as exc:
                self.message.show_message(f"Cannot write {path}: {exc.strerror or exc}.", "error")
