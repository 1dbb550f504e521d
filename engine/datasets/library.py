"""The dataset library: datasets and their versions in ``hearth.db``, rows under ``datasets/<id>/``.

Every change makes a new version (``commit``) that records its operation, parameters and a summary
of what changed; the dataset's *current* version is what the table shows and the next step starts
from. Undo makes the parent version current again; ``checkout`` makes any version current. Versions
form a tree (a step after an undo branches), and none is ever deleted short of deleting the
dataset.

This module keeps the catalog and the version tree. Reading (``page``, ``scan``, ``row``) is in
``reading.py``, editing (``edit``, ``subset``, ``rewrite``) in ``editing.py``, and the search and
filter language in ``filters.py``; ``DatasetLibrary`` brings them together.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import NotFoundError, UserError
from engine.datasets.editing import RowEditing
from engine.datasets.reading import RowReading
from engine.datasets.rowstore import RowReader, VersionWriter, remove_version_files
from engine.datasets.versions import dataset_lock

if TYPE_CHECKING:
    from engine.services import Services

_NAME_MAX = 120


class DatasetLibrary(RowReading, RowEditing):
    def __init__(self, services: Services) -> None:
        self.services = services
        self.base = Path(services.root) / "datasets"
        self.base.mkdir(parents=True, exist_ok=True)

    # -- lookup ---------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        return self.services.db()

    def folder(self, dataset_id: str) -> Path:
        return self.base / dataset_id

    def sweep_orphans(self) -> list[str]:
        """Remove what killed writers left: the folder of a dataset that was never registered (an
        import or a generation killed before it finished) and unfinished version files of a
        registered one, unless a live process is still writing there. Returns what went."""
        import shutil

        from engine.datasets.rowstore import live_writers

        if not self.base.is_dir():
            return []
        known = {r["id"] for r in self._db().execute("SELECT id FROM datasets").fetchall()}
        gone = []
        for folder in sorted(self.base.iterdir()):
            if not folder.is_dir() or folder.name.startswith(".") or live_writers(folder):
                continue  # dot-folders hold resumable work (generation); live writers are busy
            if folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)
                gone.append(folder.name)
                continue
            for partial in (folder / "versions").glob(".new-*.idx"):
                partial.unlink(missing_ok=True)
                gone.append(f"{folder.name}/{partial.name}")
        return gone

    def _row(self, ref: str) -> sqlite3.Row:
        if not isinstance(ref, str) or not ref:
            raise UserError("A dataset id or name is needed.")
        db = self._db()
        row = db.execute("SELECT * FROM datasets WHERE id = ?", (ref,)).fetchone()
        if row is None:
            row = db.execute("SELECT * FROM datasets WHERE name = ?", (ref,)).fetchone()
        if row is None:
            raise NotFoundError(f"No dataset {ref!r}; `hearth-engine data list` shows them.")
        return row

    def resolve(self, ref: str) -> str:
        return self._row(ref)["id"]

    def _version_row(self, dataset_id: str, version: int) -> sqlite3.Row:
        row = (
            self._db()
            .execute(
                "SELECT * FROM dataset_versions WHERE dataset_id = ? AND version = ?",
                (dataset_id, version),
            )
            .fetchone()
        )
        if row is None:
            raise NotFoundError(f"The dataset has no version {version}.")
        return row

    def version_of(
        self, ref: str, version: int | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(dataset, version)`` dicts; ``version`` None means the current one."""
        ds = self._row(ref)
        v = self._version_row(ds["id"], ds["current_version"] if version is None else int(version))
        return self._dataset_dict(ds), _version_dict(v)

    def reader(self, dataset_id: str, version: int) -> RowReader:
        return RowReader(self.folder(dataset_id), version)

    # -- listing --------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        rows = self._db().execute("SELECT * FROM datasets ORDER BY updated_at DESC").fetchall()
        return [self._dataset_dict(r) for r in rows]

    def get(self, ref: str) -> dict[str, Any]:
        return self._dataset_dict(self._row(ref))

    def _dataset_dict(self, row: sqlite3.Row) -> dict[str, Any]:
        v = (
            self._db()
            .execute(
                "SELECT * FROM dataset_versions WHERE dataset_id = ? AND version = ?",
                (row["id"], row["current_version"]),
            )
            .fetchone()
        )
        count = (
            self._db()
            .execute("SELECT COUNT(*) FROM dataset_versions WHERE dataset_id = ?", (row["id"],))
            .fetchone()[0]
        )
        version = _version_dict(v) if v else {}
        return {
            "id": row["id"],
            "name": row["name"],
            "format": version.get("format"),
            "rows": version.get("rows", 0),
            "fields": version.get("fields", []),
            "splits": version.get("splits"),
            "version": row["current_version"],
            "versions": count,
            "source": json.loads(row["source"] or "{}"),
            "path": str(self.folder(row["id"])),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    def history(self, ref: str) -> dict[str, Any]:
        ds = self._row(ref)
        rows = (
            self._db()
            .execute(
                "SELECT * FROM dataset_versions WHERE dataset_id = ? ORDER BY version", (ds["id"],)
            )
            .fetchall()
        )
        return {
            "dataset": self._dataset_dict(ds),
            "current": ds["current_version"],
            "versions": [_version_dict(r) for r in rows],
        }

    # -- names ----------------------------------------------------------------------------
    def unique_name(self, wanted: str) -> str:
        base = (wanted or "dataset").strip()[:_NAME_MAX] or "dataset"
        name, n = base, 1
        while self._db().execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone():
            n += 1
            name = f"{base}-{n}"
        return name

    def check_new_name(self, name: str) -> str:
        name = _check_name(name)
        if self._db().execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone():
            raise UserError(f"A dataset named {name!r} exists already; choose another name.")
        return name

    def rename(self, ref: str, name: str) -> dict[str, Any]:
        ds = self._row(ref)
        name = _check_name(name)
        other = self._db().execute("SELECT id FROM datasets WHERE name = ?", (name,)).fetchone()
        if other and other["id"] != ds["id"]:
            raise UserError(f"A dataset named {name!r} exists already; choose another name.")
        self._db().execute(
            "UPDATE datasets SET name = ?, updated_at = ? WHERE id = ?",
            (name, time.time(), ds["id"]),
        )
        return self.get(ds["id"])

    def delete(self, ref: str) -> dict[str, Any]:
        ds = self._row(ref)
        with dataset_lock(ds["id"]):
            self._db().execute("DELETE FROM datasets WHERE id = ?", (ds["id"],))
            shutil.rmtree(self.folder(ds["id"]), ignore_errors=True)
        return {"deleted": ds["id"], "name": ds["name"]}

    # -- creating datasets and versions ---------------------------------------------------
    def new_id(self) -> str:
        return uuid.uuid4().hex[:12]

    def create(
        self,
        dataset_id: str,
        name: str,
        writer: VersionWriter,
        *,
        fmt: str,
        source: dict[str, Any],
        operation: str,
        params: dict[str, Any],
        summary: dict[str, Any],
    ) -> dict[str, Any]:
        """Register a dataset whose first version ``writer`` built in ``folder(dataset_id)``."""
        if writer.count == 0:
            writer.abort()
            raise UserError("No rows to save; nothing was created.")
        now = time.time()
        params = _clean_params(params)
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            name = self.unique_name(name)
            writer.commit(1)
            db.execute(
                "INSERT INTO datasets (id, name, source, current_version, created_at, updated_at) "
                "VALUES (?, ?, ?, 1, ?, ?)",
                (dataset_id, name, json.dumps(source), now, now),
            )
            db.execute(
                "INSERT INTO dataset_versions (dataset_id, version, parent, operation, params, "
                "summary, format, rows, fields, splits, created_at) "
                "VALUES (?, 1, NULL, ?, ?, ?, ?, ?, ?, NULL, ?)",
                (
                    dataset_id,
                    operation,
                    json.dumps(params),
                    json.dumps(summary),
                    fmt,
                    writer.count,
                    json.dumps(list(writer.fields)),
                    now,
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            writer.abort()
            remove_version_files(self.folder(dataset_id), 1)
            raise
        writer.release()
        return self.get(dataset_id)

    def commit(
        self,
        dataset_id: str,
        parent: int,
        writer: VersionWriter,
        *,
        operation: str,
        params: dict[str, Any],
        summary: dict[str, Any],
        fmt: str,
        fields: list[str],
        splits: list[dict[str, Any]] | None,
        empty_message: str,
    ) -> dict[str, Any]:
        """Make ``writer``'s rows a new, current version (child of ``parent``).

        A step that would leave no rows raises ``UserError(empty_message)`` and changes nothing.
        """
        if writer.count == 0:
            writer.abort()
            raise UserError(empty_message)
        for key in writer.fields:
            if key not in fields:
                fields = [*fields, key]
        now = time.time()
        params = _clean_params(params)
        committed = None
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            version = (
                1
                + db.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM dataset_versions WHERE dataset_id = ?",
                    (dataset_id,),
                ).fetchone()[0]
            )
            writer.commit(version)
            committed = version
            db.execute(
                "INSERT INTO dataset_versions (dataset_id, version, parent, operation, params, "
                "summary, format, rows, fields, splits, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    dataset_id,
                    version,
                    parent,
                    operation,
                    json.dumps(params),
                    json.dumps(summary),
                    fmt,
                    writer.count,
                    json.dumps(fields),
                    json.dumps(splits) if splits else None,
                    now,
                ),
            )
            db.execute(
                "UPDATE datasets SET current_version = ?, updated_at = ? WHERE id = ?",
                (version, now, dataset_id),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            if committed is not None:  # files in place but no record: remove them
                remove_version_files(self.folder(dataset_id), committed)
                writer.release()
            else:
                writer.abort()
            raise
        writer.release()
        return _version_dict(self._version_row(dataset_id, version))

    def checkout(self, ref: str, version: int) -> dict[str, Any]:
        """Make ``version`` current (undo, redo, or jump anywhere in the history)."""
        ds = self._row(ref)
        self._version_row(ds["id"], int(version))
        self._db().execute(
            "UPDATE datasets SET current_version = ?, updated_at = ? WHERE id = ?",
            (int(version), time.time(), ds["id"]),
        )
        return self.get(ds["id"])

    def undo(self, ref: str) -> dict[str, Any]:
        ds = self._row(ref)
        v = self._version_row(ds["id"], ds["current_version"])
        if v["parent"] is None:
            raise UserError(f"{ds['name']} is at its first version; there is nothing to undo.")
        return self.checkout(ds["id"], v["parent"])

    def redo(self, ref: str) -> dict[str, Any]:
        """Move to the newest child of the current version (what undo left)."""
        ds = self._row(ref)
        child = (
            self._db()
            .execute(
                "SELECT MAX(version) FROM dataset_versions WHERE dataset_id = ? AND parent = ?",
                (ds["id"], ds["current_version"]),
            )
            .fetchone()[0]
        )
        if child is None:
            raise UserError(f"{ds['name']} has no later version to redo.")
        return self.checkout(ds["id"], child)


# -- helpers ----------------------------------------------------------------------------------


def _clean_params(params: dict[str, Any]) -> dict[str, Any]:
    """What a version records of a step's parameters (not the job's bookkeeping)."""
    return {k: v for k, v in params.items() if k not in ("dataset", "dataset_name")}


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise UserError("A dataset name must be a non-empty string.")
    name = name.strip()
    if len(name) > _NAME_MAX:
        raise UserError(f"A dataset name can be at most {_NAME_MAX} characters.")
    return name


def _version_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "version": row["version"],
        "parent": row["parent"],
        "operation": row["operation"],
        "params": json.loads(row["params"] or "{}"),
        "summary": json.loads(row["summary"] or "{}"),
        "format": row["format"],
        "rows": row["rows"],
        "fields": json.loads(row["fields"] or "[]"),
        "splits": json.loads(row["splits"]) if row["splits"] else None,
        "created_at": row["created_at"],
    }
