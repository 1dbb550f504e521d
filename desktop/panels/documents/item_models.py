"""Item models of the Documents panel, all on ``RecordTableModel`` (guarded ``data()``):
collections, the files of one collection with their status, search hits, chunks, and the
evaluation table (one row per retrieval mode)."""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont

from desktop.format import clock, human_bytes
from desktop.table_model import RecordTableModel

DISPLAY = Qt.ItemDataRole.DisplayRole
TOOLTIP = Qt.ItemDataRole.ToolTipRole
RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
STATUS_COLORS = {
    "indexed": "#2e7d32",
    "indexing": "#c77c02",
    "failed": "#c62828",
    "skipped": "#757575",
}
MODES = ("hybrid", "dense", "bm25")
MODE_LABELS = {"hybrid": "Hybrid (dense + BM25)", "dense": "Dense only", "bm25": "BM25 only"}
METRICS = ("hit@1", "hit@3", "hit@5", "mrr")


def one_line(text: str | None, limit: int = 160) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def page_text(record: dict[str, Any]) -> str:
    page, end = record.get("page"), record.get("page_end")
    if not page:
        return "–"
    return f"{page}–{end}" if end and end != page else str(page)


class CollectionsModel(RecordTableModel):
    COLUMNS: ClassVar[tuple[str, ...]] = ("Collection", "Files", "Chunks")

    def names(self) -> list[str]:
        return [r.get("name", "") for r in self._rows]

    def cell(self, c: dict[str, Any], column: int, role: int) -> Any:
        files = c.get("files") or {}
        if role == DISPLAY:
            if column == 0:
                return c.get("name")
            if column == 1:
                return f"{int(files.get('indexed') or 0):,}"
            return f"{int(c.get('chunks') or 0):,}"
        if role == TOOLTIP:
            store = c.get("server_url") or "embedded Qdrant (on this computer)"
            return (
                f"{c.get('name')}\nStore: {store}\nEmbedder: {c.get('embedder_id')}\n"
                f"Files: {int(files.get('indexed') or 0)} indexed, "
                f"{int(files.get('skipped') or 0)} skipped, {int(files.get('failed') or 0)} failed\n"
                f"Size: {human_bytes(c.get('size_bytes'))} · changed {clock(c.get('updated_at'))}"
            )
        if role == Qt.ItemDataRole.TextAlignmentRole and column > 0:
            return RIGHT
        return None


class FilesModel(RecordTableModel):
    """The files of a collection (``docs.files``); failed and skipped rows say why."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "File",
        "Status",
        "Chunks",
        "Size",
        "Pages",
        "Type",
        "Reason / notes",
    )
    STATUS_COLUMN = 1

    def row_of(self, record_id: str) -> int:  # files are keyed by path
        return next((i for i, r in enumerate(self._rows) if r.get("path") == record_id), -1)

    def paths(self) -> list[str]:
        return [r["path"] for r in self._rows]

    def status_of(self, name: str) -> str | None:
        row = next((r for r in self._rows if r.get("name") == name), None)
        return row.get("status") if row else None

    def cell(self, f: dict[str, Any], column: int, role: int) -> Any:
        status = f.get("status") or ""
        if role == DISPLAY:
            if column == 0:
                return f.get("name")
            if column == 1:
                return status
            if column == 2:
                return f"{int(f.get('chunks') or 0):,}" if status == "indexed" else "–"
            if column == 3:
                return human_bytes(f.get("size"))
            if column == 4:
                return str(f["pages"]) if f.get("pages") else "–"
            if column == 5:
                return f.get("type") or "–"
            return f.get("reason") or "; ".join(f.get("notes") or [])
        if role == TOOLTIP:
            lines = [f.get("path") or ""]
            if f.get("reason"):
                lines.append(f"{status.title()}: {f['reason']}")
            lines += list(f.get("notes") or [])
            if f.get("updated_at"):
                lines.append(f"Updated {clock(f.get('updated_at'))}")
            return "\n".join(lines)
        coloured = column == 1 or (column == 6 and status == "failed")
        if role == Qt.ItemDataRole.ForegroundRole and coloured and status in STATUS_COLORS:
            return QColor(STATUS_COLORS[status])
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (2, 3, 4):
            return RIGHT
        return None


SCORE_NAMES = {  # what a hit's score is, by retrieval mode: (column title, what it means)
    "hybrid": ("Fused score", "Reciprocal-rank fusion of the dense and BM25 rankings: a rank "
               "score, not a similarity; higher ranks first (hover a row for both parts)"),
    "dense": ("Similarity", "Cosine similarity of the query's and the chunk's embeddings, "
              "from -1 to 1; above the collection's relevance threshold"),
    "bm25": ("BM25", "Keyword relevance (BM25): grows with rare query words in the chunk; "
             "not comparable across queries"),
}  # fmt: skip


class HitsModel(RecordTableModel):
    """Search results (``docs.search`` hits), ranked; the score column is named for the mode
    that produced them."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("#", "Score", "File", "Page", "Heading", "Text")
    mode: str | None = None

    def set_mode(self, mode: str | None) -> None:
        self.mode = mode
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 1, 1)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = DISPLAY) -> Any:
        named = SCORE_NAMES.get(self.mode or "")
        if named and section == 1 and orientation == Qt.Orientation.Horizontal:
            if role == DISPLAY:
                return named[0]
            if role == TOOLTIP:
                return named[1]
        return super().headerData(section, orientation, role)

    def row_of(self, record_id: str) -> int:
        return next((i for i, r in enumerate(self._rows) if r.get("id") == record_id), -1)

    def cell(self, h: dict[str, Any], column: int, role: int) -> Any:
        if role == DISPLAY:
            if column == 0:
                return str(h.get("rank"))
            if column == 1:
                return score_text(h.get("score"))
            if column == 2:
                return h.get("name") or h.get("file")
            if column == 3:
                return page_text(h)
            if column == 4:
                return h.get("heading") or "–"
            return one_line(h.get("text"))
        if role == TOOLTIP:
            parts = [f"{h.get('file')}"]
            if h.get("dense_score") is not None:
                parts.append(f"dense (cosine) {score_text(h['dense_score'])}")
            if h.get("bm25_score") is not None:
                parts.append(f"BM25 {score_text(h['bm25_score'])}")
            parts.append(f"chunk {h.get('index')} · {h.get('tokens')} tokens")
            return "\n".join(parts)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 1, 3):
            return RIGHT
        return None


def score_text(score: float | None) -> str:
    if score is None:
        return "–"
    return f"{score:.4f}" if abs(score) < 1 else f"{score:.2f}"


class ChunksModel(RecordTableModel):
    """Chunks of one file, stored (``docs.chunks``) or previewed (``docs.preview``)."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("#", "Tokens", "Page", "Heading", "Span", "Text")

    def row_of(self, record_id: str) -> int:
        return next((i for i, r in enumerate(self._rows) if r.get("index") == record_id), -1)

    def cell(self, c: dict[str, Any], column: int, role: int) -> Any:
        if role == DISPLAY:
            if column == 0:
                return str(c.get("index"))
            if column == 1:
                return str(c.get("tokens") if c.get("tokens") is not None else "–")
            if column == 2:
                return page_text(c)
            if column == 3:
                return c.get("heading") or "–"
            if column == 4:
                return f"{c.get('start')}–{c.get('end')}"
            return one_line(c.get("text"))
        if role == TOOLTIP and column == 5:
            return one_line(c.get("text"), 600)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 1, 2):
            return RIGHT
        return None


class EvalModel(RecordTableModel):
    """``docs.eval`` figures: one row per mode, the best figure of each column in bold."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("Mode", "hit@1", "hit@3", "hit@5", "MRR")

    def set_report(self, report: dict[str, Any] | None) -> None:
        rows = []
        for mode in MODES:
            figures = (report or {}).get(mode)
            if isinstance(figures, dict):
                rows.append({"id": mode, **figures})
        self.set_records(rows)

    def value(self, mode: str, metric: str) -> float | None:
        row = self.row_of(mode)
        return None if row < 0 else self._rows[row].get(metric)

    def _best(self, metric: str) -> float | None:
        values = [r.get(metric) for r in self._rows if isinstance(r.get(metric), (int, float))]
        return max(values) if values else None

    def cell(self, r: dict[str, Any], column: int, role: int) -> Any:
        metric = METRICS[column - 1] if column else ""
        if role == DISPLAY:
            if column == 0:
                return MODE_LABELS.get(r["id"], r["id"])
            value = r.get(metric)
            return "–" if value is None else f"{value:.3f}"
        if role == Qt.ItemDataRole.FontRole and column and len(self._rows) > 1:
            best = self._best(metric)
            if best is not None and r.get(metric) == best:
                font = QFont()
                font.setBold(True)
                return font
        if role == TOOLTIP and column:
            return (
                f"share of questions with a hit in the top {metric.split('@')[1]}" + " results"
                if "@" in metric
                else "mean reciprocal rank of the first hit (1 = always first)"
            )
        if role == Qt.ItemDataRole.TextAlignmentRole and column:
            return RIGHT
        return None
