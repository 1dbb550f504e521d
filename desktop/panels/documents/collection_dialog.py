"""``CollectionDialog``: a new collection -- its name, embedder, chunking and search settings (the
form is built from ``docs.settings``: defaults, ranges and help as tooltips), and optionally a
Qdrant server URL and API key -- or, given an existing ``collection``, the same form to change its
settings (the embedder is fixed once a collection exists; the store only while it is empty).

The dialog sends ``docs.create`` / ``docs.update`` itself and stays open when the engine refuses
(a server that does not answer, a chunk size the embedder cannot take), showing the engine's
message, so the user can fix the field and try again.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.calls import request
from desktop.engine_client import EngineClient
from desktop.errors import EngineError
from desktop.panels.documents.item_models import MODE_LABELS, MODES

LABELS = {
    "chunk_tokens": "Chunk size (tokens)",
    "overlap_tokens": "Overlap (tokens)",
    "batch_size": "Embedding batch",
    "k": "Results per search",
    "mode": "Search mode",
    "min_score": "Relevance threshold",
    "mmr": "Diversify (MMR)",
    "mmr_lambda": "MMR balance",
    "cache_similarity": "Cache similarity",
    "max_unpacked_mb": "Most content per file (MB)",
    "max_ratio": "Most unpacking ratio",
    "max_parts": "Most parts per package",
    "max_pages": "Most pages per file",
    "ocr": "Read scans with OCR",
}
CHUNKING = ("chunk_tokens", "overlap_tokens", "batch_size")
DEFAULT_EMBEDDER = "Bundled all-MiniLM-L6-v2 (default)"


class CollectionDialog(QDialog):
    sig_created = Signal(object)
    """The engine created the collection; the argument is the Collection."""
    sig_updated = Signal(object)
    """The engine saved changed settings; the argument is the updated Collection."""
    sig_refused = Signal(object)
    """The engine refused to create it; the argument is the ``EngineError``."""

    def __init__(
        self,
        client: EngineClient,
        *,
        descriptors: list[dict[str, Any]],
        embedders: list[dict[str, Any]] | None = None,
        collection: dict[str, Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.client = client
        self.collection = collection
        self.setWindowTitle("New document collection")
        self.setMinimumWidth(460)
        self.fields: dict[str, QWidget] = {}
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. Manuals")
        self.embedder_combo = QComboBox()
        self.embedder_combo.addItem(DEFAULT_EMBEDDER, None)
        self._bundled_embedders = set()
        for model in embedders or []:
            if model.get("bundled"):  # the default entry above
                self._bundled_embedders.add(model["id"])
                continue
            self.embedder_combo.addItem(model.get("name") or model["id"], model["id"])
        self.embedder_combo.setToolTip(
            "The model that turns chunks into vectors; a collection keeps its embedder."
        )
        top = QFormLayout()
        top.addRow("Name", self.name_edit)
        top.addRow("Embedder", self.embedder_combo)

        chunking = QGroupBox("Chunking")
        self.chunking_form = QFormLayout(chunking)
        search = QGroupBox("Search defaults")
        self.search_form = QFormLayout(search)
        limits = QGroupBox("File limits")
        limits.setToolTip("What one file may make Hearth read, whatever its size on disk: a file "
                          "beyond a limit is listed as failed, naming the limit")  # fmt: skip
        self.limits_form = QFormLayout(limits)
        for d in descriptors:  # docs.settings's collection list: defaults, limits, help
            widget = self._field(d)
            if widget is None:
                continue
            if d.get("group") == "limits":
                form = self.limits_form
            else:
                form = self.chunking_form if d["name"] in CHUNKING else self.search_form
            form.addRow(LABELS.get(d["name"], d["name"]), widget)

        server = QGroupBox("Qdrant server (optional)")
        server_form = QFormLayout(server)
        self.server_edit = QLineEdit()
        self.server_edit.setPlaceholderText("empty: embedded store on this computer")
        self.server_edit.setToolTip(
            "A Qdrant server or cluster for corpora that outgrow a laptop, e.g. "
            "http://localhost:6333. Hearth checks that it answers before creating the collection."
        )
        self.api_key_edit = QLineEdit()
        self.api_key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key_edit.setPlaceholderText("only if the server needs one")
        server_form.addRow("URL", self.server_edit)
        server_form.addRow("API key", self.api_key_edit)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c62828;")
        self.error_label.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Create")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(chunking)
        layout.addWidget(search)
        layout.addWidget(limits)
        layout.addWidget(server)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.name_edit.textChanged.connect(lambda t: self.ok_button.setEnabled(bool(t.strip())))
        self.ok_button.setEnabled(False)
        if collection is not None:
            self._edit_mode(collection)

    def _edit_mode(self, c: dict[str, Any]) -> None:
        """Fill the form from an existing collection; what cannot change is shown, read-only."""
        self.setWindowTitle(f"Settings of {c['name']}")
        self.name_edit.setText(c["name"])
        self.name_edit.setEnabled(False)
        self.name_edit.setToolTip("Rename the collection with Rename… in the collections list.")
        embedder = c.get("embedder_id")
        index = 0 if embedder in self._bundled_embedders else self.embedder_combo.findData(embedder)
        if index < 0 and embedder:
            self.embedder_combo.addItem(str(embedder), embedder)
            index = self.embedder_combo.count() - 1
        self.embedder_combo.setCurrentIndex(max(index, 0))
        self.embedder_combo.setEnabled(False)
        self.embedder_combo.setToolTip(
            "A collection keeps its embedder: its vectors only compare with the same model's. "
            "Create a new collection to use another embedder."
        )
        for name, value in (c.get("settings") or {}).items():
            widget = self.fields.get(name)
            if isinstance(widget, QComboBox):
                widget.setCurrentIndex(max(0, widget.findData(value)))
            elif isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QSpinBox | QDoubleSpinBox):
                widget.setValue(value)
        self.server_edit.setText(c.get("server_url") or "")
        if c.get("api_key_set"):
            self.api_key_edit.setPlaceholderText("set (leave empty to keep it)")
        if c.get("chunks"):
            why = "The store can change only while the collection is empty."
            for widget in (self.server_edit, self.api_key_edit):
                widget.setEnabled(False)
                widget.setToolTip(why)
        self.ok_button.setText("Save")
        self.ok_button.setEnabled(True)

    def chunking_changed(self) -> bool:
        """True when the form's chunking differs from the collection's (files re-split)."""
        old = (self.collection or {}).get("settings") or {}
        new = self.settings()
        return any(old.get(k) != new.get(k) for k in ("chunk_tokens", "overlap_tokens"))

    def _field(self, d: dict[str, Any]) -> QWidget | None:
        name, default = d["name"], d.get("default")
        tip = f"{d.get('help') or ''} (default: {default})"
        widget: QWidget
        if name == "mode":
            widget = QComboBox()
            for mode in MODES:
                widget.addItem(MODE_LABELS[mode], mode)
            widget.setCurrentIndex(max(0, widget.findData(default)))
        elif isinstance(default, bool):
            widget = QCheckBox()
            widget.setChecked(default)
        elif isinstance(default, int):
            low, high = (d.get("range") or [0, 2**31 - 1])[:2]
            widget = QSpinBox()
            widget.setRange(int(low), int(high))
            widget.setValue(default)
        elif isinstance(default, float):
            low, high = (d.get("range") or [0.0, 1.0])[:2]
            widget = QDoubleSpinBox()
            widget.setDecimals(2)
            widget.setSingleStep(0.05 if float(high) <= 1.0 else 10.0)
            widget.setRange(float(low), float(high))
            widget.setValue(default)
        else:
            return None
        widget.setToolTip(tip)
        self.fields[name] = widget
        return widget

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, widget in self.fields.items():
            if isinstance(widget, QComboBox):
                out[name] = widget.currentData()
            elif isinstance(widget, QCheckBox):
                out[name] = widget.isChecked()
            else:
                out[name] = widget.value()
        return out

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "name": self.name_edit.text().strip(),
            "settings": self.settings(),
        }
        if self.embedder_combo.currentData():
            params["embedder"] = self.embedder_combo.currentData()
        if self.server_edit.text().strip():
            params["server_url"] = self.server_edit.text().strip()
            if self.api_key_edit.text():
                params["api_key"] = self.api_key_edit.text()
        return params

    def update_params(self) -> dict[str, Any]:
        assert self.collection is not None
        params: dict[str, Any] = {"id": self.collection["id"], "settings": self.settings()}
        if self.server_edit.isEnabled():
            url = self.server_edit.text().strip()
            if url != (self.collection.get("server_url") or ""):
                params["server_url"] = url
            if self.api_key_edit.text():
                params["api_key"] = self.api_key_edit.text()
        return params

    def submit(self) -> None:
        if self.collection is None:
            self.create()
        else:
            self.save()

    def save(self) -> None:
        """Ask the engine to apply the changed settings; close on success."""
        params = self.update_params()
        self.ok_button.setEnabled(False)
        self.error_label.setText("Checking the server…" if "server_url" in params else "Saving…")
        self.error_label.setStyleSheet("color: palette(placeholder-text);")
        self.error_label.show()
        request(self, self.client, "docs.update", params, ok=self._updated, fail=self._refused)

    def _updated(self, collection: dict[str, Any]) -> None:
        self.sig_updated.emit(collection)
        self.accept()

    def create(self) -> None:
        """Ask the engine to create the collection; close on success, say why not otherwise."""
        params = self.params()
        if not params["name"]:
            return
        self.ok_button.setEnabled(False)
        self.error_label.setText(
            "Checking the server…" if params.get("server_url") else "Creating…"
        )
        self.error_label.setStyleSheet("color: palette(placeholder-text);")
        self.error_label.show()
        request(self, self.client, "docs.create", params, ok=self._created, fail=self._refused)

    def _created(self, collection: dict[str, Any]) -> None:
        self.sig_created.emit(collection)
        self.accept()

    def _refused(self, error: EngineError) -> None:
        self.ok_button.setEnabled(True)
        self.error_label.setStyleSheet("color: #c62828;")
        self.error_label.setText(error.message)
        self.error_label.show()
        self.sig_refused.emit(error)
