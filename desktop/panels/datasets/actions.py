"""``DatasetActions``: what the Datasets panel's buttons do to the selected dataset.

Rows: edit, add and delete (``data.edit``, one new version each). Library: rename, delete.
Steps run as jobs with progress and cancel (``DataJobs``): filter, dedup (a dry run first when
the user wants to review the clusters, then ``data.remove_rows``), PII scrub (a dry run shown
before applying), contamination check (leaking rows listed, removable), convert, split, export
(with the dataset card) and generate. Every outcome, and every engine refusal with its own
message (e.g. "All 3 rows would be removed…"), goes to the panel's message bar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QInputDialog, QMessageBox

from desktop.calls import request
from desktop.panels.datasets.clean_dialogs import (
    ContaminationDialog,
    DedupDialog,
    FilterDialog,
    ScrubDialog,
)
from desktop.panels.datasets.generate_dialog import GenerateDialog
from desktop.panels.datasets.review import ClusterReviewDialog, LeaksDialog, ScrubPreviewDialog
from desktop.panels.datasets.row_dialog import RowEditDialog
from desktop.panels.datasets.rowtext import blank_row
from desktop.panels.datasets.split_export import ExportDialog, SplitDialog

if TYPE_CHECKING:
    from desktop.panels.datasets.panel import DatasetsPanel


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' if n != 1 else ''}"


class DatasetActions(QObject):
    sig_message = Signal(str, str)
    """Something to tell the user: text, kind (info, success, error)."""

    def __init__(self, panel: DatasetsPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.dialog: QDialog | None = None  # the open dialog (one at a time; tests reach it here)

    @property
    def client(self):
        return self.panel.client

    def _ds(self) -> dict[str, Any] | None:
        return self.panel.dataset

    def _error(self, message: str) -> None:
        self.sig_message.emit(message, "error")

    def _call(self, method: str, params: dict[str, Any], ok) -> None:
        request(self, self.client, method, params, ok=ok, fail=lambda e: self._error(e.message))

    def _open(self, dialog: QDialog, on_accept) -> None:
        self.dialog = dialog
        dialog.accepted.connect(on_accept)
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        dialog.open()

    def _step(self, method: str, params: dict[str, Any], title: str, done, **callbacks) -> None:
        ds = self._ds()
        if ds is None:
            return
        self.panel.jobs.start(
            method, {"id": ds["id"], **params}, title=title, on_success=done,
            on_failure=self._error,
            on_cancel=callbacks.get("on_cancel")
            or (lambda _j: self.sig_message.emit(f"{title}: cancelled; nothing changed.", "info")),
        )  # fmt: skip

    # -- rows -----------------------------------------------------------------------------

    def edit_row(self) -> None:
        ds, row = self._ds(), self.panel.table.currentIndex().row()
        record = self.panel.rows_model.record_at(row) if row >= 0 else None
        if ds is None or record is None:
            return
        position = int(record["position"])
        dialog = RowEditDialog(record["row"], fmt=ds.get("format"),
                               title=f"Edit row {record['index']}", parent=self.panel)  # fmt: skip
        self._open_row_dialog(dialog, lambda r: {"update": [{"index": position, "row": r}]})

    def add_row(self) -> None:
        ds = self._ds()
        if ds is None:
            return
        dialog = RowEditDialog(blank_row(ds.get("format")), fmt=ds.get("format"),
                               title="Add a row", parent=self.panel)  # fmt: skip
        self._open_row_dialog(dialog, lambda r: {"add": [r]})

    def _open_row_dialog(self, dialog: RowEditDialog, change) -> None:
        ds = self._ds()

        def submit(row: dict[str, Any]) -> None:
            request(dialog, self.client, "data.edit", {"id": ds["id"], **change(row)},
                    ok=lambda r: (dialog.saved(), self._edited(r)),
                    fail=lambda e: dialog.show_error(e.message))  # fmt: skip

        dialog.sig_submitted.connect(submit)
        self.dialog = dialog
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        dialog.open()

    def _edited(self, result: dict[str, Any]) -> None:
        version = result.get("version") or {}
        text = (version.get("summary") or {}).get("description") or "Saved."
        self.sig_message.emit(
            f"{text} Version {version.get('version')}; Undo reverts it.", "success"
        )

    def delete_rows(self) -> None:
        ds, rows = self._ds(), self.panel.selected_rows()
        if ds is None or not rows:
            return
        positions = [self.panel.rows_model.position_at(r) for r in rows]
        answer = QMessageBox.question(
            self.panel, "Delete rows",
            f"Delete {_plural(len(positions), 'row')} from {ds['name']}? "
            "This makes a new version; Undo brings them back.",
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Yes:
            self._call("data.edit", {"id": ds["id"], "delete": positions}, self._edited)

    # -- library --------------------------------------------------------------------------

    def rename_dataset(self) -> None:
        ds = self._ds()
        if ds is None:
            return
        name, ok = QInputDialog.getText(self.panel, "Rename dataset", "New name:", text=ds["name"])
        if ok and name.strip() and name.strip() != ds["name"]:
            self._call("data.rename", {"id": ds["id"], "name": name.strip()},
                       lambda d: self.sig_message.emit(f"Renamed to {d['name']}.", "success"))  # fmt: skip

    def delete_dataset(self) -> None:
        ds = self._ds()
        if ds is None:
            return
        answer = QMessageBox.question(
            self.panel, "Delete dataset",
            f"Delete {ds['name']} with all its {_plural(int(ds.get('versions') or 1), 'version')}? "
            "This cannot be undone.",
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Yes:
            self._call("data.delete", {"id": ds["id"]},
                       lambda r: self.sig_message.emit(f"Deleted {r.get('name')}.", "success"))  # fmt: skip

    # -- cleaning -------------------------------------------------------------------------

    def open_filter(self) -> None:
        ds = self._ds()
        if ds is not None:
            d = FilterDialog(ds.get("fields") or [], self.panel.models, self.panel)
            self._open(d, lambda: self.run_filter(d.params()))

    def run_filter(self, params: dict[str, Any]) -> None:
        self._step("data.filter", params, "Filtering rows", self._removed_rows)

    def _removed_rows(self, result: dict[str, Any]) -> None:
        if result.get("version") is None:
            self.sig_message.emit("Nothing matched; the dataset is unchanged.", "info")
            return
        reasons = {k: v for k, v in (result.get("reasons") or {}).items() if v}
        why = " (" + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in reasons.items()) + ")"
        self.sig_message.emit(
            f"Removed {_plural(int(result.get('removed') or 0), 'row')}{why if reasons else ''}: "
            f"{int(result.get('rows_before') or 0):,} → {int(result.get('rows_after') or 0):,}. "
            "Undo brings them back.",
            "success",
        )

    def open_dedup(self) -> None:
        ds = self._ds()
        if ds is None:
            return

        def show(options: list[dict[str, Any]]) -> None:
            d = DedupDialog(ds.get("fields") or [], options, self.panel)
            self._open(d, lambda: self.run_dedup(d.params()))

        self._with_options("dedup", show)

    def _with_options(self, step: str, then: Any) -> None:
        """Call ``then`` with a step's options as the engine describes them (defaults, limits)."""
        request(self, self.client, "data.step_options", ok=lambda r: then(r[step]),
                fail=lambda e: self._error(e.message))  # fmt: skip

    def run_dedup(self, params: dict[str, Any]) -> None:
        title = "Finding duplicates" if params.get("dry_run") else "Removing duplicates"
        done = self._review_clusters if params.get("dry_run") else self._removed_rows
        self._step("data.dedup", params, title, done)

    def _review_clusters(self, result: dict[str, Any]) -> None:
        ds = self._ds()
        if not result.get("clusters"):
            self.sig_message.emit("No duplicates found; the dataset is unchanged.", "success")
            return
        d = ClusterReviewDialog(self.client, ds["id"], result, self.panel)
        d.sig_remove.connect(lambda positions: self.remove_rows(positions, "duplicates"))
        self._open(d, lambda: None)

    def remove_rows(self, positions: list[int], reason: str) -> None:
        ds = self._ds()
        if ds is None or not positions:
            return
        params = {"id": ds["id"], "indexes": positions, "reason": reason}
        self._call("data.remove_rows", params, self._removed_rows)

    def open_scrub(self) -> None:
        if self._ds() is not None:
            d = ScrubDialog(self.panel)
            self._open(d, lambda: self.run_scrub(d.params()))

    def run_scrub(self, params: dict[str, Any]) -> None:
        def done(result: dict[str, Any]) -> None:
            if result.get("dry_run"):
                d = ScrubPreviewDialog(result, self.panel)
                self._open(d, lambda: self.run_scrub({**params, "dry_run": False}))
                return
            counts = ", ".join(f"{n:,} {k}" for k, n in (result.get("counts") or {}).items() if n)
            changed = int(result.get("rows_changed") or 0)
            self.sig_message.emit(
                f"Replaced {counts} in {_plural(changed, 'row')}." if changed
                else "No personal data found; the dataset is unchanged.", "success",
            )  # fmt: skip

        self._step("data.scrub", params, "Scrubbing personal data", done)

    def open_contamination(self) -> None:
        ds = self._ds()
        if ds is not None:
            d = ContaminationDialog(self.panel.datasets, ds, self.panel)
            self._open(d, lambda: self.run_contamination(d.params()))

    def run_contamination(self, params: dict[str, Any]) -> None:
        def done(result: dict[str, Any]) -> None:
            if not result.get("leaking"):
                self.sig_message.emit(
                    f"No leaks: none of {int(result.get('checked_rows') or 0):,} rows shares "
                    f"{result.get('ngram')}-word sequences with the evaluation set.", "success",
                )  # fmt: skip
                return
            d = LeaksDialog(result, self.panel)
            d.sig_remove.connect(lambda p: self.remove_rows(p, "leaking into the evaluation set"))
            self._open(d, lambda: None)

        self._step("data.contamination", params, "Checking for test-set leaks", done)

    # -- convert, split, export, generate -------------------------------------------------

    def convert(self, to: str) -> None:
        def done(result: dict[str, Any]) -> None:
            failed = int(result.get("failed_total") or 0)
            note = (
                f"; {_plural(failed, 'row')} could not be converted and were left out"
                if failed
                else ""
            )
            lossy = "; some information did not fit the new format" if result.get("lossy") else ""
            self.sig_message.emit(
                f"Converted {int(result.get('rows') or 0):,} rows to {to}{note}{lossy}.", "success"
            )

        self._step("data.convert", {"to": to, "on_error": "skip"}, f"Converting to {to}", done)

    def open_split(self) -> None:
        ds = self._ds()
        if ds is None:
            return

        def show(options: list[dict[str, Any]]) -> None:
            d = SplitDialog(ds.get("fields") or [], options, self.panel)
            self._open(d, lambda: self.run_split(d.params()))

        self._with_options("split", show)

    def run_split(self, params: dict[str, Any]) -> None:
        def done(result: dict[str, Any]) -> None:
            parts = ", ".join(f"{s['name']} {s['rows']:,}" for s in result.get("splits") or [])
            self.sig_message.emit(f"Split into {parts}.", "success")

        self._step("data.split", params, "Splitting", done)

    def open_export(self) -> None:
        ds = self._ds()
        if ds is not None:
            d = ExportDialog(ds, self.panel)
            self._open(d, lambda: self.run_export(d.params()))

    def run_export(self, params: dict[str, Any]) -> None:
        def done(result: dict[str, Any]) -> None:
            files = result.get("files") or []
            where = ", ".join(str(f.get("path")) for f in files[:3])
            self.sig_message.emit(
                f"Exported {int(result.get('rows') or 0):,} rows to {where}; "
                f"dataset card: {result.get('card')}.", "success",
            )  # fmt: skip

        self._step("data.export", params, "Exporting", done)

    def open_generate(self) -> None:
        d = GenerateDialog(self.client, self.panel.models, self.panel, datasets=self.panel.datasets)
        self._open(d, lambda: self.run_generate(d.params()))

    def run_generate(self, params: dict[str, Any]) -> None:
        def done(result: dict[str, Any]) -> None:
            rejected = sum((result.get("rejected") or {}).values())
            self.sig_message.emit(
                f"Generated {_plural(int(result.get('rows') or 0), 'row')} in {result.get('name')}"
                + (f"; {rejected:,} rejected by the quality filters" if rejected else "") + ".",
                "success",
            )  # fmt: skip
            if (result.get("dataset") or {}).get("id"):
                self.panel.select_dataset(result["dataset"]["id"])

        self.panel.jobs.start(
            "data.generate", params, title="Generating rows", on_success=done,
            on_failure=self._error,
            on_cancel=lambda _j: self.sig_message.emit(
                "Generation stopped; Resume carries on where it stopped.", "info"
            ),
        )  # fmt: skip
