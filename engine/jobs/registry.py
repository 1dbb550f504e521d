"""Job kinds and the context a job function runs with.

A job kind is a plain function ``run(ctx) -> result`` (result JSON-serialisable) declared with
``@job_kind``. It reports through ``ctx`` and polls ``ctx.check_cancelled()`` between units of
work, so the same function runs in a thread, in a worker subprocess, or from the CLI.

Kinds are looked up by name; ``KIND_MODULES`` lists the modules that declare them, imported
only when a kind is first needed so start-up stays light.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from engine.core.errors import Cancelled, UserError

if TYPE_CHECKING:
    from engine.services import Services

# Modules that declare job kinds. Each must keep heavy imports inside its functions.
KIND_MODULES: list[str] = [
    "engine.models.jobs",
    "engine.documents.jobs",
    "engine.datasets.jobs",
    "engine.training.jobs",
    "engine.pruning.jobs",
    "engine.bias.jobs",
    "engine.evaluation.jobs",
]


class JobContext(Protocol):
    """What a job function can do while it runs."""

    job_id: str
    params: dict[str, Any]
    attempt: int
    services: Services  # of the process the job runs in

    def progress(self, fraction: float | None, message: str | None = None) -> None:
        """Report progress in [0, 1] (None = indeterminate) with an optional status line."""

    def metrics(self, step: int, values: dict[str, float]) -> None:
        """Record numeric metrics (loss, lr, tokens/s...) at ``step``."""

    def log(self, message: str, level: str = "info") -> None:
        """Append a line to the job's log."""

    def cancelled(self) -> bool:
        """True once the user asked to cancel."""

    def check_cancelled(self, partial: Any = None) -> None:
        """Raise ``Cancelled(partial)`` if the user asked to cancel."""


@dataclass(frozen=True)
class JobKind:
    name: str
    run: Callable[[JobContext], Any]
    title: Callable[[dict[str, Any]], str]
    subprocess: bool = False
    resumable: bool = False
    help: str = ""
    # notifications the engine sends when a job of this kind ends (e.g. "models.changed"),
    # since a worker subprocess cannot reach the client itself
    changes: tuple[str, ...] = ()


_KINDS: dict[str, JobKind] = {}
_loaded: set[str] = set()


def job_kind(
    name: str,
    *,
    title: str | Callable[[dict[str, Any]], str],
    subprocess: bool = False,
    resumable: bool = False,
    changes: tuple[str, ...] = (),
) -> Callable[[Callable[[JobContext], Any]], Callable[[JobContext], Any]]:
    """Declare a job kind. ``subprocess=True`` for torch-heavy work (crash or OOM kills only it)."""

    def decorate(fn: Callable[[JobContext], Any]) -> Callable[[JobContext], Any]:
        title_fn = title if callable(title) else (lambda _params, _t=title: _t)
        _KINDS[name] = JobKind(
            name, fn, title_fn, subprocess, resumable, (fn.__doc__ or "").strip(), tuple(changes)
        )
        return fn

    return decorate


def get_kind(name: str) -> JobKind:
    _load_all()
    try:
        return _KINDS[name]
    except KeyError:
        raise UserError(
            f"Unknown job kind {name!r}; known kinds: {', '.join(sorted(_KINDS))}."
        ) from None


def all_kinds() -> dict[str, JobKind]:
    _load_all()
    return dict(_KINDS)


def _load_all() -> None:
    # HEARTH_EXTRA_JOB_MODULES (comma-separated) lets plug-ins and tests add kinds; it is read
    # here rather than at import so a worker subprocess sees the same kinds as its engine.
    extra = [m for m in os.environ.get("HEARTH_EXTRA_JOB_MODULES", "").split(",") if m.strip()]
    for module in [*KIND_MODULES, *(m.strip() for m in extra)]:
        if module not in _loaded:
            importlib.import_module(module)
            _loaded.add(module)


class SliceContext:
    """A job context whose progress fills only ``lo``..``hi`` of the job's bar (a step inside a
    longer job, such as a conversion before a capture); everything else is the job's own."""

    def __init__(self, ctx: Any, lo: float, hi: float) -> None:
        self._ctx, self._lo, self._hi = ctx, lo, hi

    def progress(self, fraction: float | None, message: str | None = None) -> None:
        if fraction is not None:
            fraction = self._lo + (self._hi - self._lo) * max(0.0, min(1.0, fraction))
        self._ctx.progress(fraction, message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


@dataclass
class SimpleContext:
    """A context that only records; used to call a job function directly (tests, scripts)."""

    params: dict[str, Any] = field(default_factory=dict)
    job_id: str = "direct"
    attempt: int = 1
    events: list[tuple[str, Any]] = field(default_factory=list)
    cancel_flag: bool = False
    services: Services | None = None

    def progress(self, fraction: float | None, message: str | None = None) -> None:
        self.events.append(("progress", (fraction, message)))

    def metrics(self, step: int, values: dict[str, float]) -> None:
        self.events.append(("metrics", (step, dict(values))))

    def log(self, message: str, level: str = "info") -> None:
        self.events.append(("log", (level, message)))

    def cancelled(self) -> bool:
        return self.cancel_flag

    def check_cancelled(self, partial: Any = None) -> None:
        if self.cancel_flag:
            raise Cancelled(partial)
