"""The Documents panel on the fake engine: create collections (and the server that does not
answer), drop files into an ingest job that shows files/s and ETA, read each file's status in the
files table (the failed ones with their reason), cancel and resume an ingest, rename and delete."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.desktop.documents.conftest import create, drop, ingest


def test_create_collection_with_chunking_settings(qtbot, panel):
    dialog = panel.new_collection()
    qtbot.waitUntil(lambda: "chunk_tokens" in dialog.fields, timeout=3000)
    dialog.fields["chunk_tokens"].setValue(120)
    dialog.fields["overlap_tokens"].setValue(16)
    dialog.name_edit.setText("Manuals")
    with qtbot.waitSignal(dialog.sig_created, timeout=5000) as created:
        dialog.ok_button.click()
    collection = created.args[0]
    assert collection["settings"]["chunk_tokens"] == 120
    assert collection["settings"]["overlap_tokens"] == 16
    qtbot.waitUntil(lambda: panel.list_model.names() == ["Manuals"], timeout=5000)
    qtbot.waitUntil(lambda: (panel.collection or {}).get("name") == "Manuals", timeout=5000)
    assert "chunks of 120 tokens, overlap 16" in panel.title.text()
    assert "embedded Qdrant" in panel.title.text()
    assert panel.files.add_files_button.isEnabled()


def test_a_qdrant_server_that_does_not_answer_keeps_the_dialog_open(qtbot, panel):
    dialog = panel.new_collection()
    dialog.name_edit.setText("Team")
    dialog.server_edit.setText("http://localhost:9")
    dialog.api_key_edit.setText("secret")
    assert dialog.params()["api_key"] == "secret"
    with qtbot.waitSignal(dialog.sig_refused, timeout=5000):
        dialog.ok_button.click()
    assert dialog.isVisible()  # the user can fix the URL and try again
    assert "Cannot reach the Qdrant server at http://localhost:9" in dialog.error_label.text()
    assert "Cannot reach the Qdrant server" in panel.message.text()
    assert panel.list_model.rowCount() == 0
    dialog.reject()


def test_dropped_files_are_ingested_with_progress_and_statuses(qtbot, panel, corpus):
    create(qtbot, panel, "Notes")
    seen: list[str] = []

    def watch(_cid: str) -> None:
        if panel.strip.isVisible():
            seen.append(panel.strip.rate.text())

    panel.tracker.sig_changed.connect(watch)
    ingest(qtbot, panel, list(corpus.values()))
    assert any("files/s" in text and "ETA" in text for text in seen), seen
    model = panel.files.model
    assert model.status_of("bees.md") == "indexed"
    assert model.status_of("volcanoes.txt") == "indexed"
    assert model.status_of("scan.pdf") == "failed"
    assert model.status_of("empty.txt") == "failed"
    assert model.status_of("tool.bin") == "skipped"
    scan_row = model.row_of(str(corpus["scan"]))
    reason = model.index(scan_row, 6).data()
    assert "scanned PDF with no text layer" in reason
    assert "ocrmypdf" in model.index(scan_row, 0).data(Qt.ItemDataRole.ToolTipRole)
    bees_row = model.row_of(str(corpus["bees"]))
    assert model.index(bees_row, 2).data() == "2"  # chunks
    # the user is told what failed and why, in the engine's words
    assert "scan.pdf: scanned PDF with no text layer" in panel.message.text()
    assert panel.message.kind == "error"
    assert not panel.strip.isVisible()  # a finished ingest leaves nothing to cancel or resume
    qtbot.waitUntil(lambda: "2 indexed" in panel.files.summary.text(), timeout=3000)
    qtbot.waitUntil(lambda: panel.list_model.index(0, 1).data() == "2", timeout=3000)


def test_dropping_without_a_collection_says_what_to_do(qtbot, panel, corpus):
    drop(panel, [corpus["bees"]])
    assert "Create or select a collection first" in panel.message.text()


def test_cancel_then_resume_an_ingest(qtbot, panel, tmp_path):
    create(qtbot, panel, "Big")
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(6):
        (folder / f"slow-{i}.txt").write_text(f"Document number {i} about topic {i}.")
    drop(panel, [folder])
    qtbot.waitUntil(lambda: panel.strip.cancel_button.isVisible(), timeout=5000)
    qtbot.waitUntil(lambda: "files/s" in panel.strip.rate.text(), timeout=5000)
    with qtbot.waitSignal(panel.tracker.sig_ended, timeout=8000) as ended:
        panel.strip.cancel_button.click()
    assert ended.args[0].record["state"] == "cancelled"
    assert panel.strip.resume_button.isVisible()
    assert "stopped (cancelled)" in panel.strip.label.text()
    done_before = panel.files.model.rowCount()
    assert done_before < 6
    with qtbot.waitSignal(panel.tracker.sig_ended, timeout=15000) as ended:
        panel.strip.resume_button.click()
    assert ended.args[0].record["state"] == "succeeded"
    qtbot.waitUntil(lambda: panel.files.model.rowCount() == 6, timeout=5000)
    assert {panel.files.model.status_of(f"slow-{i}.txt") for i in range(6)} == {"indexed"}
    assert not panel.strip.isVisible()


def test_rename_and_delete_with_confirmation(qtbot, panel, monkeypatch):
    create(qtbot, panel, "Old name")
    panel.rename_collection("New name")
    qtbot.waitUntil(lambda: panel.list_model.names() == ["New name"], timeout=5000)
    monkeypatch.setattr(panel, "confirm_delete", lambda c: False)
    panel.delete_button.click()
    QApplication.processEvents()
    assert panel.list_model.names() == ["New name"]  # declined: nothing deleted
    monkeypatch.setattr(panel, "confirm_delete", lambda c: True)
    panel.delete_button.click()
    qtbot.waitUntil(lambda: panel.list_model.rowCount() == 0, timeout=5000)
    assert panel.collection is None
    assert "Deleted New name" in panel.message.text()


def test_edit_settings_of_an_indexed_collection(qtbot, panel, corpus):
    create(qtbot, panel, "Manuals")
    ingest(qtbot, panel, [corpus["bees"]])
    qtbot.waitUntil(lambda: bool((panel.collection or {}).get("chunks")), timeout=5000)
    dialog = panel.edit_settings()
    assert dialog.windowTitle() == "Settings of Manuals"
    assert not dialog.name_edit.isEnabled() and not dialog.embedder_combo.isEnabled()
    assert not dialog.server_edit.isEnabled()  # the store is fixed once it holds chunks
    assert dialog.fields["chunk_tokens"].value() == panel.collection["settings"]["chunk_tokens"]

    dialog.fields["chunk_tokens"].setValue(900)  # more than the embedder takes: refused
    with qtbot.waitSignal(dialog.sig_refused, timeout=5000):
        dialog.ok_button.click()
    assert dialog.isVisible() and "at most 496" in dialog.error_label.text()

    dialog.fields["chunk_tokens"].setValue(300)
    dialog.fields["k"].setValue(8)
    assert "server_url" not in dialog.update_params()
    with qtbot.waitSignal(dialog.sig_updated, timeout=5000) as updated:
        dialog.ok_button.click()
    assert updated.args[0]["settings"]["chunk_tokens"] == 300
    assert updated.args[0]["settings"]["k"] == 8
    qtbot.waitUntil(lambda: "chunks of 300 tokens" in panel.title.text(), timeout=5000)
    assert "Re-ingest" in panel.message.text()  # the new chunking applies at the next ingest
