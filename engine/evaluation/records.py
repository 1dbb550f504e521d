"""Stored evaluations: ``<data root>/evaluations/<run_id>/``.

``run.json`` holds the request, its state and, when done, the results; ``answers-<n>.jsonl`` the
``n``-th model's answers (or scores), one line appended and flushed per row, so a killed job
resumes where it stopped; ``scores-<n>.json`` the per-row metric values of a task run.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import NotFoundError, UserError

if TYPE_CHECKING:
    from engine.services import Services

FOLDER = "evaluations"


def runs_folder(services: Services) -> Path:
    return Path(services.root) / FOLDER


def _run_path(services: Services, run_id: str) -> Path:
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise NotFoundError(f"No evaluation run {run_id!r}.")
    return runs_folder(services) / run_id


def load_run(services: Services, run_id: str) -> dict[str, Any]:
    path = _run_path(services, run_id) / "run.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"No evaluation run {run_id!r}; `hearth-engine eval list` shows them.") from None  # fmt: skip
    except (OSError, ValueError) as exc:
        raise UserError(f"The record of evaluation {run_id} cannot be read ({exc}).") from None


def save_run(services: Services, record: dict[str, Any]) -> None:
    folder = _run_path(services, record["run_id"])
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "run.json.partial"
    tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(tmp, folder / "run.json")


def list_runs(services: Services) -> list[dict[str, Any]]:
    out = []
    folder = runs_folder(services)
    for path in sorted(folder.glob("*/run.json")) if folder.is_dir() else []:
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out.append({k: rec.get(k) for k in ("run_id", "kind", "dataset", "dataset_name", "split", "models",
                                            "model_names", "metrics", "state", "created_at", "rows")})  # fmt: skip
        out[-1]["results"] = [{"model_id": r["model_id"], "name": r.get("name"),
                               "metrics": r.get("metrics", {})} for r in rec.get("results") or []]  # fmt: skip
    return sorted(out, key=lambda r: r.get("created_at") or 0, reverse=True)


def delete_run(services: Services, run_id: str) -> None:
    import shutil

    load_run(services, run_id)
    shutil.rmtree(_run_path(services, run_id))


def create(services: Services, params: dict[str, Any], kind: str = "tasks") -> dict[str, Any]:
    run_id = f"eval-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    names = [services.library.get(m)["name"] for m in params["models"]]
    record = {"run_id": run_id, "kind": kind, "state": "queued", "created_at": time.time(),
              **params, "model_names": names, "results": []}  # fmt: skip
    save_run(services, record)
    return record


def answers(services: Services, run_id: str, n: int, file: str = "answers") -> dict[int, dict[str, Any]]:  # fmt: skip
    """The stored lines of the ``n``-th model (``<file>-<n>.jsonl``) by row index (a torn last
    line is ignored)."""
    path = _run_path(services, run_id) / f"{file}-{n}.jsonl"
    out: dict[int, dict[str, Any]] = {}
    if not path.exists():
        return out
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # the line a kill cut short: that row is asked again
            out[int(row["index"])] = row
    return out


def open_answers(services: Services, run_id: str, n: int, file: str = "answers") -> Any:
    """The ``n``-th model's ``<file>-<n>.jsonl``, open for appending, a torn last line (a kill in
    the middle of a write) cut off first so the next line starts on a line of its own."""
    path = _run_path(services, run_id) / f"{file}-{n}.jsonl"
    if path.exists():
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(path, "r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)
    return open(path, "a", encoding="utf-8")


def check_models(
    services: Services,
    models: Any,
    *,
    least: int = 1,
    most: int | None = None,
    scoring: bool = False,
) -> list[str]:
    """The model ids of a request, each a loadable chat model of the library, or a ``UserError``
    saying which is not and why. ``scoring``: the evaluation needs token probabilities, which a
    model on a server does not give."""
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models) or not models:
        raise UserError("Name one or more library models to evaluate (model ids).")
    if len(set(models)) != len(models):
        raise UserError("A model is named twice; name each model once.")
    if len(models) < least or (most is not None and len(models) > most):
        raise UserError(f"This needs {least} to {most} models; {len(models)} were named." if most
                        else f"This needs at least {least} models.")  # fmt: skip
    for model_id in models:
        model = services.library.get(model_id)
        if model.get("role") not in ("llm", "adapter"):
            raise UserError(f"{model['name']} is not a chat model; evaluations need language models.")  # fmt: skip
        if model.get("missing"):
            raise UserError(f"The files of {model['name']} are missing; relink it (Models > Locate…) or pick another model.")  # fmt: skip
        if scoring and model.get("format") == "remote":
            raise UserError(f"{model['name']} runs on a server, which sends answers but not the token probabilities this evaluation needs; evaluate it with a task run on a dataset (answers against references), the judge or the arena.")  # fmt: skip
    from engine.models.remote import require_consent

    require_consent(services, models)
    return models
