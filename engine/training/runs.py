"""The run registry: one folder per training run under ``<root>/runs/<run id>/``.

    run.json        the run: model, dataset, options, template, state, summary, artifacts, the
                    library models made from it -- rewritten atomically under a file lock
    metrics.jsonl   one line per step ({"step", "loss", "lr", ...}); eval lines carry eval_loss
    samples.jsonl   sample answers to the fixed prompts at each evaluation
    checkpoints/    see ``engine.training.checkpoint``
    adapter/        the final adapter (peft format: adapter_config.json + safetensors)
    model/          full fine-tuning: the trained model (safetensors folder)
    merged/         the adapter merged into the base (safetensors folder)
    gguf/           GGUF exports
    eval/           evaluation reports (perplexity before/after, answers side by side)

The folder is the source of truth, so a run survives the database and moves with the data root.
``state`` is the run's own record; while it says queued or running, the state of the job that
owns it wins (a killed worker cannot update run.json, its job is marked failed or interrupted).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import NotFoundError, UserError
from engine.core.paths import atomic_write_text, describe_os_error

if TYPE_CHECKING:
    from engine.services import Services

RUN_FILE = "run.json"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,80}$")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes (the engine, a worker, the CLI)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: msvcrt locks a byte range
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
            return
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class RunStore:
    """Training runs; a subclass with another ``kind`` keeps other runs (pruning) in the same
    folder, each store seeing only its own."""

    kind = "train"
    noun = "training run"
    list_hint = "hearth-engine train list"

    def __init__(self, services: Services) -> None:
        self.services = services
        self.base = Path(services.root) / "runs"

    # -- paths ----------------------------------------------------------------------------
    def folder(self, run_id: str) -> Path:
        if not isinstance(run_id, str) or not _ID.match(run_id):
            raise NotFoundError(f"No {self.noun} {run_id!r}; `{self.list_hint}` shows them.")
        return self.base / run_id

    def _read(self, run_id: str) -> dict[str, Any]:
        path = self.folder(run_id) / RUN_FILE
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(
                f"No {self.noun} {run_id!r}; `{self.list_hint}` shows them."
            ) from None
        except (OSError, ValueError) as exc:
            raise UserError(f"The record of run {run_id} is unreadable ({exc}).") from exc
        if run.get("kind") != self.kind:
            raise NotFoundError(f"{run_id} is not a {self.noun}.")
        return run

    # -- reading --------------------------------------------------------------------------
    def get(self, run_id: str) -> dict[str, Any]:
        return self._present(self._read(run_id))

    def list(self) -> list[dict[str, Any]]:
        runs = []
        if self.base.is_dir():
            for child in self.base.iterdir():
                if not (child / RUN_FILE).is_file():
                    continue
                try:
                    runs.append(self._present(self._read(child.name)))
                except (UserError, NotFoundError):
                    continue
        return sorted(runs, key=lambda r: r.get("created_at") or 0, reverse=True)

    def _present(self, run: dict[str, Any]) -> dict[str, Any]:
        run = dict(run)
        run["folder"] = str(self.folder(run["id"]))
        run["chat"] = chat_targets(run)
        # the job's state wins over a run record that could not know better: one left running
        # by a killed worker, and one that stopped because the engine died (interrupted)
        if run.get("job_id") and run.get("state") in ("queued", "running", "interrupted"):
            from engine.jobs.store import JobStore

            try:  # the store, not services.jobs: a worker process must not start a manager
                job = JobStore(self.services).get(run["job_id"])
            except Exception:  # the job row is gone: keep the run's own record
                job = None
            if job is not None and job["state"] not in ("queued", "running"):
                run["state"] = job["state"]
                run["error"] = job.get("error") or run.get("error")
        return run

    def metrics(self, run_id: str, *, after_step: int = 0) -> list[dict[str, Any]]:
        path = self.folder(run_id) / "metrics.jsonl"
        out = []
        try:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        row = json.loads(line)
                    except ValueError:
                        continue  # a line cut by a crash
                    if row.get("step", 0) > after_step:
                        out.append(row)
        except FileNotFoundError:
            return []
        return out

    def samples(self, run_id: str) -> list[dict[str, Any]]:
        path = self.folder(run_id) / "samples.jsonl"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    # -- writing --------------------------------------------------------------------------
    def new_id(self, name: str) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-") or "run"
        while True:
            run_id = f"{slug}-{secrets.token_hex(3)}"
            if not (self.base / run_id).exists():
                return run_id

    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        run_id = self.new_id(record.get("name") or "run")
        now = time.time()
        run = {"id": run_id, "kind": self.kind, "state": "queued", "created_at": now,
               "updated_at": now, "step": 0, "total_steps": None, "summary": {},
               "artifacts": {}, "models": {}, **record}  # fmt: skip
        try:
            self.folder(run_id).mkdir(parents=True)
            atomic_write_text(self.folder(run_id) / RUN_FILE, json.dumps(run, indent=1))
        except OSError as exc:
            raise UserError(
                describe_os_error(exc, f"creating the run folder in {self.base}")
            ) from exc
        return self.get(run_id)

    def update(self, run_id: str, change: Callable[[dict[str, Any]], None] | None = None, **fields: Any) -> dict[str, Any]:  # fmt: skip
        """Read-modify-write run.json under a lock: ``fields`` are set, then ``change(run)`` runs."""
        folder = self.folder(run_id)
        with _locked(folder / ".lock"):
            run = self._read(run_id)
            run.update(fields)
            if change is not None:
                change(run)
            run["updated_at"] = time.time()
            atomic_write_text(folder / RUN_FILE, json.dumps(run, indent=1, default=str))
        return self._present(run)

    def set_artifact(self, run_id: str, key: str, path: Path | str, *, model_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        def change(run: dict[str, Any]) -> None:
            run.setdefault("artifacts", {})[key] = str(path)
            if model_id:
                run.setdefault("models", {})[key] = model_id

        return self.update(run_id, change)

    def append_jsonl(self, run_id: str, name: str, row: dict[str, Any]) -> None:
        with open(self.folder(run_id) / name, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, default=float) + "\n")

    def truncate_metrics(self, run_id: str, step: int) -> None:
        """Drop metric and sample lines after ``step`` (a resumed run redoes those steps)."""
        for name in ("metrics.jsonl", "samples.jsonl"):
            path = self.folder(run_id) / name
            if not path.exists():
                continue
            keep = []
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line).get("step", 0) <= step:
                        keep.append(line)
                except ValueError:
                    continue
            atomic_write_text(path, "".join(f"{line}\n" for line in keep))

    def delete(self, run_id: str) -> dict[str, Any]:
        """Remove a run and its files (an explicit user action), and the library entries made from
        it (merged model, GGUF exports, the adapter and the base GGUF exported for it)."""
        run = self.get(run_id)
        if run["state"] in ("queued", "running"):
            raise UserError(f"Run {run_id} is {run['state']}; cancel it before deleting it.")
        folder = self.folder(run_id)
        trash = folder.with_name(f".{run_id}.deleting")
        try:
            os.replace(folder, trash)
        except OSError as exc:
            raise UserError(describe_os_error(exc, f"deleting {folder}")) from exc
        # adapters first: a base exported for them is refused while they depend on it
        made = sorted((run.get("models") or {}).items(), key=lambda kv: kv[0] != "gguf_adapter")
        for _key, model_id in made:
            with contextlib.suppress(Exception):
                self.services.library.remove(model_id)
        shutil.rmtree(trash, ignore_errors=True)
        return {"deleted": run_id}


def chat_targets(run: dict[str, Any]) -> dict[str, Any]:
    """What "chat with this model" opens: a registered export (a merged GGUF first, then the
    adapter's library entry, then the merged safetensors folder), and the GGUF adapter + base."""
    models = run.get("models") or {}
    artifacts = run.get("artifacts") or {}
    model = None
    for key, runtime in (("gguf_q8_0", "llama_cpp"), ("gguf_f16", "llama_cpp"),
                         ("gguf_f32", "llama_cpp"), ("gguf_adapter", "llama_cpp"),
                         ("prompt", "transformers"),
                         ("merged", "transformers"), ("model", "transformers")):  # fmt: skip
        if models.get(key):
            model = {"model_id": models[key], "runtime": runtime, "artifact": key}
            break
    adapter = None
    if artifacts.get("gguf_adapter"):
        base_id = models.get("gguf_adapter_base") or run.get("model_id")
        adapter = {"model_id": models.get("gguf_adapter"), "base_model_id": base_id,
                   "base_path": artifacts.get("gguf_adapter_base"),
                   "lora_path": artifacts["gguf_adapter"]}  # fmt: skip
    return {"model": model, "adapter": adapter}
