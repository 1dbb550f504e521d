"""Job kinds of the dataset steps that can take long: import, convert, filter, dedup, PII scrub,
split, contamination check, export and generation. Each runs in a thread of the engine (no torch:
a model call for generation goes through the chat engine's runtime manager), reports progress and
stops at the next check after a cancel. Generation is resumable; the others start over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.jobs.registry import JobContext, job_kind

_CHANGED = ("data.changed",)


def _name(p: dict[str, Any]) -> str:
    return str(p.get("dataset_name") or p.get("dataset") or "dataset")


@job_kind(
    "data.import",
    title=lambda p: (
        "Import "
        + (Path(str(p.get("path"))).name if p.get("path") else "conversations")
        + " as a dataset"
    ),
    changes=_CHANGED,
)
def import_dataset(ctx: JobContext) -> dict[str, Any]:
    """Read a file (or Hearth's conversations) into a new dataset."""
    from engine.datasets.importer import run_import

    return run_import(ctx.services, ctx.params, ctx)


@job_kind("data.convert", title=lambda p: f"Convert {_name(p)} to {p.get('to')}", changes=_CHANGED)
def convert(ctx: JobContext) -> dict[str, Any]:
    """Convert every row to another format (a new version)."""
    from engine.datasets.split import convert_dataset

    return convert_dataset(ctx.services, ctx.params["dataset"], ctx.params, ctx)


@job_kind("data.filter", title=lambda p: f"Filter {_name(p)}", changes=_CHANGED)
def filter_rows(ctx: JobContext) -> dict[str, Any]:
    """Drop rows by token length, regex or empty fields (a new version)."""
    from engine.datasets.clean import filter_rows as run

    return run(ctx.services, ctx.params["dataset"], ctx.params, ctx)


@job_kind(
    "data.dedup",
    title=lambda p: (
        f"{'Find' if p.get('dry_run') else 'Remove'} "
        f"{'near-' if p.get('near') else ''}duplicates in {_name(p)}"
    ),
    changes=_CHANGED,
)
def dedup(ctx: JobContext) -> dict[str, Any]:
    """Exact or near-duplicate (MinHash + LSH) clusters, removed unless dry_run."""
    from engine.datasets.clean import dedup as run

    return run(ctx.services, ctx.params["dataset"], ctx.params, ctx)


@job_kind("data.scrub", title=lambda p: f"Scrub personal data from {_name(p)}", changes=_CHANGED)
def scrub(ctx: JobContext) -> dict[str, Any]:
    """Replace e-mail addresses, phone numbers and IP addresses with placeholders."""
    from engine.datasets.clean import scrub_pii

    return scrub_pii(ctx.services, ctx.params["dataset"], ctx.params, ctx)


@job_kind("data.split", title=lambda p: f"Split {_name(p)}", changes=_CHANGED)
def split(ctx: JobContext) -> dict[str, Any]:
    """Train/validation/test split with a seed, optionally stratified."""
    from engine.datasets.split import split_dataset

    return split_dataset(ctx.services, ctx.params["dataset"], ctx.params, ctx)


@job_kind(
    "data.contamination", title=lambda p: f"Check {_name(p)} for test-set leaks", changes=_CHANGED
)
def contamination(ctx: JobContext) -> dict[str, Any]:
    """Training rows sharing n-grams with an evaluation set; removed when asked."""
    from engine.datasets.clean import contamination as run

    return run(ctx.services, ctx.params["dataset"], ctx.params, ctx)


@job_kind("data.export", title=lambda p: f"Export {_name(p)}")
def export(ctx: JobContext) -> dict[str, Any]:
    """Write JSONL or Parquet files and a dataset card."""
    from engine.datasets.export import export_dataset

    return export_dataset(ctx.services, ctx.params["dataset"], ctx.params, ctx)


@job_kind(
    "data.generate",
    title=lambda p: (
        "Generate Q&A from " + str(p.get("collection_name") or p.get("collection"))
        if p.get("collection")
        else "Generate tasks (self-instruct)"
    ),
    resumable=True,
    changes=_CHANGED,
)
def generate(ctx: JobContext) -> dict[str, Any]:
    """Question/answer pairs from a document collection, or self-instruct tasks from seeds."""
    from engine.datasets.generate import run_generate

    return run_generate(ctx.services, ctx.params, ctx)
