"""Ingestion: files and folders into a collection -- incremental, resumable, never stopped by a bad
file.

    Ingestor(services, collection_id, ctx).run(paths)  # the ``docs.ingest`` job

1. Discover: the given files and folders (or, with no paths, every source added before); hidden
   files and folders are left out, unsupported types are listed as skipped.
2. Reconcile: files that were indexed under those paths and are gone are removed; the store's
   chunk count per file is checked against the catalogue, so a file whose chunks are incomplete
   (a killed run) is indexed again and stray chunks are deleted.
3. A reader thread hashes each file, skips it if its content and chunking are unchanged, else loads
   and splits it and computes its BM25 vectors; the job thread embeds chunks in windows of several
   batches (across files, so small files still fill batches) and writes them to the store. Reading
   and splitting the next file overlaps with embedding.
4. A file is marked ``indexed`` only after all its chunks are written and flushed. Chunk ids are
   derived from (path, content hash, chunk index), and a file's old chunks are deleted before its
   new ones go in, so a resumed or repeated run never duplicates a chunk.

A file that fails to load (encrypted, scanned, corrupt, binary, empty) is listed with its reason
and the run goes on. Problems with the store itself (a Qdrant server that is down, a full disk)
stop the run with a message; the catalogue keeps what was done.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import Cancelled, UserError
from engine.core.space import require_free
from engine.documents import bm25
from engine.documents.loaders import BadFile, file_type, open_document
from engine.documents.settings import CollectionSettings
from engine.documents.splitter import Splitter
from engine.documents.store import ChunkPoint, point_id
from hearth_common.units import human_duration

if TYPE_CHECKING:
    from engine.services import Services

log = logging.getLogger(__name__)
WINDOW_BATCHES = 8  # batches embedded per store write
OPTIMIZE_MIN_POINTS = 20_000
_HASH_BLOCK = 1 << 20


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _abspath(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclass
class FileJob:
    path: str
    type: str
    size: int
    hash: str = ""
    pages: int | None = None
    notes: list[str] = field(default_factory=list)
    produced: int = 0  # chunks read so far
    written: int = 0  # chunks in the store
    ended: bool = False  # the job thread has seen all of this file's chunks
    finished: bool = False


@dataclass
class Summary:
    indexed: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chunks: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "indexed": self.indexed,
            "skipped": self.skipped,
            "failed": self.failed,
            "removed": self.removed,
            "chunks_added": self.chunks,
        }


class Ingestor:
    def __init__(self, services: Services, collection_id: str, ctx: Any) -> None:
        self.services = services
        self.ctx = ctx
        self.docs = services.docs
        self.catalog = self.docs.catalog
        self.collection = self.catalog.get(collection_id)
        self.cid = self.collection["id"]
        from engine.documents.catalog import stored_settings

        row = (
            services.db()
            .execute("SELECT settings FROM doc_collections WHERE id = ?", (self.cid,))
            .fetchone()
        )
        self.settings: CollectionSettings = stored_settings(row[0])
        self.embedder = self.docs.embedder(self.collection["embedder_id"])
        self.folder = self.catalog.folder(self.cid)
        require_free(self.folder)  # the store writes through memory maps: no room is SIGBUS
        self.store = self.docs.store(self.collection)
        self.summary = Summary()

    # ---- the run ------------------------------------------------------------------------------
    def run(self, paths: list[str] | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        job_id = getattr(self.ctx, "job_id", "direct")
        self.docs.begin_ingest(self.cid, job_id)
        try:
            roots = self._roots(paths)
            self.ctx.progress(None, "Looking for files…")
            candidates = self._discover(roots)
            require_free(self.folder, sum(c.size for c in candidates))  # text, chunks, vectors
            self._prepare_store()
            reindex = self._reconcile(roots, {c.path for c in candidates})
            self._pipeline(candidates, reindex)
            self._cleanup_text_cache()
        finally:
            self.docs.end_ingest(self.cid, job_id)
        seconds = time.perf_counter() - started
        result = {
            "collection": self.cid,
            "name": self.collection["name"],
            **self.summary.to_dict(),
            "chunks": self.store.count(),
            "seconds": round(seconds, 3),
        }
        self.ctx.progress(1.0, self._done_message(seconds))
        return result

    def _done_message(self, seconds: float) -> str:
        s = self.summary
        parts = [
            f"{len(s.indexed)} indexed",
            f"{len(s.skipped)} skipped",
            f"{len(s.failed)} failed",
        ]
        if s.removed:
            parts.append(f"{len(s.removed)} removed")
        return f"Done in {seconds:.1f} s: " + ", ".join(parts) + "."

    def _roots(self, paths: list[str] | None) -> list[str]:
        if paths:
            roots = [_abspath(p) for p in paths]
            existing = [p for p in roots if os.path.exists(p)]
            indexed = {f["path"] for f in self.catalog.files(self.cid)}
            for p in roots:
                if not os.path.exists(p) and not any(_under(f, p) for f in indexed):
                    self.summary.failed.append({"file": p, "reason": "not found"})
            self.catalog.add_sources(self.cid, existing)
            return roots
        roots = self.catalog.sources(self.cid)
        if not roots:
            raise UserError(
                "Nothing to ingest: add files or folders to the collection first "
                "(hearth-engine docs ingest NAME PATH...)."
            )
        return roots

    def _discover(self, roots: list[str]) -> list[FileJob]:
        found: dict[str, FileJob] = {}
        for root in roots:
            if os.path.isfile(root):
                self._consider(root, found, explicit=True)
            elif os.path.isdir(root):
                for folder, dirs, files in os.walk(root):
                    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                    for name in sorted(files):
                        if not name.startswith("."):
                            self._consider(os.path.join(folder, name), found, explicit=False)
        return list(found.values())

    def _consider(self, path: str, found: dict[str, FileJob], *, explicit: bool) -> None:
        if path in found:
            return
        kind = file_type(Path(path))
        if kind is None:
            reason = f"unsupported file type {Path(path).suffix or '(no extension)'}"
            self.summary.skipped.append({"file": path, "reason": reason})
            if explicit:
                self.catalog.set_file(self.cid, path, status="skipped", reason=reason, chunks=0)
            return
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            self.summary.failed.append({"file": path, "reason": f"cannot read ({exc.strerror})"})
            return
        found[path] = FileJob(path=path, type=kind, size=size)

    def _prepare_store(self) -> None:
        dim = self.embedder.dimension()
        if not self.store.exists():
            self.store.create(dim)
        have = self.store.dimension()
        if have is not None and have != dim:
            raise UserError(
                f"The collection's store holds {have}-dimensional vectors but the embedder "
                f"makes {dim}; create a new collection for this embedding model."
            )
        if self.collection.get("dim") != dim:
            self.catalog.update(self.cid, dim=dim)

    def _reconcile(self, roots: list[str], present: set[str]) -> set[str]:
        """Remove files gone from the roots; return indexed files whose chunks are incomplete."""
        rows = self.catalog.files(self.cid)
        gone = [
            r["path"]
            for r in rows
            if r["path"] not in present
            and any(_under(r["path"], root) for root in roots)
            and not os.path.isfile(r["path"])
        ]
        if gone:
            self.store.delete_files(gone)
            self.catalog.delete_files(self.cid, gone)
            self.catalog.bump_generation(self.cid)
            self.summary.removed.extend(gone)
        counts = self.store.file_counts()
        indexed = {r["path"]: r for r in rows if r["status"] == "indexed" and r["path"] not in gone}
        reindex = {p for p, r in indexed.items() if counts.get(p, 0) != r["chunks"]}
        strays = [p for p in counts if p not in indexed and p not in present]
        partial = [p for p in counts if p not in indexed and p in present]
        if strays or partial:
            self.store.delete_files(strays + partial)
        if reindex:
            log.info("re-indexing %d file(s) whose chunks are incomplete", len(reindex))
        return reindex

    # ---- reading (reader thread) -------------------------------------------------------------
    def _reader(
        self,
        files: list[FileJob],
        reindex: set[str],
        rows: dict[str, dict[str, Any]],
        out: queue.Queue,
        stop: threading.Event,
    ) -> None:
        def put(item: tuple) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            splitter = Splitter(
                self.embedder.counter(),
                max_tokens=self.settings.chunk_tokens,
                overlap_tokens=self.settings.overlap_tokens,
            )
            avg_len = max(8.0, self.settings.chunk_tokens * 0.45)
            chunking = self.settings.chunking_key()
            for fj in files:
                if stop.is_set():
                    return
                try:
                    fj.hash = file_hash(Path(fj.path))
                except OSError as exc:
                    if not put(("fail", fj, f"cannot read ({exc.strerror or exc})")):
                        return
                    continue
                row = rows.get(fj.path)
                if row is not None and row["hash"] == fj.hash and fj.path not in reindex:
                    if row["status"] == "indexed" and row["chunking"] == chunking:
                        if not put(("skip", fj, "unchanged")):
                            return
                        continue
                    if row["status"] == "failed":
                        if not put(("fail", fj, row["reason"] or "failed before")):
                            return
                        continue
                if not self._read_file(fj, splitter, avg_len, put, stop):
                    return
        except BaseException as exc:  # never leave the job thread waiting
            log.exception("document reader crashed")
            put(("crash", None, f"{type(exc).__name__}: {exc}"))
        finally:
            put(("done", None, None))

    def _read_file(self, fj: FileJob, splitter: Splitter, avg_len: float, put, stop) -> bool:
        text_path = self.docs.text_path(self.cid, fj.hash)
        partial = text_path.with_name(text_path.name + ".partial")
        sink = None
        try:
            doc = open_document(Path(fj.path), self.settings.limits())
            fj.pages = doc.pages
            if not put(("begin", fj, None)):
                return False
            keep_text = not text_path.exists()
            if keep_text:
                partial.parent.mkdir(parents=True, exist_ok=True)
                sink = gzip.open(partial, "wt", encoding="utf-8", compresslevel=3)  # noqa: SIM115 - closed in finally
            for chunk in splitter.split(doc.blocks(), text_sink=sink.write if sink else None):
                if stop.is_set():
                    return False
                text = chunk.embed_text()
                sparse = bm25.document_vector(text, avg_len=avg_len)
                fj.produced += 1
                if not put(("chunk", fj, (chunk, text, sparse))):
                    return False
            if fj.produced == 0:
                raise BadFile("no text to index")
            if sink is not None:
                sink.close()
                sink = None
                os.replace(partial, text_path)
            fj.notes = list(doc.notes)
            return put(("end", fj, None))
        except BadFile as exc:
            return put(("fail", fj, exc.reason))
        except MemoryError:
            return put(("fail", fj, "too large to read in the memory available"))
        except Exception as exc:  # a loader bug or an odd file: report it, keep going
            log.exception("reading %s failed", fj.path)
            return put(("fail", fj, f"could not read the file ({type(exc).__name__}: {exc})"))
        finally:
            if sink is not None:
                sink.close()
            partial.unlink(missing_ok=True)

    # ---- embedding and writing (job thread) ----------------------------------------------------
    def _load_embedder(self) -> None:
        """Before the first file to index: load the embedding model and say so (it takes up to
        half a minute on a laptop; the reader keeps parsing files meanwhile)."""
        if self.embedder.loaded:
            return
        self.ctx.progress(None, f"Loading the embedding model {self.embedder.name}…")
        self.embedder.model()

    def _pipeline(self, files: list[FileJob], reindex: set[str]) -> None:
        rows = {r["path"]: r for r in self.catalog.files(self.cid)}
        batch = self.settings.batch_size
        window_size = batch * WINDOW_BATCHES
        events: queue.Queue = queue.Queue(maxsize=window_size * 2)
        stop = threading.Event()
        reader = threading.Thread(
            target=self._reader,
            args=(files, reindex, rows, events, stop),
            name=f"docs-reader-{self.cid}",
            daemon=True,
        )
        total_bytes = sum(f.size for f in files) or 1
        self._progress = _Progress(self.ctx, len(files), total_bytes)
        window: list[tuple[FileJob, Any]] = []
        open_files: dict[str, FileJob] = {}
        reader.start()
        try:
            while True:
                if self.ctx.cancelled():
                    raise Cancelled(self._partial())
                try:
                    kind, fj, data = events.get(timeout=0.2)
                except queue.Empty:
                    continue
                if kind == "done":
                    break
                if kind == "crash":
                    raise RuntimeError(f"the document reader failed: {data}")
                if kind == "skip":
                    self.summary.skipped.append({"file": fj.path, "reason": data})
                    self._progress.file_done(fj)
                elif kind == "fail":
                    window = [w for w in window if w[0] is not fj]
                    open_files.pop(fj.path, None)
                    self._fail(fj, data)
                elif kind == "begin":
                    self._load_embedder()
                    self._begin(fj)
                    open_files[fj.path] = fj
                elif kind == "chunk":
                    window.append((fj, data))
                    if len(window) >= window_size:
                        self._write(window, open_files)
                        window = []
                elif kind == "end":
                    fj.ended = True
                    if fj.written == fj.produced:
                        self._finish([fj], open_files)
            self._write(window, open_files)
            window = []
        except BaseException:
            stop.set()
            self._abandon(open_files)
            raise
        finally:
            stop.set()
            reader.join(timeout=30)
        if self.summary.indexed or self.summary.removed:
            self.catalog.bump_generation(self.cid)
            if self.summary.chunks and self.store.count() >= OPTIMIZE_MIN_POINTS:
                self.ctx.progress(None, "Optimizing the index…")
                self.store.optimize()

    def _begin(self, fj: FileJob) -> None:
        # the old version's chunks go first: ids change with the content hash
        self.store.delete_files([fj.path])
        self.catalog.set_file(
            self.cid,
            fj.path,
            type=fj.type,
            status="indexing",
            reason=None,
            hash=fj.hash,
            chunking=self.settings.chunking_key(),
            size=fj.size,
            mtime=_mtime(fj.path),
            chunks=0,
            pages=fj.pages,
            notes=None,
        )

    def _write(self, window: list[tuple[FileJob, Any]], open_files: dict[str, FileJob]) -> None:
        if not window:
            return
        require_free(self.folder)  # the disk may fill while this runs: stop here, resumable
        texts = [text for _, (_, text, _) in window]
        vectors = self.embedder.embed_documents(texts, batch_size=self.settings.batch_size)
        points = []
        for (fj, (chunk, _text, sparse)), vector in zip(window, vectors, strict=True):
            points.append(
                ChunkPoint(
                    id=point_id(fj.path, fj.hash, chunk.index),
                    dense=vector.tolist(),
                    sparse=sparse,
                    payload={
                        "file": fj.path,
                        "name": os.path.basename(fj.path),
                        "type": fj.type,
                        "hash": fj.hash,
                        "index": chunk.index,
                        "text": chunk.text,
                        "start": chunk.start,
                        "end": chunk.end,
                        "tokens": chunk.tokens,
                        "page": chunk.page,
                        "page_end": chunk.page_end,
                        "headings": list(chunk.headings),
                    },
                )
            )
        self.store.upsert(points)
        touched: dict[str, FileJob] = {}
        for fj, _ in window:
            fj.written += 1
            touched[fj.path] = fj
        self.summary.chunks += len(points)
        self._progress.chunks(len(points))
        ready = [f for f in touched.values() if f.ended and f.written == f.produced]
        self._finish(ready, open_files)

    def _finish(self, files: list[FileJob], open_files: dict[str, FileJob]) -> None:
        files = [f for f in files if not f.finished]
        if not files:
            return
        self.store.flush()
        for fj in files:
            fj.finished = True
            self.catalog.set_file(
                self.cid,
                fj.path,
                type=fj.type,
                status="indexed",
                reason=None,
                hash=fj.hash,
                chunking=self.settings.chunking_key(),
                size=fj.size,
                mtime=_mtime(fj.path),
                chunks=fj.written,
                pages=fj.pages,
                notes=fj.notes or None,
            )
            open_files.pop(fj.path, None)
            self.summary.indexed.append(fj.path)
            self._progress.file_done(fj)
        self.catalog.bump_generation(self.cid)

    def _fail(self, fj: FileJob, reason: str) -> None:
        self.store.delete_files([fj.path])
        self.catalog.set_file(
            self.cid,
            fj.path,
            type=fj.type,
            status="failed",
            reason=reason,
            hash=fj.hash or None,
            chunking=None,
            size=fj.size,
            mtime=_mtime(fj.path),
            chunks=0,
            pages=fj.pages,
            notes=None,
        )
        self.summary.failed.append({"file": fj.path, "reason": reason})
        self.ctx.log(f"{fj.path}: {reason}", "warning")
        self._progress.file_done(fj)

    def _abandon(self, open_files: dict[str, FileJob]) -> None:
        """After a cancel or an error: files half written are left for the next run to redo."""
        for fj in open_files.values():
            try:
                self.store.delete_files([fj.path])
            except Exception:  # the store may be what failed; the next run cleans up
                log.warning("could not remove the partial chunks of %s", fj.path)
            self.catalog.set_file(
                self.cid,
                fj.path,
                status="indexing",
                reason="interrupted; ingest again (or resume the job) to finish",
                chunks=0,
            )

    def _partial(self) -> dict[str, Any]:
        return {"collection": self.cid, **self.summary.to_dict(), "cancelled": True}

    def _cleanup_text_cache(self) -> None:
        folder = self.catalog.folder(self.cid) / "text"
        if not folder.is_dir():
            return
        used = {f["hash"] for f in self.catalog.files(self.cid) if f["hash"]}
        for path in folder.glob("*.txt.gz"):
            if path.name[: -len(".txt.gz")] not in used:
                path.unlink(missing_ok=True)


def _mtime(path: str) -> float | None:
    try:
        return os.path.getmtime(path)
    except OSError:
        return None


class _Progress:
    """Progress by bytes of files finished, with files/s, chunks/s and an ETA."""

    def __init__(self, ctx: Any, n_files: int, total_bytes: int) -> None:
        self.ctx = ctx
        self.n_files = n_files
        self.total_bytes = total_bytes
        self.files = 0
        self.bytes = 0
        self.n_chunks = 0
        self.started = time.perf_counter()
        self.step = 0

    def chunks(self, n: int) -> None:
        self.n_chunks += n
        self._report()

    def file_done(self, fj: FileJob) -> None:
        self.files += 1
        self.bytes += fj.size
        self._report()

    def _report(self) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-6)
        fraction = min(1.0, self.bytes / self.total_bytes) if self.total_bytes else None
        fps = self.files / elapsed
        cps = self.n_chunks / elapsed
        eta = ""
        if fraction and 0 < fraction < 1:
            eta = f" · ETA {human_duration(elapsed * (1 - fraction) / fraction)}"
        self.ctx.progress(
            fraction if fraction is not None and fraction < 1 else 0.99,
            f"{self.files}/{self.n_files} files · {self.n_chunks} chunks · "
            f"{fps:.1f} files/s · {cps:.0f} chunks/s{eta}",
        )
        self.step += 1
        self.ctx.metrics(
            self.step,
            {
                "files_done": float(self.files),
                "chunks": float(self.n_chunks),
                "files_per_s": fps,
                "chunks_per_s": cps,
            },
        )
