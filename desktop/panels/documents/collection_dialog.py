"""``CollectionDialog``: a new collection -- its name, embedder, chunking and search settings (the
form is built from ``docs.settings``: defaults, ranges and help as tooltips), and optionally a
Qdrant server URL and API key.

The dialog sends ``docs.create`` itself and stays open when the engine refuses (a server that
does not answer, a chunk size the embedder cannot take), showing the engine's message, so the
user can fix the field and try again.
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
from desktop.panels.documents.models import MODE_LABELS, MODES

# Used until docs.settings answers (docs/PROTOCOL.md, CollectionSettings).
FALLBACK = [
    {"name": "chunk_tokens", "default": 200, "help": "most embedder tokens in one chunk", "range": [32, 2048]},
    {"name": "overlap_tokens", "default": 32, "help": "tokens repeated from the previous chunk", "range": [0, 512]},
    {"name": "batch_size", "default": 32, "help": "chunks embedded per batch", "range": [1, 1024]},
    {"name": "k", "default": 5, "help": "chunks returned by a search", "range": [1, 100]},
    {"name": "mode", "default": "hybrid", "help": "hybrid (dense + BM25), dense or bm25", "range": None},
    {"name": "min_score", "default": 0.2, "help": "relevance threshold (0 = off)", "range": [0.0, 1.0]},
    {"name": "mmr", "default": False, "help": "diversify results", "range": None},
    {"name": "mmr_lambda", "default": 0.6, "help": "MMR balance", "range": [0, 1]},
    {"name": "cache_similarity", "default": 0.95, "help": "semantic cache threshold (1 = off)", "range": [0.5, 1.0]},
]  # fmt: skip
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
}
CHUNKING = ("chunk_tokens", "overlap_tokens", "batch_size")
DEFAULT_EMBEDDER = "Bundled all-MiniLM-L6-v2 (default)"


class CollectionDialog(QDialog):
    sig_created = Signal(object)
    """The engine created the collection; the argument is the Collection."""
    sig_refused = Signal(object)
    """The engine refused to create it; the argument is the ``EngineError``."""

    def __init__(
        self,
        client: EngineClient,
        *,
        descriptors: list[dict[str, Any]] | None = None,
        embedders: list[dict[str, Any]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.client = client
        self.setWindowTitle("New document collection")
        self.setMinimumWidth(460)
        self.fields: dict[str, QWidget] = {}
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. Manuals")
        self.embedder_combo = QComboBox()
        self.embedder_combo.addItem(DEFAULT_EMBEDDER, None)
        for model in embedders or []:
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
        for d in descriptors or FALLBACK:
            widget = self._field(d)
            if widget is None:
                continue
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
        self.buttons.accepted.connect(self.create)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(chunking)
        layout.addWidget(search)
        layout.addWidget(server)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.name_edit.textChanged.connect(lambda t: self.ok_button.setEnabled(bool(t.strip())))
        self.ok_button.setEnabled(False)

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
            widget.setSingleStep(0.05)
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
