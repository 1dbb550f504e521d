"""``ArenaTab``: one prompt at a time, the models' answers side by side without their names
(labelled A, B, C, D in an order shuffled per prompt), a vote for the best or a tie, the running
table of win rates, Elo and Bradley-Terry ratings, and the votes as a preference dataset."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient
from desktop.errors import EngineError


class ArenaTab(QWidget):
    def __init__(self, client: EngineClient, message: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.message = message
        self.run_id: str | None = None
        self.shown: dict[str, Any] | None = None
        self.board: dict[str, Any] | None = None
        self.prompt = QLabel(
            "Select an arena run: its prompts appear here with the answers, blind."
        )
        self.prompt.setWordWrap(True)
        self.prompt.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.answers_row = QHBoxLayout()
        self.boxes: list[QTextBrowser] = []
        self.buttons_row = QHBoxLayout()
        self.vote_buttons: dict[str, QPushButton] = {}
        for slot in ("A", "B", "C", "D", "tie"):
            button = QPushButton(f"{slot} is best" if slot != "tie" else "Tie")
            button.clicked.connect(lambda _c=False, s=slot: self.vote(s))
            self.vote_buttons[slot] = button
            self.buttons_row.addWidget(button)
        self.skip_button = QPushButton("Skip")
        self.skip_button.setToolTip("Show the next prompt without voting on this one")
        self.skip_button.clicked.connect(self.skip)
        self.buttons_row.addWidget(self.skip_button)
        self.buttons_row.addStretch(1)
        self.progress = QLabel()
        self.buttons_row.addWidget(self.progress)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.export_button = QPushButton("Export preferences…")
        self.export_button.setToolTip("Each vote with a winner becomes prompt / chosen / rejected rows of a new dataset")  # fmt: skip
        self.export_button.clicked.connect(self.export)
        votes = QGroupBox("Vote")
        vl = QVBoxLayout(votes)
        vl.addWidget(self.prompt)
        vl.addLayout(self.answers_row, 1)
        vl.addLayout(self.buttons_row)
        standings = QGroupBox("Standings")
        sl = QVBoxLayout(standings)
        sl.addWidget(self.table)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.export_button)
        sl.addLayout(row)
        layout = QVBoxLayout(self)
        split = QSplitter(
            Qt.Orientation.Vertical
        )  # votes above, standings below, either can shrink
        split.addWidget(votes)
        split.addWidget(standings)
        split.setSizes([420, 170])
        layout.addWidget(split)
        self._skipped: set[int] = set()
        self._show_buttons(0)

    def _show_buttons(self, n: int) -> None:
        for i, slot in enumerate("ABCD"):
            self.vote_buttons[slot].setVisible(i < n)
        for b in (self.vote_buttons["tie"], self.skip_button):
            b.setVisible(n > 0)

    def _fail(self, error: EngineError) -> None:
        self.message.show_message(error.message, "error")

    def open_run(self, run_id: str) -> None:
        if run_id != self.run_id:
            self._skipped.clear()
        self.run_id = run_id
        self.load_next()
        self.refresh_board()

    def load_next(self, index: int | None = None) -> None:
        if not self.run_id:
            return
        params: dict[str, Any] = {"run_id": self.run_id}
        if index is not None:
            params["index"] = index
        request(self, self.client, "eval.arena.next", params, ok=self.show_prompt, fail=self._fail)

    def show_prompt(self, shown: dict[str, Any]) -> None:
        self.shown = shown
        for box in self.boxes:
            box.setParent(None)
        self.boxes = []
        if shown.get("index") is None:
            left = shown.get("prompts", 0) - shown.get("answered", 0)
            self.prompt.setText(
                f"Every answered prompt has a vote ({shown.get('voted', 0)})."
                + (f" {left} prompts are still being answered." if left else "")
            )
            self._show_buttons(0)
            self.progress.setText("")
            return
        self.prompt.setText(f"<b>Prompt {shown['index'] + 1}</b>: {shown['prompt']}")
        for slot, text in zip(shown["slots"], shown["answers"], strict=True):
            box = QTextBrowser()
            box.setPlainText(text or "(no answer)")
            holder = QGroupBox(f"Answer {slot}")
            QVBoxLayout(holder).addWidget(box)
            self.answers_row.addWidget(holder, 1)
            self.boxes.append(holder)
        self._show_buttons(len(shown["slots"]))
        self.progress.setText(f"{shown['voted']} voted, {shown['remaining']} to go")

    def vote(self, slot: str) -> None:
        if not self.shown or self.shown.get("index") is None:
            return
        params = {"run_id": self.run_id, "index": self.shown["index"], "choice": slot}
        request(self, self.client, "eval.arena.vote", params, fail=self._fail,
                ok=lambda _r: (self.load_next(), self.refresh_board()))  # fmt: skip

    def skip(self) -> None:
        """The next prompt without a vote after this one (wrapping round)."""
        if not self.shown or self.shown.get("index") is None:
            return
        self._skipped.add(self.shown["index"])
        total = self.shown["prompts"]
        for step in range(1, total):
            index = (self.shown["index"] + step) % total
            if index not in self._skipped:
                self.load_next(index)
                return

    def refresh_board(self) -> None:
        if self.run_id:
            request(self, self.client, "eval.arena.results", {"run_id": self.run_id},
                    ok=self.show_board, fail=self._fail)  # fmt: skip

    def show_board(self, board: dict[str, Any]) -> None:
        self.board = board
        headers = ["model", "games", "wins", "ties", "losses", "win rate", "Elo", "Bradley-Terry"]
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(board["models"]))
        for i, r in enumerate(board["models"]):
            rate = "" if r["win_rate"] is None else f"{r['win_rate']:.0%}"
            for col, text in enumerate((r["name"], r["games"], r["wins"], r["ties"], r["losses"], rate,
                                        f"{r['elo']:.0f}", f"{r['bradley_terry']:.0f}")):  # fmt: skip
                self.table.setItem(i, col, QTableWidgetItem(str(text)))
        self.table.resizeColumnsToContents()

    def export(self) -> None:
        if not self.run_id:
            return
        name, ok = QInputDialog.getText(self, "Export preferences", "Name of the new dataset:", text=f"arena-{self.run_id}")  # fmt: skip
        if ok and name.strip():
            self.export_as(name.strip())

    def export_as(self, name: str) -> None:
        request(self, self.client, "eval.arena.export", {"run_id": self.run_id, "name": name}, fail=self._fail,
                ok=lambda r: self.message.show_message(f"Saved {r['rows']} preference rows as the dataset {r['name']} (Datasets).", "success", timeout_ms=8000))  # fmt: skip
