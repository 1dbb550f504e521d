"""The ``docs.ingest`` and ``docs.move`` job kinds.

It runs in a thread of the engine (not a worker subprocess): the collection's embedded store can be
open in one process only, and searches in the engine share it. It is resumable: a rerun skips what
is indexed and redoes what was half done.
"""

from __future__ import annotations

from typing import Any

from engine.jobs.registry import JobContext, job_kind


def _title(params: dict[str, Any]) -> str:
    return f"Ingest into {params.get('name') or params.get('collection')}"


@job_kind("docs.ingest", title=_title, resumable=True, changes=("docs.changed",))
def ingest(ctx: JobContext) -> dict[str, Any]:
    """Index files and folders into a collection (params: collection, paths)."""
    from engine.documents.ingest import Ingestor

    return Ingestor(ctx.services, ctx.params["collection"], ctx).run(
        ctx.params.get("paths") or None
    )


@job_kind("docs.move", title=lambda p: f"Move {p.get('name') or p.get('collection')} to {p.get('to') or 'the embedded store'}",
          resumable=True, changes=("docs.changed",))  # fmt: skip
def move(ctx: JobContext) -> dict[str, Any]:
    """Copy a collection to a Qdrant server or back, verify, then switch (params: collection,
    to, api_key_env). In the engine's process: the embedded store is open there."""
    from engine.documents.move import run_move

    return run_move(ctx.services, ctx.params, ctx)
