"""``NewRunPane``: the form that starts a run -- base model, dataset (version and splits), method,
preset and every option -- with the memory plan kept up to date while the form changes
(``train.plan``, debounced), a data check (``train.check``) and Start (``train.start``), which
offers "Start anyway" (``force``) when the plan refuses.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.elide_combo import ElidedCombo
from desktop.engine_client import EngineClient
from desktop.errors import EngineError
from desktop.labels import choice_label
from desktop.panels.training.options_form import OptionsForm
from desktop.panels.training.plan_view import PlanView, parse_change

PLAN_DEBOUNCE_MS = 350
CUSTOM = "custom"


def train_blocker(model: dict[str, Any]) -> str:
    """Why a library model cannot be trained here, or "" when it can."""
    if model.get("missing"):
        return "its file is missing"
    if not (model.get("capabilities") or {}).get("train"):
        return "this model cannot be trained here (convert it or use a Hugging Face model)"
    return ""


def set_item_enabled(combo: QComboBox, row: int, enabled: bool, tip: str = "") -> None:
    model = combo.model()
    if isinstance(model, QStandardItemModel):
        item = model.item(row)
        flags = item.flags()
        item.setFlags(
            flags | Qt.ItemFlag.ItemIsEnabled if enabled else flags & ~Qt.ItemFlag.ItemIsEnabled
        )
    if tip:
        combo.setItemData(row, tip, Qt.ItemDataRole.ToolTipRole)


def first_enabled(combo: QComboBox) -> int:
    model = combo.model()
    for row in range(combo.count()):
        if not isinstance(model, QStandardItemModel) or model.item(row).isEnabled():
            return row
    return -1


def stacked(top: QWidget | QHBoxLayout, below: QLabel) -> QWidget:
    """A form field with its help line right under it."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(1)
    if isinstance(top, QHBoxLayout):
        layout.addLayout(top)
    else:
        layout.addWidget(top)
    layout.addWidget(below)
    return box


class NewRunPane(QWidget):
    sig_started = Signal(dict)
    """``train.start`` answered: ``{job, run, plan}``."""

    def __init__(self, client: EngineClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.presets: dict[str, dict[str, Any]] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.defaults: dict[str, Any] = {}
        self.method_defaults: dict[str, dict[str, Any]] = {}
        self.types: dict[str, str] = {}
        self._plan_seq = 0
        self._plan_timer = QTimer(self)
        self._plan_timer.setSingleShot(True)
        self._plan_timer.setInterval(PLAN_DEBOUNCE_MS)
        self._plan_timer.timeout.connect(self.refresh_plan)
        self.plan_calls = 0

        self.model_combo = ElidedCombo()
        self.model_combo.setToolTip(
            "The base model to fine-tune (language models from the library)"
        )
        self.dataset_combo = ElidedCombo()
        self.dataset_combo.setToolTip("The training rows: a dataset from the Datasets panel")
        self.version_spin = QSpinBox()
        self.version_spin.setToolTip("The dataset version to train on (its history in Datasets)")
        self.split_label = QLabel()
        self.split_label.setWordWrap(True)
        self.split_label.setStyleSheet("color: palette(placeholder-text);")
        self.method_combo = QComboBox()
        self.method_combo.setToolTip("How the model is trained")
        self.method_help = QLabel()
        self.method_help.setWordWrap(True)
        self.method_help.setStyleSheet("color: palette(placeholder-text); font-size: 8pt;")
        self.objective_combo = QComboBox()
        self.objective_combo.setToolTip("What the run learns from the rows")
        self.objective_help = QLabel()
        self.objective_help.setWordWrap(True)
        self.objective_help.setStyleSheet("color: palette(placeholder-text); font-size: 8pt;")
        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip("Fill the options below with a tested set of values")
        self.preset_help = QLabel()
        self.preset_help.setWordWrap(True)
        self.preset_help.setStyleSheet("color: palette(placeholder-text); font-size: 8pt;")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("automatic (model + dataset)")
        self.form = OptionsForm(skip=("method", "objective"))

        top = QGroupBox("Run")
        top_form = QFormLayout(top)
        top_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        top_form.addRow("Base model", self.model_combo)
        data_row = QHBoxLayout()
        data_row.addWidget(self.dataset_combo, 1)
        data_row.addWidget(QLabel("version"))
        data_row.addWidget(self.version_spin)
        top_form.addRow("Dataset", stacked(data_row, self.split_label))
        top_form.addRow("Method", stacked(self.method_combo, self.method_help))
        top_form.addRow("Learns", stacked(self.objective_combo, self.objective_help))
        top_form.addRow("Preset", stacked(self.preset_combo, self.preset_help))
        top_form.addRow("Name", self.name_edit)

        form_page = QWidget()
        form_layout = QVBoxLayout(form_page)
        form_layout.setContentsMargins(0, 0, 6, 0)
        form_layout.addWidget(top)
        form_layout.addWidget(self.form)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(form_page)

        self.plan_view = PlanView()
        self.check_button = QPushButton("Check data")
        self.check_button.setToolTip(
            "Render the rows with the chat template and count what training keeps"
        )
        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.force_button = QPushButton("Start anyway")
        self.force_button.setToolTip(
            "Start although the plan says it will not fit (it may run out of memory)"
        )
        self.force_button.hide()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        plan_box = QGroupBox("Memory plan and data")
        plan_layout = QVBoxLayout(plan_box)
        plan_layout.addWidget(self.plan_view)
        plan_layout.addStretch(1)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 0, 0, 0)
        side_layout.addWidget(plan_box, 1)
        side_layout.addWidget(self.status_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.check_button)
        buttons.addStretch(1)
        buttons.addWidget(self.force_button)
        buttons.addWidget(self.start_button)
        side_layout.addLayout(buttons)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(scroll)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)

        self.model_combo.currentIndexChanged.connect(self.schedule_plan)
        self.method_combo.currentIndexChanged.connect(self._method_changed)
        self.objective_combo.currentIndexChanged.connect(self._method_changed)
        self.preset_combo.currentIndexChanged.connect(self._preset_chosen)
        self.dataset_combo.currentIndexChanged.connect(self._dataset_changed)
        self.form.sig_changed.connect(self.schedule_plan)
        self.plan_view.sig_apply.connect(self.apply_change)
        self.check_button.clicked.connect(self.check_data)
        self.start_button.clicked.connect(lambda: self.start(force=False))
        self.force_button.clicked.connect(lambda: self.start(force=True))

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> None:
        """Ask the engine for the options, the models and the datasets."""
        request(self, self.client, "train.options", ok=self.set_options, fail=self._show_failure)
        request(
            self, self.client, "models.list", ok=lambda r: self.set_models(r.get("models") or [])
        )
        request(
            self, self.client, "data.list", ok=lambda r: self.set_datasets(r.get("datasets") or [])
        )

    def set_options(self, info: dict[str, Any]) -> None:
        fields = info.get("fields") or []
        self.defaults = {f["name"]: f.get("default") for f in fields}
        self.types = {f["name"]: f.get("type") or "str" for f in fields}
        self.form.set_fields(fields)
        method_help = next((f.get("help") for f in fields if f["name"] == "method"), "")
        self.method_help.setText(method_help or "")
        self.method_combo.blockSignals(True)
        current = self.method_combo.currentData()
        self.method_combo.clear()
        for m in info.get("methods") or []:
            label = choice_label(m["name"]) + ("" if m.get("available") else " (unavailable)")
            self.method_combo.addItem(label, m["name"])
            set_item_enabled(self.method_combo, self.method_combo.count() - 1, bool(m.get("available")),
                             m.get("reason") or "")  # fmt: skip
        row = self.method_combo.findData(current or self.defaults.get("method") or "lora")
        self.method_combo.setCurrentIndex(row if row >= 0 else first_enabled(self.method_combo))
        self.method_combo.blockSignals(False)
        objective = next((f for f in fields if f["name"] == "objective"), None) or {}
        self.objective_help.setText(objective.get("help") or "")
        self.objective_combo.blockSignals(True)
        current = self.objective_combo.currentData()
        self.objective_combo.clear()
        for choice in objective.get("choices") or []:
            self.objective_combo.addItem(choice_label(choice), choice)
        row = self.objective_combo.findData(current or objective.get("default"))
        self.objective_combo.setCurrentIndex(max(row, 0))
        self.objective_combo.blockSignals(False)
        self.presets = {p["name"]: p for p in info.get("presets") or []}
        self.method_defaults = info.get("method_defaults") or {}
        self.preset_combo.blockSignals(True)
        self.preset_combo.clear()
        self.preset_combo.addItem("Custom (defaults)", CUSTOM)
        for name, p in self.presets.items():
            self.preset_combo.addItem(name, name)
            self.preset_combo.setItemData(self.preset_combo.count() - 1, p.get("help") or "",
                                          Qt.ItemDataRole.ToolTipRole)  # fmt: skip
        self.preset_combo.blockSignals(False)
        self._method_changed()

    def set_models(self, models: list[dict[str, Any]]) -> None:
        self.form.set_models(models)
        current = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for m in models:
            if m.get("role", "llm") != "llm":
                continue
            blocker = train_blocker(m)
            label = m.get("name") or m["id"]
            self.model_combo.addItem(label + (f" — {blocker}" if blocker else ""), m["id"])
            set_item_enabled(self.model_combo, self.model_combo.count() - 1, not blocker, blocker)
        if self.model_combo.count() == 0:
            self.model_combo.addItem("No language model in the library — add one in Models", None)
            set_item_enabled(self.model_combo, 0, False)
        row = self.model_combo.findData(current) if current else -1
        self.model_combo.setCurrentIndex(
            row if row >= 0 else max(0, first_enabled(self.model_combo))
        )
        self.model_combo.blockSignals(False)
        self.schedule_plan()

    def set_datasets(self, datasets: list[dict[str, Any]]) -> None:
        current = self.dataset_combo.currentData()
        self.datasets = {d["id"]: d for d in datasets}
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        for d in datasets:
            self.dataset_combo.addItem(
                f"{d.get('name') or d['id']} ({d.get('rows', '?')} rows)", d["id"]
            )
        if not datasets:
            self.dataset_combo.addItem("No dataset yet — import one in Datasets", None)
        row = self.dataset_combo.findData(current) if current else -1
        self.dataset_combo.setCurrentIndex(max(0, row))
        self.dataset_combo.blockSignals(False)
        self._dataset_changed()

    def _dataset_changed(self, *_args) -> None:
        ds = self.datasets.get(self.dataset_combo.currentData()) or {}
        current = int(ds.get("version") or 1)
        self.version_spin.setRange(1, max(current, 1))
        self.version_spin.setValue(current)
        self.version_spin.setEnabled(bool(ds))
        splits = ds.get("splits") or []
        if not ds:
            self.split_label.setText("")
        elif splits:
            names = ", ".join(f"{s.get('name')} {s.get('rows', '?')}" for s in splits)
            has_train = any(s.get("name") == "train" for s in splits)
            self.split_label.setText(
                f"Splits: {names}. Trains on 'train'"
                + (", evaluates on 'validation'." if has_train else " (none here: all rows).")
            )
        else:
            fraction = self.form.all_values().get("validation_fraction", 0.05)
            self.split_label.setText(
                f"No splits: {fraction:.0%} of the rows are held out for validation "
                "(validation_fraction)."
            )

    def _method_changed(self, *_args) -> None:
        self._method_values()
        method = self.method_combo.currentData()
        for group, used in (("lora", method in ("lora", "dora", "qlora")), ("prompt", method == "prompt")):  # fmt: skip
            if group in self.form.groups:  # the method's own settings open, the others fold away
                self.form.groups[group].setChecked(used)
        self.schedule_plan()

    def _method_values(self) -> None:
        """A method's own values (``method_defaults``: prompt tuning's learning rate, about 100x
        LoRA's) replace the usual ones while a field still holds one of them; a typed value stays."""
        own = self.method_defaults.get(self.method_combo.currentData()) or {}
        preset = (self.presets.get(self.preset() or "") or {}).get("values") or {}
        now = self.form.all_values()
        for name in {k for values in self.method_defaults.values() for k in values}:
            usual = preset.get(name, self.defaults.get(name))
            special = [values[name] for values in self.method_defaults.values() if name in values]
            if now.get(name) == usual or now.get(name) in special:
                self.form.set_values({name: own.get(name, usual)})

    def _preset_chosen(self, *_args) -> None:
        name = self.preset_combo.currentData()
        preset = self.presets.get(name)
        self.preset_help.setText((preset or {}).get("help") or "")
        self.form.blockSignals(True)
        self.form.reset()
        self.form.blockSignals(False)
        self.form.set_values((preset or {}).get("values") or {})
        self._method_values()

    # -- what the form asks for --------------------------------------------------------------

    def preset(self) -> str | None:
        name = self.preset_combo.currentData()
        return name if name and name != CUSTOM else None

    def options(self) -> dict[str, Any]:
        """The options that differ from the defaults, plus every value the preset sets (so an
        option the user set back to its default after picking a preset stays that way)."""
        preset_keys = set((self.presets.get(self.preset() or "") or {}).get("values") or {})
        values = {
            n: v
            for n, v in self.form.all_values().items()
            if n in preset_keys or v != self.defaults.get(n)
        }
        for name, combo in (("method", self.method_combo), ("objective", self.objective_combo)):
            chosen = combo.currentData()
            if chosen and chosen != self.defaults.get(name):
                values[name] = chosen
        return values

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model_id": self.model_combo.currentData(),
            "options": self.options(),
        }
        if self.preset():
            out["preset"] = self.preset()
        return out

    def data_params(self) -> dict[str, Any]:
        ds = self.datasets.get(self.dataset_combo.currentData()) or {}
        out: dict[str, Any] = {"dataset": ds.get("id")}
        if ds and self.version_spin.value() != int(ds.get("version") or 0):
            out["version"] = self.version_spin.value()
        return out

    def apply_change(self, suggestion: str | dict[str, Any]) -> None:
        """A plan suggestion: set those options (the method has its own combo)."""
        change = parse_change(suggestion, self.types)
        if "method" in change:
            row = self.method_combo.findData(change["method"])
            if row >= 0:
                self.method_combo.setCurrentIndex(row)
        self.form.set_values({k: v for k, v in change.items() if k != "method"})

    # -- plan, check, start ------------------------------------------------------------------

    def schedule_plan(self, *_args) -> None:
        self.force_button.hide()
        if self.model_combo.currentData() and self.form.editors:
            self.plan_view.show_pending()
            self._plan_timer.start()

    def refresh_plan(self) -> None:
        params = self.params()
        if not params["model_id"]:
            return
        self._plan_seq += 1
        seq = self._plan_seq
        self.plan_calls += 1

        def done(plan: dict[str, Any]) -> None:
            if seq == self._plan_seq:
                self.plan_view.show_plan(plan)
                self.force_button.setVisible(plan.get("verdict") == "refuse")

        def failed(error: EngineError) -> None:
            if seq == self._plan_seq:
                self.plan_view.show_error(error.message)

        request(self, self.client, "train.plan", params, ok=done, fail=failed)

    def check_data(self) -> None:
        params = {**self.params(), **self.data_params()}
        if not params["model_id"] or not params["dataset"]:
            self.show_status("Pick a model and a dataset first.", error=True)
            return
        self.check_button.setEnabled(False)
        self.show_status("Checking the data…")

        def done(result: dict[str, Any]) -> None:
            self.check_button.setEnabled(True)
            self.show_status("")
            self.plan_view.show_data(result.get("data") or {})
            if result.get("plan"):
                self.plan_view.show_plan(result["plan"])

        def failed(error: EngineError) -> None:
            self.check_button.setEnabled(True)
            self.show_status("")
            self.plan_view.show_data_error(error.message)

        request(self, self.client, "train.check", params, ok=done, fail=failed)

    def start(self, *, force: bool) -> None:
        params = {**self.params(), **self.data_params()}
        if not params["model_id"] or not params["dataset"]:
            self.show_status("Pick a model and a dataset first.", error=True)
            return
        if self.name_edit.text().strip():
            params["name"] = self.name_edit.text().strip()
        if force:
            params["force"] = True
        self.start_button.setEnabled(False)
        self.force_button.setEnabled(False)
        self.show_status("Starting…")

        def done(result: dict[str, Any]) -> None:
            self.start_button.setEnabled(True)
            self.force_button.setEnabled(True)
            self.force_button.hide()
            self.show_status("")
            self.sig_started.emit(result)

        def failed(error: EngineError) -> None:
            self.start_button.setEnabled(True)
            self.force_button.setEnabled(True)
            self.show_status(f"Cannot start: {error.message}", error=True)
            if self.plan_view.verdict() == "refuse" or "memory" in error.message.lower():
                self.force_button.show()

        request(self, self.client, "train.start", params, ok=done, fail=failed)

    def show_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setStyleSheet("color: #b3261e;" if error else "")
        self.status_label.setText(text)

    def _show_failure(self, error: EngineError) -> None:
        self.show_status(f"Cannot load the training options: {error.message}", error=True)
