"""``PresetPane``: the preset picker at the top of the Chat panel's settings.

Pick a preset and *Use* it: the conversation gets its system prompt, generation settings and
options. Each kind shows its own options: the SQLite file for "SQL from questions", the policy
and the reviewing model for "Moderated reply", the injection test run for "Guarded assistant".
*Save as preset* keeps the current system prompt and settings as a new preset.

The pane holds no engine calls: ``PresetSync`` fills it and acts on its signals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.panels.models.table_model import picker_label

NO_PRESET = "No preset"
DB_FILTER = "SQLite databases (*.sqlite *.sqlite3 *.db *.db3);;All files (*)"


def choose_database(parent: QWidget, start: str = "") -> str:
    """Ask for a SQLite file (a seam tests replace)."""
    path, _ = QFileDialog.getOpenFileName(parent, "Choose a SQLite database", start, DB_FILTER)
    return path


class PresetPane(QGroupBox):
    sig_apply = Signal(str, object)
    """Use this preset id with these options in the conversation."""
    sig_detach = Signal()
    """Stop using the conversation's preset."""
    sig_database_chosen = Signal(str)
    """The user picked a SQLite file (its path)."""
    sig_save_as = Signal()
    """Save the current system prompt and settings as a new preset."""
    sig_delete = Signal(str)
    """Delete (or, for a built-in, reset) this preset id."""
    sig_run_injection_tests = Signal()
    """Open the injection test run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Preset", parent)
        self.presets: list[dict[str, Any]] = []
        self.binding: dict[str, Any] | None = None
        self.database: str | None = None
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(10)
        self.combo.setToolTip("A saved system prompt, settings and options")
        self.combo.currentIndexChanged.connect(self._selected)
        self.use_button = QPushButton("Use")
        self.use_button.setToolTip(
            "Give this conversation the preset's system prompt, settings and options"
        )
        self.use_button.clicked.connect(self._apply)
        self.detach_button = QPushButton("Stop using")
        self.detach_button.setToolTip(
            "Keep the system prompt and settings, drop the preset's steps"
        )
        self.detach_button.clicked.connect(self.sig_detach)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: palette(placeholder-text);")
        self.in_use = QLabel()
        self.in_use.setWordWrap(True)

        # per-kind options
        self.db_label = QLabel("No file chosen")
        self.db_label.setWordWrap(True)
        self.db_button = QPushButton("Choose SQLite file…")
        self.db_button.clicked.connect(self._choose_database)
        self.schema_label = QLabel()
        self.schema_label.setWordWrap(True)
        self.schema_label.setStyleSheet("color: palette(placeholder-text);")
        self.schema_label.hide()
        sql_page = QWidget()
        sl = QVBoxLayout(sql_page)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.db_label)
        sl.addWidget(self.db_button)
        sl.addWidget(self.schema_label)

        self.policy = QPlainTextEdit()
        self.policy.setFixedHeight(110)
        self.policy.setToolTip("What the reviewer passes, rewrites or blocks")
        self.reviewer_combo = QComboBox()
        self.reviewer_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.reviewer_combo.setMinimumContentsLength(12)
        self.reviewer_combo.addItem("The same model", None)
        mod_page = QWidget()
        ml = QFormLayout(mod_page)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.addRow(QLabel("Policy (press Use to apply changes)"))
        ml.addRow(self.policy)
        ml.addRow("Reviewer", self.reviewer_combo)

        self.injection_button = QPushButton("Run injection tests…")
        self.injection_button.setToolTip(
            "Send the prompt-injection test set to the model and see which attempts it resists"
        )
        self.injection_button.clicked.connect(self.sig_run_injection_tests)
        guard_page = QWidget()
        gl = QVBoxLayout(guard_page)
        gl.setContentsMargins(0, 0, 0, 0)
        gl.addWidget(self.injection_button)

        # one page of options per kind; only the selected kind's is shown (and takes room)
        self.kind_pages = {"plain": QWidget(), "sql": sql_page, "moderated": mod_page}
        self.kind_pages["guarded"] = guard_page

        self.save_button = QPushButton("Save as…")
        self.save_button.setToolTip("Keep the current system prompt and settings as a new preset")
        self.save_button.clicked.connect(self.sig_save_as)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self._delete)

        use_row = QHBoxLayout()
        use_row.addWidget(self.use_button)
        use_row.addWidget(self.detach_button)
        tail = QHBoxLayout()
        tail.addWidget(self.save_button)
        tail.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.combo)
        layout.addWidget(self.description)
        for page in self.kind_pages.values():
            layout.addWidget(page)
        layout.addWidget(self.in_use)
        layout.addLayout(use_row)
        layout.addLayout(tail)
        self.set_presets([])

    # -- filling ----------------------------------------------------------------------------
    def set_presets(self, presets: list[dict[str, Any]]) -> None:
        current = self.selected_id()
        self.presets = list(presets)
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem(NO_PRESET, None)
        for p in presets:
            self.combo.addItem(p["name"], p["id"])
            self.combo.setItemData(
                self.combo.count() - 1, p.get("description") or "", Qt.ItemDataRole.ToolTipRole
            )
        self.combo.blockSignals(False)
        wanted = (self.binding or {}).get("preset_id") or current
        self.select(wanted)

    def set_models(self, models: list[dict[str, Any]]) -> None:
        chosen = self.reviewer_combo.currentData()
        self.reviewer_combo.clear()
        self.reviewer_combo.addItem("The same model", None)
        for m in models:
            if m.get("role") in ("llm", "adapter") and not m.get("missing"):
                self.reviewer_combo.addItem(picker_label(m), m["id"])
        self.reviewer_combo.setCurrentIndex(max(0, self.reviewer_combo.findData(chosen)))

    def select(self, preset_id: str | None) -> None:
        row = self.combo.findData(preset_id) if preset_id else 0
        self.combo.setCurrentIndex(max(0, row))
        self._selected()

    def show_binding(self, binding: dict[str, Any] | None) -> None:
        """Show the conversation's preset (None: it uses none)."""
        self.binding = binding
        options = (binding or {}).get("options") or {}
        self.database = options.get("database")
        if binding is not None:
            self.select(binding["preset_id"])
        self._fill_options(options)
        self.in_use.setText(f"This conversation uses “{binding['name']}”." if binding else "")
        self.in_use.setVisible(binding is not None)
        self.detach_button.setEnabled(binding is not None)

    def show_schema(self, schema: dict[str, Any] | None, error: str = "") -> None:
        """The chosen file's tables (or why it cannot be used) under the file picker."""
        if error:
            text = error
        else:
            tables = (schema or {}).get("tables") or []
            names = ", ".join(t["name"] for t in tables[:8]) + (" …" if len(tables) > 8 else "")
            text = f"Tables: {names}" if tables else "No tables."
        self.schema_label.setText(text)
        self.schema_label.setVisible(bool(text))

    # -- reading ----------------------------------------------------------------------------
    def selected_id(self) -> str | None:
        return self.combo.currentData()

    def selected(self) -> dict[str, Any] | None:
        pid = self.selected_id()
        return next((p for p in self.presets if p["id"] == pid), None)

    def options(self) -> dict[str, Any]:
        """The options shown for the selected preset's kind."""
        preset = self.selected() or {}
        kind = preset.get("kind")
        if kind == "sql":
            return {"database": self.database} if self.database else {}
        if kind == "moderated":
            return {
                "policy": self.policy.toPlainText(),
                "reviewer_model": self.reviewer_combo.currentData(),
            }
        return {}

    # -- reacting ---------------------------------------------------------------------------
    def _selected(self, *_args: Any) -> None:
        preset = self.selected()
        kind = (preset or {}).get("kind") or "plain"
        self.description.setText((preset or {}).get("description") or "")
        self.description.setVisible(preset is not None)
        for name, page in self.kind_pages.items():
            page.setVisible(name == kind and kind != "plain")
        self.use_button.setEnabled(preset is not None)
        self.delete_button.setEnabled(preset is not None)
        builtin = bool((preset or {}).get("builtin"))
        self.delete_button.setText("Reset" if builtin else "Delete")
        self.delete_button.setEnabled(preset is not None and (not builtin or preset["modified"]))
        self.delete_button.setToolTip(
            "Undo your edits to this built-in preset" if builtin else "Delete this preset"
        )
        bound = (
            self.binding
            if (self.binding or {}).get("preset_id") == (preset or {}).get("id")
            else None
        )
        self._fill_options((bound or {}).get("options") or (preset or {}).get("options") or {})

    def _fill_options(self, options: dict[str, Any]) -> None:
        if "policy" in options:
            self.policy.setPlainText(options.get("policy") or "")
        if "reviewer_model" in options:
            row = self.reviewer_combo.findData(options.get("reviewer_model"))
            self.reviewer_combo.setCurrentIndex(max(0, row))
        if "database" in options:
            self.database = options.get("database") or self.database
        self.db_label.setText(
            f"Database: {Path(self.database).name}" if self.database else "No file chosen"
        )
        self.db_label.setToolTip(self.database or "")

    def _apply(self) -> None:
        pid = self.selected_id()
        if pid:
            self.sig_apply.emit(pid, self.options())

    def _delete(self) -> None:
        pid = self.selected_id()
        if pid:
            self.sig_delete.emit(pid)

    def _choose_database(self) -> None:
        start = str(Path(self.database).parent) if self.database else ""
        path = choose_database(self, start)
        if path:
            self.database = path
            self._fill_options({})
            self.sig_database_chosen.emit(path)
