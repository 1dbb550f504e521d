"""Format conversion and train/validation/test splits, each as a new version.

``convert_dataset`` rewrites every row into another format (rows that cannot be held by it are
listed and left out, or stop the step with ``on_error="abort"``). ``split_dataset`` assigns rows to
splits with a seeded shuffle -- the same seed gives the same split -- optionally stratified by a
column so each split keeps its proportions. A split version orders its rows train, validation,
test (each in the original order) and records the boundaries; paging, export and the contamination
check can then address one split.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.datasets import formats
from engine.datasets.library import DatasetLibrary
from engine.datasets.step_options import SplitOptions

if TYPE_CHECKING:
    from engine.services import Services

SPLIT_NAMES = ("train", "validation", "test")
_MAX_FAILED = 1000


def convert_dataset(
    services: Services, ref: str, params: dict[str, Any], ctx: Any
) -> dict[str, Any]:
    to = formats.check_format(params.get("to"))
    on_error = params.get("on_error") or "skip"
    if on_error not in ("skip", "abort"):
        raise UserError("on_error must be skip or abort.")
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    src = ver["format"]
    if src == to:
        raise UserError(f"{ds['name']} is already in {to} format.")
    if to == "preference":
        raise UserError(
            f"{src} rows have no rejected replies, which preference pairs need; nothing to convert."
        )
    if src == "text":
        raise UserError("Plain text has no instruction/response structure to convert.")
    render_text = _renderer(services, params) if to == "text" else None
    failed: list[dict[str, Any]] = []
    failed_total = 0
    lossy = 0

    def transform(pos: int, row: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal failed_total, lossy
        try:
            out, was_lossy = formats.convert(row, src, to, render_text=render_text)
        except formats.RowError as exc:
            failed_total += 1
            if on_error == "abort":
                raise UserError(
                    f"Row {pos} cannot be converted to {to}: {exc}. Nothing was changed; convert "
                    "with on_error=skip to leave such rows out."
                ) from None
            if len(failed) < _MAX_FAILED:
                failed.append({"index": pos, "reason": str(exc)})
            return None
        lossy += was_lossy
        return out

    def summary() -> dict[str, Any]:
        text = f"Converted from {src} to {to}"
        if failed_total:
            text += f"; {failed_total:,} rows could not be converted and were left out"
        if lossy:
            text += f"; {lossy:,} rows lost data ({'rejected replies' if src == 'preference' else 'structure'})"
        return {
            "description": text + ".",
            "from": src,
            "to": to,
            "failed": failed,
            "failed_total": failed_total,
            "lossy": lossy,
        }

    result = lib.rewrite(
        ds,
        ver,
        transform,
        fmt=to,
        operation="convert",
        params={k: v for k, v in params.items() if v is not None},
        summary=summary,
        empty_message=f"No row of {ds['name']} can be converted to {to}"
        + (f" (row {failed[0]['index']}: {failed[0]['reason']})" if failed else "")
        + "; nothing was changed.",
        progress=lambda f: ctx.progress(f, f"Converting to {to}"),
        check_cancelled=ctx.check_cancelled,
    )
    return {**result, "from": src, "to": to, "failed": failed, "failed_total": failed_total,
            "lossy": lossy, "rows": result["version"]["rows"]}  # fmt: skip


def _renderer(services: Services, params: dict[str, Any]) -> Any:
    """Conversations to text: a model's chat template, a named template, or a plain transcript."""
    model_id, name = params.get("model_id"), params.get("template")
    if not model_id and not name:
        return None
    from engine.chat import templates
    from engine.datasets.tokens import load_tokenizer

    tok = load_tokenizer(services, model_id) if model_id else None
    model = (
        services.library.get(model_id) if model_id else {"name": "template", "chat_template": None}
    )
    chat = templates.resolve(model, choice=name, own_template=tok.own_template if tok else None)
    bos, eos = (tok.bos_token, tok.eos_token) if tok else ("", "")

    def render(messages: list[dict[str, str]]) -> str:
        return templates.render(
            chat, messages, bos_token=bos, eos_token=eos, add_generation_prompt=False,
            model_name=model["name"],
        )  # fmt: skip

    return render


def check_split_params(params: dict[str, Any]) -> dict[str, float]:
    """The split shares to use (``SplitOptions``: none given means its defaults)."""
    return SplitOptions.ratios_of(params)


def _allot(n: int, ratios: dict[str, float]) -> dict[str, int]:
    """Rows per split (largest remainder), every named split non-empty when there are enough rows."""
    total = sum(ratios.values())
    want = {k: n * v / total * min(1.0, total) for k, v in ratios.items()}
    counts = {k: int(v) for k, v in want.items()}
    budget = round(n * min(1.0, total))
    for k in sorted(want, key=lambda k: want[k] - counts[k], reverse=True):
        if sum(counts.values()) >= budget:
            break
        counts[k] += 1
    for k in counts:
        if counts[k] == 0 and n >= len(counts):
            donor = max(counts, key=counts.get)
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[k] = 1
    return counts


def split_dataset(services: Services, ref: str, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    ratios = check_split_params(params)
    seed = int(params.get("seed", 0))
    stratify = params.get("stratify_by")
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    n = ver["rows"]
    if n < len(ratios):
        raise UserError(f"{ds['name']} has {n} rows, too few for {len(ratios)} splits.")
    rng = random.Random(seed)
    assignment: dict[str, list[int]] = {k: [] for k in ratios}
    strata: dict[str, int] = {}
    if stratify:
        if not isinstance(stratify, str):
            raise UserError("stratify_by must be a column name.")
        groups: dict[str, list[int]] = {}
        missing = 0
        with lib.reader(ds["id"], ver["version"]) as reader:
            for pos, row in reader.iter_rows():
                if pos % 8192 == 0:
                    ctx.check_cancelled()
                value = formats.field_value(row, stratify)
                missing += value is None
                groups.setdefault(_label(value), []).append(pos)
        if missing == n:
            raise UserError(
                f"No row has a column {stratify!r}; choose one of {', '.join(ver['fields'])}."
            )
        for label in sorted(groups):
            members = groups[label]
            rng.shuffle(members)
            strata[label] = len(members)
            start = 0
            for k, c in _allot(len(members), ratios).items():
                assignment[k].extend(members[start : start + c])
                start += c
    else:
        order = list(range(n))
        rng.shuffle(order)
        start = 0
        for k, c in _allot(n, ratios).items():
            assignment[k] = order[start : start + c]
            start += c
    ordered: list[int] = []
    splits = []
    for k in SPLIT_NAMES:
        if assignment.get(k):
            rows = sorted(assignment[k])
            splits.append({"name": k, "start": len(ordered), "rows": len(rows)})
            ordered.extend(rows)
    sizes = ", ".join(f"{s['name']} {s['rows']:,}" for s in splits)
    result = lib.subset(
        ds,
        ver,
        ordered,
        operation="split",
        params={"ratios": ratios, "seed": seed, "stratify_by": stratify},
        summary={
            "description": f"Split into {sizes} (seed {seed}"
            + (f", stratified by {stratify}" if stratify else "")
            + ")"
            + ("; rows left out: " + f"{n - len(ordered):,}" if len(ordered) < n else "")
            + ".",
            "splits": {s["name"]: s["rows"] for s in splits},
            "strata": strata,
            "left_out": n - len(ordered),
        },
        empty_message="The split would be empty.",
        splits=splits,
    )
    return {**result, "splits": splits, "strata": strata}


def _label(value: Any) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)
