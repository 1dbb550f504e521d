"""The pair-set actions of the Bias panel: a new set written in the panel (from scratch or a
copy of the selected one), a JSONL import, and the selected set's export. A mixin of
``BiasPanel``, which holds the client, the set list and the message bar."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtWidgets import QFileDialog

from desktop.calls import request
from desktop.panels.bias.set_dialog import PairSetDialog


class SetActions:
    def new_set(self, copy_current: bool = True) -> None:
        """Open the set editor, filled with a copy of the selected set's pairs."""

        def show(pairs: list[dict[str, Any]]) -> None:
            self.set_dialog = PairSetDialog(self.client, pairs, self)
            self.set_dialog.sig_saved.connect(
                lambda s: self.message.show_message(
                    f"Saved the set {s['name']}: {s['pairs']} pairs.", "success", timeout_ms=6000
                )
            )
            self.set_dialog.open()

        name = self.set_combo.currentData()
        if copy_current and name:
            request(self, self.client, "bias.set.show", {"name": name}, fail=self.show_error,
                    ok=lambda r: show(r["pairs_list"]))  # fmt: skip
        else:
            show([])

    def import_set(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a pair set", "", "JSONL (*.jsonl *.json)"
        )
        if path:
            request(self, self.client, "bias.set.import", {"path": path}, fail=self.show_error,
                    ok=lambda s: (self.message.show_message(f"Imported {s['name']}: {s['pairs']} pairs.", "success", timeout_ms=6000),
                                  self.refresh()))  # fmt: skip

    def export_set(self) -> None:
        name = self.set_combo.currentData()
        if not name:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the set", f"{name}.jsonl", "JSONL (*.jsonl)"
        )
        if path:
            request(self, self.client, "bias.set.show", {"name": name}, fail=self.show_error,
                    ok=lambda s: self._write_set(path, s))  # fmt: skip

    def _write_set(self, path: str, shown: dict[str, Any]) -> None:
        keys = ("category", "a", "b", "note", "heldout")
        lines = [json.dumps({k: p[k] for k in keys if p.get(k) not in (None, "")} | {"heldout": p["heldout"]},
                            ensure_ascii=False) for p in shown["pairs_list"]]  # fmt: skip
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
        except OSError as exc:
            self.message.show_message(f"Cannot write {path}: {exc.strerror or exc}.", "error")
            return
        self.message.show_message(f"Exported {len(lines)} pairs to {path}.", "success", timeout_ms=6000)  # fmt: skip
