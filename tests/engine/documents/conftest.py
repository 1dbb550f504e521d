"""Fixtures for the Documents tests: a data root with Services, a corpus folder, and helpers to
create collections and run ingestion through the job system (as the app does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.services import Services


@pytest.fixture
def services(hearth_home: Path):
    svc = Services(hearth_home)
    yield svc
    svc.docs.close()
    svc.close()


class Ctx:
    """A request context for calling ``docs.*`` handlers directly."""

    request_id = "test"

    def __init__(self, services: Services) -> None:
        self.services = services
        self.notes: list[tuple[str, dict]] = []
        self.cancel = False

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.notes.append((method, params))

    def cancelled(self) -> bool:
        return self.cancel

    def wait_cancelled(self, timeout: float) -> bool:
        return self.cancel


@pytest.fixture
def ctx(services) -> Ctx:
    return Ctx(services)


def ingest(ctx: Ctx, collection: str, paths: list[Path | str] | None = None) -> dict[str, Any]:
    """Run ``docs.ingest`` as a job and return its result (fails the test if the job failed)."""
    from engine.documents import methods

    started = methods.docs_ingest(
        ctx, id=collection, paths=[str(p) for p in paths] if paths is not None else None
    )
    job = ctx.services.jobs.wait(started["job"]["id"], 300)
    assert job["state"] == "succeeded", job
    return job["result"]


def small_settings(**extra: Any) -> dict[str, Any]:
    return {"chunk_tokens": 64, "overlap_tokens": 8, "batch_size": 8, **extra}
