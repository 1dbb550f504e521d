"""``ImportFlow``: a file, folder or Hearth's conversations becoming a dataset.

``data.inspect`` first; when the detection is unsure, the first rows hold malformed lines, or the
source has several splits, the ``ImportDialog`` asks (format, column mapping, skip or abort);
otherwise the import starts at once. The ``data.import`` job runs with progress in the panel's
job strip. A bad line found later in the file stops an import set to abort: the user is then
asked whether to import again skipping such lines. Lines skipped are reported with their numbers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.calls import request
from desktop.engine_client import EngineClient
from desktop.panels.datasets.import_dialog import ImportDialog
from desktop.panels.datasets.jobs import DataJobs
from desktop.panels.datasets.rowtext import errors_text

BAD_LINE = re.compile(r"\bline \d+")
IMPORTABLE = (
    ".jsonl",
    ".ndjson",
    ".json",
    ".csv",
    ".tsv",
    ".parquet",
    ".pq",
    ".arrow",
    ".txt",
    ".text",
    ".md",
    ".markdown",
)


class ImportFlow(QObject):
    sig_imported = Signal(object)
    """A dataset was imported; the argument is the ``data.import`` result."""
    sig_message = Signal(str, str)
    """Something to tell the user: text, kind (info, success, error)."""

    def __init__(self, client: EngineClient, jobs: DataJobs, parent: QWidget) -> None:
        super().__init__(parent)
        self.client = client
        self.jobs = jobs
        self.widget = parent
        self.dialog: ImportDialog | None = None
        self.question: QMessageBox | None = None

    def start(self, path: str) -> None:
        """Inspect ``path``, then import it (asking first when needed)."""
        self._inspect({"path": path}, Path(path).name)

    def start_conversations(self) -> None:
        self._inspect({"source": "conversations"}, "Hearth's conversations")

    def _inspect(self, base: dict[str, Any], label: str) -> None:
        self.sig_message.emit(f"Reading {label}…", "info")
        request(self, self.client, "data.inspect", base,
                ok=lambda result: self._inspected(base, label, result),
                fail=lambda e: self.sig_message.emit(e.message, "error"))  # fmt: skip

    def _inspected(self, base: dict[str, Any], label: str, result: dict[str, Any]) -> None:
        source = result.get("source") or {}
        ask = (
            result.get("needs_mapping")
            or not result.get("format")
            or result.get("errors")
            or len(source.get("splits") or []) > 1
            or source.get("kind") == "text"
        )
        if not ask:
            self._run({**base, "on_error": "abort"}, label)
            return
        dialog = ImportDialog(self.client, result, self.widget)
        dialog.base_params = dict(base)
        dialog.accepted.connect(lambda: self._run(dialog.params(), label))
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        self.dialog = dialog
        self.sig_message.emit(f"{label}: check the format and columns, then Import.", "info")
        dialog.open()

    def _run(self, params: dict[str, Any], label: str) -> None:
        self.jobs.start(
            "data.import",
            params,
            title=f"Importing {label}",
            on_success=self._imported,
            on_failure=lambda message: self._failed(params, label, message),
            on_cancel=lambda _job: self.sig_message.emit(
                f"Import of {label} cancelled; nothing was created.", "info"
            ),
        )

    def _imported(self, result: dict[str, Any]) -> None:
        text = f"Imported {int(result.get('rows') or 0):,} rows as {result.get('name')} ({result.get('format')})."
        errors = result.get("errors") or []
        total = int(result.get("errors_total") or len(errors))
        if total:
            text += f" Skipped {total:,} bad line{'s' if total != 1 else ''}:\n" + errors_text(
                errors, total, limit=5
            )
        for warning in result.get("warnings") or []:
            text += f"\n{warning}"
        self.sig_message.emit(text, "success" if not total else "info")
        self.sig_imported.emit(result)

    def _failed(self, params: dict[str, Any], label: str, message: str) -> None:
        self.sig_message.emit(message, "error")
        if params.get("on_error", "abort") != "abort" or not BAD_LINE.search(message):
            return
        box = QMessageBox(self.widget)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Malformed line")
        box.setText(f"The import of {label} stopped at a bad line.")
        box.setInformativeText(message + "\n\nSkip such lines and import the rest?")
        skip = box.addButton("Skip bad lines", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Abort", QMessageBox.ButtonRole.RejectRole)
        box.finished.connect(
            lambda _r: (
                self._run({**params, "on_error": "skip"}, label)
                if box.clickedButton() is skip
                else None,
                setattr(self, "question", None),
            )
        )
        self.question = box
        box.open()

    @staticmethod
    def is_importable(path: Path) -> bool:
        """Files and folders a drop may hand to the import."""
        return path.is_dir() or path.name.lower().endswith(IMPORTABLE)
