"""The Help menu's windows: offline help (what each panel does, shortcuts, where data lives, the
command line) and About (versions, the data folder, the licences of what ships inside Hearth)."""

from __future__ import annotations

import html
import platform
from importlib import metadata
from typing import Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from desktop.panels import PanelSpec

PACKAGES = (
    ("hearth", "Hearth"),
    ("pyside6-essentials", "Qt for Python (PySide6)"),
    ("llama-cpp-python", "llama-cpp-python (llama.cpp)"),
    ("torch", "PyTorch"),
    ("transformers", "Transformers"),
    ("peft", "PEFT"),
    ("qdrant-edge-py", "Qdrant Edge"),
    ("sentence-transformers", "Sentence Transformers"),
)

BUNDLED = (
    ("Gemma 3 270M (base, Q4_K_M GGUF)",
     "Gemma Terms of Use (ai.google.dev/gemma/terms); Google's Gemma Prohibited Use Policy applies"),
    ("Hearth starter adapter (a LoRA for Gemma 3 270M)",
     "a Gemma derivative, under the Gemma Terms of Use; trained on hand-written turns and on "
     "text from the Free On-line Dictionary of Computing (GNU Free Documentation License)"),
    ("all-MiniLM-L6-v2 (sentence embedder)", "Apache License 2.0"),
)  # fmt: skip

SHORTCUTS = (
    ("Ctrl+1 … Ctrl+9", "switch panels, in sidebar order"),
    ("Ctrl+N", "new conversation (Chat)"),
    ("Ctrl+Enter", "send (Chat)"),
    ("Esc", "stop the reply (Chat)"),
    ("Ctrl+,", "Preferences"),
    ("F1", "this help"),
    ("Ctrl+Q", "quit"),
)


def version_of(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_html(data_root: str | None, engine_version: str | None = None) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{html.escape(version_of(pkg))}</td></tr>"
        for pkg, label in PACKAGES
    )
    rows += f"<tr><td>Python</td><td>{platform.python_version()}</td></tr>"
    if engine_version:
        rows += f"<tr><td>Engine</td><td>{html.escape(engine_version)}</td></tr>"
    bundled = "".join(
        f"<li><b>{html.escape(name)}</b>: {html.escape(licence)}</li>" for name, licence in BUNDLED
    )
    folder = html.escape(data_root or "(the engine has not started)")
    return (
        "<h2>Hearth</h2><p>An offline workbench for local language models: chat, documents, "
        "datasets, fine-tuning, pruning, bias analysis and evaluation, on your machine. "
        "Licensed under the Apache License 2.0.</p>"
        f"<p><b>Data folder:</b> {folder}</p>"
        f"<h3>Versions</h3><table cellspacing='6'>{rows}</table>"
        f"<h3>Models shipped with Hearth</h3><ul>{bundled}</ul>"
    )


def help_html(specs: list[PanelSpec], data_root: str | None) -> str:
    panels = "".join(
        f"<li><b>{html.escape(s.title)}</b>: {html.escape(s.tooltip)}</li>" for s in specs
    )
    keys = "".join(
        f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(v)}</td></tr>"
        for k, v in SHORTCUTS
    )
    folder = html.escape(data_root or "the data folder")
    return (
        "<h2>Hearth help</h2>"
        "<p>Everything runs on this computer; Hearth sends nothing over the network unless you "
        "start its local API and a program on this machine calls it.</p>"
        f"<h3>Panels</h3><ul>{panels}</ul>"
        "<h3>A first loop</h3><ol>"
        "<li>Chat with the bundled model, or import a larger GGUF in Models.</li>"
        "<li>Make a collection in Documents, add files, and attach it to a chat to get answers "
        "with citations.</li>"
        "<li>Build a dataset in Datasets (import, or generate questions and answers from a "
        "collection), train a LoRA in Training, and chat with the result.</li>"
        "<li>Compare models in Evaluate; make one smaller in Pruning; look at its bias in Bias.</li>"
        "</ol>"
        f"<h3>Keyboard</h3><table cellspacing='6'>{keys}</table>"
        f"<h3>Your data</h3><p>Models, collections, datasets, runs and logs live in {folder}. "
        "Choose another folder in Preferences.</p>"
        "<h3>Command line</h3><p>Every panel's work can be scripted: run "
        "<code>hearth-engine --help</code>, and <code>--json</code> on any command for "
        "machine-readable output.</p>"
    )


class TextDialog(QDialog):
    """A read-only page with a Close button (links open nowhere: everything here is offline)."""

    def __init__(self, title: str, body: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        self.browser.setHtml(body)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(620, 560)


def about_dialog(reply: dict[str, Any] | None, parent: QWidget | None = None) -> TextDialog:
    reply = reply or {}
    return TextDialog("About Hearth", about_html(reply.get("data_root"), reply.get("engine_version")), parent)  # fmt: skip


def help_dialog(specs: list[PanelSpec], data_root: str | None, parent: QWidget | None = None) -> TextDialog:  # fmt: skip
    return TextDialog("Hearth help", help_html(specs, data_root), parent)
