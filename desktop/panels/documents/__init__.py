"""Documents panel: collections of files indexed for retrieval -- create (embedder, chunking,
optional Qdrant server), add files and folders (dialog or drag and drop) as a resumable ingest job
with files/s and ETA, the files table with each file's status, search with scores and sources,
the splitter's chunks, and the retrieval evaluation (hit@k and MRR per mode)."""

from __future__ import annotations

from desktop.panels import PanelSpec, register_panel


def _build(client, parent):
    from desktop.panels.documents.panel import DocumentsPanel

    return DocumentsPanel(client, parent)


register_panel(
    PanelSpec(
        "documents",
        "Documents",
        _build,
        order=15,  # right after Chat (10): the answers in Chat come from here
        tooltip="Document collections: ingest, search, check chunks, evaluate retrieval",
    )
)
