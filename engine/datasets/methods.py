"""JSON-RPC methods ``data.*`` (see docs/PROTOCOL.md).

Quick operations answer directly: listing, paging and searching rows, editing, history and undo,
rendering a row with a model's template, statistics. Steps over whole datasets are jobs: the
method checks its request first (the dataset exists, the parameters make sense) and answers a
``UserError`` at once, and only then starts the job and returns ``{"job": Job}``.
"""

from __future__ import annotations

from typing import Any

from engine.core.errors import UserError
from engine.core.options import optional_int
from engine.rpc.registry import RequestContext, method


def _lib(ctx: RequestContext) -> Any:
    from engine.datasets.library import DatasetLibrary

    return DatasetLibrary(ctx.services)


def _changed(ctx: RequestContext) -> None:
    ctx.notify("data.changed", {})


def _start(ctx: RequestContext, kind: str, dataset: str | None, params: dict[str, Any]) -> dict:
    clean = {k: v for k, v in params.items() if v is not None}
    if dataset is not None:
        ds = _lib(ctx).get(dataset)
        clean.update(dataset=ds["id"], dataset_name=ds["name"])
    return {"job": ctx.services.jobs.start(kind, clean)}


# -- library --------------------------------------------------------------------------------------


@method("data.list")
def list_datasets(ctx: RequestContext) -> dict[str, Any]:
    return {"datasets": _lib(ctx).list()}


@method("data.get")
def get_dataset(ctx: RequestContext, id: str) -> dict[str, Any]:
    return _lib(ctx).get(id)


@method("data.history")
def history(ctx: RequestContext, id: str) -> dict[str, Any]:
    return _lib(ctx).history(id)


@method("data.checkout")
def checkout(ctx: RequestContext, id: str, version: int) -> dict[str, Any]:
    out = _lib(ctx).checkout(id, optional_int(version, "version"))
    _changed(ctx)
    return out


@method("data.undo")
def undo(ctx: RequestContext, id: str) -> dict[str, Any]:
    out = _lib(ctx).undo(id)
    _changed(ctx)
    return out


@method("data.redo")
def redo(ctx: RequestContext, id: str) -> dict[str, Any]:
    out = _lib(ctx).redo(id)
    _changed(ctx)
    return out


@method("data.rename")
def rename(ctx: RequestContext, id: str, name: str) -> dict[str, Any]:
    out = _lib(ctx).rename(id, name)
    _changed(ctx)
    return out


@method("data.delete")
def delete(ctx: RequestContext, id: str) -> dict[str, Any]:
    out = _lib(ctx).delete(id)
    _changed(ctx)
    return out


@method("data.step_options")
def step_options(ctx: RequestContext) -> dict[str, Any]:
    """The tunable options of the dataset steps, for the GUI's dialogs."""
    from engine.datasets.step_options import STEP_OPTIONS

    return {name: cls.describe() for name, cls in STEP_OPTIONS.items()}


@method("data.formats")
def formats_info(ctx: RequestContext) -> dict[str, Any]:
    from engine.datasets import formats

    return {
        "formats": [
            {
                "name": f,
                "required": list(formats.REQUIRED[f]),
                "optional": list(formats.OPTIONAL[f]),
                "synonyms": {k: list(v) for k, v in formats.SYNONYMS[f].items()},
            }
            for f in formats.FORMATS
        ]
    }


# -- import ---------------------------------------------------------------------------------------


def _import_params(**kw: Any) -> dict[str, Any]:
    from engine.datasets import formats, importer

    if kw.get("format") is not None:
        formats.check_format(kw["format"])
        formats.check_mapping(kw["format"], kw.get("mapping"))
    elif kw.get("mapping"):
        raise UserError("A column mapping needs the format it maps to.")
    if kw.get("on_error") is not None:
        importer.check_on_error(kw["on_error"])
    return {k: v for k, v in kw.items() if v is not None}


@method("data.inspect")
def inspect_source(
    ctx: RequestContext,
    path: str | None = None,
    source: str | None = None,
    conversation_ids: list | None = None,
    kind: str | None = None,
    format: str | None = None,
    mapping: dict | None = None,
    encoding: str | None = None,
    split: str | None = None,
    text_mode: str | None = None,
) -> dict[str, Any]:
    from engine.datasets.importer import inspect_source as run

    params = _import_params(path=path, source=source, conversation_ids=conversation_ids, kind=kind,
                            format=format, mapping=mapping, encoding=encoding, split=split,
                            text_mode=text_mode)  # fmt: skip
    return run(ctx.services, params)


@method("data.import")
def import_dataset(
    ctx: RequestContext,
    path: str | None = None,
    source: str | None = None,
    conversation_ids: list | None = None,
    kind: str | None = None,
    name: str | None = None,
    format: str | None = None,
    mapping: dict | None = None,
    on_error: str | None = None,
    encoding: str | None = None,
    split: str | None = None,
    text_mode: str | None = None,
) -> dict[str, Any]:
    from engine.datasets import readers

    params = _import_params(path=path, source=source, conversation_ids=conversation_ids, kind=kind,
                            name=name, format=format, mapping=mapping, on_error=on_error,
                            encoding=encoding, split=split, text_mode=text_mode)  # fmt: skip
    if name is not None:
        _lib(ctx).check_new_name(name)
    if source != "conversations":
        opened = readers.open_source(path or "", kind=kind, encoding=encoding, split=split,
                                     text_mode=text_mode or "paragraph")  # fmt: skip
        params["path"] = str(opened.path)
    return _start(ctx, "data.import", None, params)


# -- rows -----------------------------------------------------------------------------------------


@method("data.rows")
def rows(
    ctx: RequestContext,
    id: str,
    offset: int = 0,
    limit: int = 50,
    version: int | None = None,
    split: str | None = None,
    query: str | None = None,
    regex: bool = False,
    case_sensitive: bool = False,
    field: str | None = None,
    filters: list | None = None,
    budget: int = 200_000,
) -> dict[str, Any]:
    """A page of rows; with a query or filters, the next matches from ``offset`` on."""
    offset = optional_int(offset, "offset") or 0
    limit = optional_int(limit, "limit")
    if query or filters:
        if filters is not None and not isinstance(filters, list):
            raise UserError("filters must be a list of {field, op, value} objects.")
        return _lib(ctx).scan(
            id, query=query, regex=bool(regex), case_sensitive=bool(case_sensitive), field=field,
            filters=filters, offset=offset, limit=limit, version=version, split=split,
            budget=max(1000, optional_int(budget, "budget") or 200_000), cancelled=ctx.cancelled,
        )  # fmt: skip
    return _lib(ctx).page(id, offset=offset, limit=limit, version=version, split=split)


@method("data.row")
def row(ctx: RequestContext, id: str, index: int, version: int | None = None) -> dict[str, Any]:
    return _lib(ctx).row(id, optional_int(index, "index"), version=version)


@method("data.edit")
def edit(
    ctx: RequestContext,
    id: str,
    update: list | None = None,
    add: list | None = None,
    insert: list | None = None,
    delete: list | None = None,
) -> dict[str, Any]:
    """Update, add, insert and delete rows of the current version: one new version."""
    for name, value in (("update", update), ("add", add), ("insert", insert), ("delete", delete)):
        if value is not None and not isinstance(value, list):
            raise UserError(f"{name} must be a list.")
    out = _lib(ctx).edit(id, update=update, add=add, insert=insert, delete=delete)
    _changed(ctx)
    return out


@method("data.remove_rows")
def remove_rows(
    ctx: RequestContext, id: str, indexes: list, reason: str | None = None
) -> dict[str, Any]:
    from engine.datasets.clean import remove_rows as run

    out = run(ctx.services, id, indexes, reason=reason)
    _changed(ctx)
    return out


@method("data.render")
def render(
    ctx: RequestContext,
    id: str,
    index: int,
    model_id: str | None = None,
    template: str | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """A row as the model sees it in training (its chat template) with its token count."""
    from engine.datasets.tokens import render_row

    record = _lib(ctx).row(id, optional_int(index, "index"), version=version)
    ds, ver = _lib(ctx).version_of(id, version)
    out = render_row(
        ctx.services, record["row"], ver["format"], model_id=model_id, template=template
    )
    return {"index": record["index"], **out}


@method("data.stats")
def stats(
    ctx: RequestContext,
    id: str,
    version: int | None = None,
    split: str | None = None,
    model_id: str | None = None,
    plots: bool = True,
) -> dict[str, Any]:
    """Token lengths, roles, turns and fields; PNG plots as file paths."""
    from engine.datasets.stats import compute_stats

    return compute_stats(ctx.services, id, version=version, split=split, model_id=model_id,
                         plots=bool(plots), cancelled=ctx.cancelled)  # fmt: skip


# -- steps (jobs) ---------------------------------------------------------------------------------


@method("data.convert")
def convert(
    ctx: RequestContext,
    id: str,
    to: str,
    on_error: str | None = None,
    model_id: str | None = None,
    template: str | None = None,
) -> dict[str, Any]:
    from engine.datasets import formats

    formats.check_format(to)
    if model_id:
        ctx.services.library.get(model_id)
    if template is not None:
        from engine.chat.templates import check_choice

        check_choice(template)
    return _start(ctx, "data.convert", id, {"to": to, "on_error": on_error, "model_id": model_id,
                                            "template": template})  # fmt: skip


@method("data.filter")
def filter_rows(
    ctx: RequestContext,
    id: str,
    min_tokens: int | None = None,
    max_tokens: Any = None,
    model_id: str | None = None,
    include: str | None = None,
    exclude: str | None = None,
    field: str | None = None,
    drop_empty: bool = False,
    empty_fields: list | None = None,
) -> dict[str, Any]:
    from engine.datasets.clean import check_filter_params

    params = {"min_tokens": min_tokens, "max_tokens": max_tokens, "model_id": model_id,
              "include": include, "exclude": exclude, "field": field,
              "drop_empty": bool(drop_empty) or None, "empty_fields": empty_fields}  # fmt: skip
    check_filter_params(params)
    if model_id:
        ctx.services.library.get(model_id)
    return _start(ctx, "data.filter", id, params)


@method("data.dedup")
def dedup(
    ctx: RequestContext,
    id: str,
    near: bool = False,
    threshold: float | None = None,
    num_perm: int | None = None,
    ngram: int | None = None,
    field: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Parameters and defaults: ``engine.datasets.clean.dedup.DedupOptions``."""
    from engine.datasets.clean import check_dedup_params

    params = {"near": bool(near), "threshold": threshold, "num_perm": num_perm, "ngram": ngram,
              "field": field, "dry_run": bool(dry_run)}  # fmt: skip
    params = {k: v for k, v in params.items() if v is not None}
    check_dedup_params(params)
    return _start(ctx, "data.dedup", id, params)


@method("data.scrub")
def scrub(
    ctx: RequestContext, id: str, kinds: list | None = None, dry_run: bool = False
) -> dict[str, Any]:
    from engine.datasets.clean import check_pii_kinds

    check_pii_kinds(kinds)
    return _start(ctx, "data.scrub", id, {"kinds": kinds, "dry_run": bool(dry_run)})


@method("data.split")
def split(
    ctx: RequestContext,
    id: str,
    train: float | None = None,
    validation: float | None = None,
    test: float | None = None,
    seed: int = 0,
    stratify_by: str | None = None,
) -> dict[str, Any]:
    from engine.datasets.split import check_split_params

    params = {"train": train, "validation": validation, "test": test, "seed": seed,
              "stratify_by": stratify_by}  # fmt: skip
    check_split_params(params)
    return _start(ctx, "data.split", id, params)


@method("data.contamination")
def contamination(
    ctx: RequestContext,
    id: str,
    eval_id: str | None = None,
    split: str | None = None,
    eval_split: str | None = None,
    ngram: int | None = None,
    min_overlap: float | None = None,
    remove: bool = False,
) -> dict[str, Any]:
    """Parameters and defaults: ``engine.datasets.clean.contamination.ContaminationOptions``."""
    from engine.datasets.clean.contamination import ContaminationOptions

    if eval_id is not None:
        eval_id = _lib(ctx).resolve(eval_id)
    params = {"eval_id": eval_id, "split": split, "eval_split": eval_split, "ngram": ngram,
              "min_overlap": min_overlap, "remove": bool(remove)}  # fmt: skip
    params = {k: v for k, v in params.items() if v is not None}
    ContaminationOptions.from_dict(params)  # bad values are refused before a job starts
    return _start(ctx, "data.contamination", id, params)


@method("data.export")
def export(
    ctx: RequestContext,
    id: str,
    path: str,
    format: str | None = None,
    file_format: str | None = None,
    split: str | None = None,
    version: int | None = None,
    model_id: str | None = None,
    template: str | None = None,
) -> dict[str, Any]:
    from engine.datasets import formats
    from engine.datasets.export import plan

    if format is not None:
        formats.check_format(format)
    target, _single, kind = plan(path, file_format)
    return _start(ctx, "data.export", id, {"path": str(target), "format": format,
                  "file_format": kind, "split": split, "version": version, "model_id": model_id,
                  "template": template})  # fmt: skip


@method("data.generate")
def generate(
    ctx: RequestContext,
    mode: str | None = None,
    model_id: str | None = None,
    collection: str | None = None,
    per_chunk: int | None = None,
    max_chunks: int | None = None,
    seeds: list | None = None,
    seed_dataset: str | None = None,
    count: int | None = None,
    files: list | None = None,
    prompt: str | None = None,
    params: dict | None = None,
    filters: dict | None = None,
    name: str | None = None,
    prompts: str | None = None,
    judge_id: str | None = None,
) -> dict[str, Any]:
    """Start a generation job: question/answer pairs from a collection, self-instruct, or
    preference pairs (two answers to each prompt of a dataset, the better one picked by a judge)."""
    from engine.chat.params import ChatParams
    from engine.datasets.generate import check_params

    job_params = {"mode": mode, "model_id": model_id, "collection": collection,
                  "per_chunk": per_chunk, "max_chunks": max_chunks, "seeds": seeds,
                  "seed_dataset": seed_dataset, "count": count, "files": files,
                  "prompt": prompt or None,
                  "params": params, "filters": filters, "name": name, "prompts": prompts,
                  "judge_id": judge_id}  # fmt: skip
    job_params = {k: v for k, v in job_params.items() if v is not None}
    check_params(job_params)
    ChatParams.from_dict(params)
    if model_id:
        from engine.models.remote import require_consent

        require_consent(ctx.services, [model_id])
    if seed_dataset:
        _lib(ctx).get(seed_dataset)
    if prompts:
        _lib(ctx).get(prompts)
    if judge_id:
        from engine.evaluation.judge import check_judge

        check_judge(ctx.services, judge_id)
    if name is not None:
        _lib(ctx).check_new_name(name)
    if collection:
        from engine.datasets import sources

        job_params["collection_name"] = sources.check_collection(ctx.services, collection)
    return _start(ctx, "data.generate", None, job_params)
