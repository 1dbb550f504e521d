"""Reviews before a cleaning step changes anything.

``ClusterReviewDialog`` lists the duplicate clusters a dry-run dedup found, each row with a check
box (checked: remove; the first row of a cluster is kept), its text fetched on demand with
``data.row``. ``LeaksDialog`` lists the rows a contamination check found. Both emit the positions
to remove (``data.remove_rows``). ``ScrubPreviewDialog`` shows what a PII scrub would replace.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient
from desktop.panels.datasets.rowtext import elide, row_summary

MAX_SHOWN = 2000  # clusters or rows listed; the rest are removed as proposed
PRELOAD = 20  # clusters whose rows' text is fetched at once


class ReviewDialog(QDialog):
    sig_remove = Signal(object)
    """Remove these row positions (a list of ints)."""

    def __init__(self, title: str, action: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(760, 560)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setUniformRowHeights(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.action_button = self.buttons.addButton(action, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.hidden_positions: list[int] = []  # proposed removals beyond MAX_SHOWN
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.buttons)
        self.tree.itemChanged.connect(lambda *_a: self._update_action())

    def checked_positions(self) -> list[int]:
        out: list[int] = []
        stack = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        while stack:
            item = stack.pop()
            position = item.data(0, Qt.ItemDataRole.UserRole)
            if position is not None and item.checkState(0) == Qt.CheckState.Checked:
                out.append(int(position))
            stack.extend(item.child(i) for i in range(item.childCount()))
        return sorted(set(out + self.hidden_positions))

    def _update_action(self) -> None:
        n = len(self.checked_positions())
        self.action_button.setText(f"Remove {n:,} row{'s' if n != 1 else ''}")
        self.action_button.setEnabled(n > 0)

    def accept(self) -> None:
        self.sig_remove.emit(self.checked_positions())
        super().accept()

    @staticmethod
    def row_item(parent: QTreeWidgetItem | QTreeWidget, position: int, checked: bool, text: str):
        item = QTreeWidgetItem(parent)
        item.setData(0, Qt.ItemDataRole.UserRole, position)
        item.setText(0, f"row {position}")
        item.setText(1, text)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        return item


class ClusterReviewDialog(ReviewDialog):
    def __init__(
        self,
        client: EngineClient,
        dataset_id: str,
        result: dict[str, Any],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Review duplicates", "Remove", parent)
        self.client = client
        self.dataset_id = dataset_id
        self.items: dict[int, QTreeWidgetItem] = {}
        clusters = result.get("clusters") or []
        kind = f"near-duplicate (≥ {result.get('threshold')})" if result.get("near") else "exact"
        self.summary.setText(
            f"{len(clusters):,} {kind} clusters; removing the checked rows takes the dataset from "
            f"{int(result.get('rows_before') or 0):,} to about "
            f"{int(result.get('rows_after') or 0):,} rows. Uncheck a row to keep it; the first "
            "row of each cluster is kept."
        )
        self.tree.setHeaderLabels(["Row", "Text"])
        self.tree.setColumnWidth(0, 190)
        self.tree.blockSignals(True)
        for n, cluster in enumerate(clusters[:MAX_SHOWN]):
            sim = float(cluster.get("similarity") or 1.0)
            top = QTreeWidgetItem(self.tree)
            top.setText(0, f"Cluster {n + 1}")
            top.setText(1, f"{len(cluster['rows'])} rows · similarity {sim:.2f}")
            removed = set(cluster.get("remove") or [])
            for position in cluster["rows"]:
                self.items[position] = self.row_item(top, position, position in removed, "…")
            top.setExpanded(n < PRELOAD)
        self.tree.blockSignals(False)
        for cluster in clusters[MAX_SHOWN:]:
            self.hidden_positions.extend(cluster.get("remove") or [])
        self.tree.itemExpanded.connect(self._load_cluster)
        for n in range(min(PRELOAD, self.tree.topLevelItemCount())):
            self._load_cluster(self.tree.topLevelItem(n))
        self._update_action()

    def _load_cluster(self, top: QTreeWidgetItem) -> None:
        for i in range(top.childCount()):
            child = top.child(i)
            position = int(child.data(0, Qt.ItemDataRole.UserRole))
            if child.text(1) == "…":
                child.setText(1, "loading…")
                request(
                    self, self.client, "data.row", {"id": self.dataset_id, "index": position},
                    ok=lambda r, c=child: c.setText(1, row_summary(r.get("row") or {}, 160)),
                    fail=lambda e, c=child: c.setText(1, e.message),
                )  # fmt: skip


class LeaksDialog(ReviewDialog):
    def __init__(self, result: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__("Leaking rows", "Remove", parent)
        leaking = result.get("leaking") or []
        self.summary.setText(
            f"{int(result.get('leaking_count') or len(leaking)):,} of "
            f"{int(result.get('checked_rows') or 0):,} training rows share "
            f"{result.get('ngram')}-word sequences with the evaluation set "
            f"({int(result.get('eval_rows') or 0):,} rows). Checked rows are removed."
        )
        self.tree.setHeaderLabels(["Row", "Overlap", "Shared", "Eval row", "Text"])
        self.tree.setRootIsDecorated(False)
        self.tree.setColumnWidth(0, 110)
        self.tree.blockSignals(True)
        for leak in leaking[:MAX_SHOWN]:
            item = self.row_item(self.tree, int(leak["position"]), True, "")
            item.setText(0, f"row {leak.get('index')}")
            item.setText(1, f"{float(leak.get('overlap') or 0):.0%}")
            item.setText(2, f"{leak.get('shared_ngrams')}")
            item.setText(3, f"{leak.get('eval_index')}")
            item.setText(4, elide(" ".join(str(leak.get("text") or "").split()), 200))
        self.tree.blockSignals(False)
        self.hidden_positions = [int(x["position"]) for x in leaking[MAX_SHOWN:]]
        self._update_action()
        if not leaking:
            self.action_button.hide()


class ScrubPreviewDialog(QDialog):
    """What a scrub would replace; Apply runs it for real."""

    def __init__(self, result: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Personal data found")
        self.resize(720, 480)
        counts = result.get("counts") or {}
        found = ", ".join(f"{n:,} {kind}" for kind, n in counts.items() if n) or "nothing"
        label = QLabel(f"Found {found} in {int(result.get('rows_changed') or 0):,} rows.")
        label.setWordWrap(True)
        text = QPlainTextEdit()
        text.setReadOnly(True)
        text.setPlainText(
            "\n\n".join(
                f"row {e.get('index')}:\n  before: {elide(str(e.get('before')), 300)}\n"
                f"  after:  {elide(str(e.get('after')), 300)}"
                for e in result.get("examples") or []
            )
        )
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.apply_button = buttons.addButton("Apply", QDialogButtonBox.ButtonRole.AcceptRole)
        self.apply_button.setEnabled(bool(result.get("rows_changed")))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(text, 1)
        layout.addWidget(buttons)
