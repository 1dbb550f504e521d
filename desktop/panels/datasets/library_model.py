"""``DatasetsListModel``: the dataset library (``data.list``) as a table of names and row counts,
with the format, source, splits and versions in the tooltip."""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import Qt

from desktop.format import clock
from desktop.table_model import RecordTableModel


class DatasetsListModel(RecordTableModel):
    COLUMNS: ClassVar[tuple[str, ...]] = ("Name", "Rows")

    def set_datasets(self, datasets: list[dict[str, Any]]) -> None:
        self.set_records(datasets)

    def dataset_at(self, row: int) -> dict[str, Any] | None:
        return self.record_at(row)

    def names(self) -> list[str]:
        return [r["name"] for r in self._rows]

    def cell(self, record: dict[str, Any], column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return record.get("name")
            if column == 1:
                return f"{int(record.get('rows') or 0):,}"
        if role == Qt.ItemDataRole.ToolTipRole:
            source = record.get("source") or {}
            where = source.get("path") or source.get("kind") or "–"
            splits = record.get("splits") or []
            split_text = ", ".join(f"{s['name']} {s['rows']:,}" for s in splits) or "none"
            return (
                f"{record.get('name')} ({record.get('format')})\nSource: {where}\n"
                f"Splits: {split_text}\n"
                f"Versions: {record.get('versions')} (current {record.get('version')})\n"
                f"Changed: {clock(record.get('updated_at'))}"
            )
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
