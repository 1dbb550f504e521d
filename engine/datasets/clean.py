"""Cleaning steps. Each makes a new version that records what it removed or changed.

- ``filter_rows``: token length (a model's tokenizer and chat template, or the estimate), regex
  include/exclude, empty or missing fields -- one version for all criteria given;
- ``dedup``: exact duplicates of normalised text (NFKC, case-folded, whitespace collapsed), or
  near duplicates (MinHash + LSH, see ``minhash``); ``dry_run`` returns the clusters without
  removing anything, so they can be reviewed first;
- ``scrub_pii``: e-mail addresses, phone numbers and IP addresses replaced by placeholders;
- ``contamination``: rows of a training set sharing word n-grams with an evaluation set (another
  dataset, or another split of this one), listed, and removed on request;
- ``remove_rows``: drop rows by position (e.g. the reviewed dedup clusters).

A step that would leave no rows raises ``UserError`` and makes no version.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

from engine.core.errors import UserError
from engine.datasets import formats
from engine.datasets.library import DatasetLibrary, _compile, _split_range
from engine.datasets.tokens import RowCounter

_SAMPLE = 1000  # removed positions recorded in a version's summary


def _nothing_left(n: int, what: str) -> str:
    return (
        f"All {n:,} rows would be removed by {what}; nothing was changed. Loosen the settings "
        "and try again."
    )


# -- filters ------------------------------------------------------------------------------------


def check_filter_params(params: dict[str, Any]) -> None:
    for key in ("min_tokens", "max_tokens"):
        value = params.get(key)
        if value is None or (key == "max_tokens" and value == "context"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(f"{key} must be a whole number of tokens (0 or more).")
    if params.get("max_tokens") == "context" and not params.get("model_id"):
        raise UserError('max_tokens="context" needs a model whose context window to use.')
    for key in ("include", "exclude"):
        if params.get(key) is not None:
            if not isinstance(params[key], str) or not params[key]:
                raise UserError(f"{key} must be a regular expression.")
            _compile(params[key])
    fields = params.get("empty_fields")
    if fields is not None and (
        not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
    ):
        raise UserError("empty_fields must be a list of field names.")
    if not any(
        params.get(k) not in (None, False, [])
        for k in ("min_tokens", "max_tokens", "include", "exclude", "drop_empty", "empty_fields")
    ):
        raise UserError(
            "Choose at least one filter: min_tokens, max_tokens, include, exclude, drop_empty or "
            "empty_fields."
        )


def is_empty_row(row: dict[str, Any], fmt: str, fields: list[str] | None = None) -> bool:
    """True when a required field (or one of ``fields``) is missing or blank."""
    if fields:
        for field in fields:
            value = formats.field_value(row, field)
            if value is None or (isinstance(value, str) and not value.strip()) or value in ([], {}):
                return True
        return False
    if fmt == "alpaca":
        return (
            not str(row.get("instruction") or "").strip()
            or not str(row.get("output") or "").strip()
        )
    if fmt == "preference":
        return any(not str(row.get(k) or "").strip() for k in ("prompt", "chosen", "rejected"))
    if fmt == "text":
        return not str(row.get("text") or "").strip()
    texts = formats.text_fields(row, fmt)
    return not texts or any(not t.strip() for t in texts)


def filter_rows(services: Any, ref: str, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    check_filter_params(params)
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    fmt = ver["format"]
    field = params.get("field")
    model_id = params.get("model_id")
    counter = RowCounter(services, model_id, fmt) if model_id else None
    lo = params.get("min_tokens")
    hi = params.get("max_tokens")
    if hi == "context":
        hi = counter.context_length if counter else None
        if not hi:
            raise UserError("That model does not say how long its context is; give max_tokens.")
    include = _compile(params["include"]) if params.get("include") else None
    exclude = _compile(params["exclude"]) if params.get("exclude") else None
    drop_empty = bool(params.get("drop_empty")) or bool(params.get("empty_fields"))
    empty_fields = params.get("empty_fields") or None
    reasons = {"too_short": 0, "too_long": 0, "not_included": 0, "excluded": 0, "empty": 0}
    removed: list[int] = []
    recount: dict[int, int] = {}
    with lib.reader(ds["id"], ver["version"]) as reader:
        stored = reader.tokens()

    def keep(pos: int, row: dict[str, Any]) -> dict[str, Any] | None:
        reason = None
        if drop_empty and is_empty_row(row, fmt, empty_fields):
            reason = "empty"
        if reason is None and (include or exclude):
            text = (
                formats.row_text(row, fmt)
                if not field
                else _as_text(formats.field_value(row, field))
            )
            if include and not include.search(text):
                reason = "not_included"
            elif exclude and exclude.search(text):
                reason = "excluded"
        if reason is None and (lo is not None or hi is not None):
            n = counter(row) if counter else stored[pos]
            if counter:
                recount[pos] = n
            if lo is not None and n < lo:
                reason = "too_short"
            elif hi is not None and n > hi:
                reason = "too_long"
        if reason is None:
            return row
        recount.pop(pos, None)
        reasons[reason] += 1
        if len(removed) < _SAMPLE:
            removed.append(pos)
        return None

    what = _describe_filter(lo, hi, include, exclude, drop_empty, empty_fields, counter)

    def summary() -> dict[str, Any]:
        total = sum(reasons.values())
        parts = [f"{v:,} {k.replace('_', ' ')}" for k, v in reasons.items() if v]
        return {
            "description": f"Filter ({what}) removed {total:,} rows"
            + (f": {', '.join(parts)}." if parts else "."),
            "removed": total,
            "reasons": reasons,
            "removed_sample": removed,
            "exact_tokens": bool(counter),
        }

    result = lib.rewrite(
        ds,
        ver,
        keep,
        fmt=fmt,
        operation="filter",
        params={k: v for k, v in params.items() if v is not None},
        summary=summary,
        empty_message=_nothing_left(ver["rows"], f"this filter ({what})"),
        token_of=lambda pos: recount.pop(pos, None),
        progress=lambda f: ctx.progress(f, "Filtering"),
        check_cancelled=ctx.check_cancelled,
    )
    after = result["version"]["rows"] if result["version"] else ver["rows"]
    return {
        **result,
        "rows_before": ver["rows"],
        "rows_after": after,
        "removed": ver["rows"] - after,
        "reasons": reasons,
    }


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, ensure_ascii=False)


def _describe_filter(lo, hi, include, exclude, drop_empty, empty_fields, counter) -> str:
    parts = []
    unit = f"{counter.tok.name} tokens" if counter else "tokens (estimated)"
    if lo is not None and hi is not None:
        parts.append(f"{lo}-{hi} {unit}")
    elif lo is not None:
        parts.append(f"at least {lo} {unit}")
    elif hi is not None:
        parts.append(f"at most {hi} {unit}")
    if include:
        parts.append(f"include /{include.pattern}/")
    if exclude:
        parts.append(f"exclude /{exclude.pattern}/")
    if drop_empty:
        parts.append("no empty " + (", ".join(empty_fields) if empty_fields else "fields"))
    return "; ".join(parts)


# -- dedup ----------------------------------------------------------------------------------------

_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def check_dedup_params(params: dict[str, Any]) -> None:
    t = params.get("threshold", 0.8)
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 < t <= 1.0:
        raise UserError("threshold must be a number above 0 and at most 1 (e.g. 0.8).")
    for key, lo, hi in (("num_perm", 16, 1024), ("ngram", 1, 20)):
        v = params.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi):
            raise UserError(f"{key} must be a whole number from {lo} to {hi}.")


def dedup(services: Any, ref: str, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    check_dedup_params(params)
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    fmt = ver["format"]
    near = bool(params.get("near"))
    field = params.get("field")

    def text_of(row: dict[str, Any]) -> str:
        return (
            formats.row_text(row, fmt) if not field else _as_text(formats.field_value(row, field))
        )

    with lib.reader(ds["id"], ver["version"]) as reader:
        total = max(1, len(reader))
        if near:
            clusters = _near_clusters(reader, text_of, params, ctx, total)
        else:
            clusters = _exact_clusters(reader, text_of, ctx, total)
    remove = {i for c in clusters for i in c["remove"]}
    rows_before = ver["rows"]
    out: dict[str, Any] = {
        "rows_before": rows_before,
        "rows_after": rows_before - len(remove),
        "removed": len(remove),
        "clusters": clusters,
        "near": near,
        "threshold": params.get("threshold", 0.8) if near else 1.0,
        "dry_run": bool(params.get("dry_run")),
        "dataset": ds,
        "version": None,
    }
    if params.get("dry_run") or not remove:
        return out
    kind = f"near-duplicate (Jaccard >= {out['threshold']})" if near else "exact duplicate"
    result = lib.subset(
        ds,
        ver,
        lambda pos: pos not in remove,
        operation="dedup",
        params={k: v for k, v in params.items() if k != "dry_run"},
        summary={
            "description": f"Removed {len(remove):,} {kind} rows in {len(clusters):,} clusters.",
            "removed": len(remove),
            "clusters": len(clusters),
            "removed_sample": sorted(remove)[:_SAMPLE],
        },
        empty_message=_nothing_left(rows_before, "dedup"),
        check_cancelled=ctx.check_cancelled,
    )
    out.update(result)
    return out


def _exact_clusters(reader: Any, text_of: Any, ctx: Any, total: int) -> list[dict[str, Any]]:
    import json

    first: dict[bytes, int] = {}
    groups: dict[int, list[int]] = {}
    for pos, _entry, raw in reader.iter_raw():
        if pos % 8192 == 0:
            ctx.check_cancelled()
            ctx.progress(pos / total, "Hashing rows")
        key = hashlib.blake2b(
            normalize(text_of(json.loads(raw))).encode("utf-8"), digest_size=16
        ).digest()
        keep = first.setdefault(key, pos)
        if keep != pos:
            groups.setdefault(keep, [keep]).append(pos)
    return [
        {"keep": k, "remove": rows[1:], "rows": rows, "similarity": 1.0}
        for k, rows in sorted(groups.items())
    ]


def _near_clusters(
    reader: Any, text_of: Any, params: dict[str, Any], ctx: Any, total: int
) -> list[dict[str, Any]]:
    from engine.datasets.minhash import NearDupFinder

    finder = NearDupFinder(
        threshold=float(params.get("threshold", 0.8)),
        num_perm=int(params.get("num_perm") or 128),
        ngram=int(params.get("ngram") or 3),
        seed=int(params.get("seed") or 1),
    )
    batch: list[str] = []
    import json

    for pos, _entry, raw in reader.iter_raw():
        batch.append(text_of(json.loads(raw)))
        if len(batch) == 8192:
            ctx.check_cancelled()
            finder.add(batch)
            batch = []
            ctx.progress(0.85 * (pos + 1) / total, f"MinHash signatures: {pos + 1:,} rows")
    if batch:
        finder.add(batch)
    ctx.progress(0.9, "Comparing candidates")
    return finder.clusters(lambda i: text_of(reader.row(i)), check_cancelled=ctx.check_cancelled)


def remove_rows(
    services: Any, ref: str, indexes: Any, *, reason: str | None = None
) -> dict[str, Any]:
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    if not isinstance(indexes, list) or not indexes:
        raise UserError("Give the positions of the rows to remove.")
    bad = [
        i
        for i in indexes
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < ver["rows"]
    ]
    if bad:
        raise UserError(f"Row {bad[0]!r} does not exist; the dataset has {ver['rows']} rows.")
    drop = set(indexes)
    result = lib.subset(
        ds,
        ver,
        lambda pos: pos not in drop,
        operation="remove",
        params={"reason": reason} if reason else {},
        summary={
            "description": f"Removed {len(drop):,} rows" + (f" ({reason})." if reason else "."),
            "removed": len(drop),
            "removed_sample": sorted(drop)[:_SAMPLE],
        },
        empty_message=_nothing_left(ver["rows"], "this removal"),
    )
    return {
        **result,
        "rows_before": ver["rows"],
        "rows_after": result["version"]["rows"],
        "removed": len(drop),
    }


# -- PII ------------------------------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
PII_PATTERNS: dict[str, tuple[re.Pattern, str]] = {
    "email": (
        re.compile(
            r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
        ),
        "[EMAIL]",
    ),
    "ip": (
        re.compile(
            rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\d.]*\d)"
            r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])"
            r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}(?::[0-9A-Fa-f]{1,4}){1,6}(?![\w:])"
            r"|(?<![\w:])::1(?![\w:])"
        ),
        "[IP]",
    ),
    "phone": (
        re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]\d{2,5}){1,4}(?![\w-])"
            r"|(?<![\w+])\+\d{7,15}(?!\w)|(?<![\w+])\d{10,11}(?!\w)"
        ),
        "[PHONE]",
    ),
}
_DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")


def _phone_ok(match: str) -> bool:
    digits = sum(c.isdigit() for c in match)
    return 7 <= digits <= 15 and not _DATE.match(match.strip())


def scrub_text(text: str, kinds: tuple[str, ...], counts: dict[str, int]) -> str:
    for kind in ("email", "ip", "phone"):  # IPs before phones: 10.0.0.1 is not a phone number
        if kind not in kinds:
            continue
        pattern, token = PII_PATTERNS[kind]

        def sub(m: re.Match, kind: str = kind, token: str = token) -> str:
            if kind == "phone" and not _phone_ok(m.group(0)):
                return m.group(0)
            counts[kind] += 1
            return token

        text = pattern.sub(sub, text)
    return text


def _scrub_value(value: Any, kinds: tuple[str, ...], counts: dict[str, int]) -> Any:
    if isinstance(value, str):
        return scrub_text(value, kinds, counts)
    if isinstance(value, list):
        return [_scrub_value(v, kinds, counts) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_value(v, kinds, counts) for k, v in value.items()}
    return value


def check_pii_kinds(kinds: Any) -> tuple[str, ...]:
    if kinds is None:
        return tuple(PII_PATTERNS)
    if not isinstance(kinds, list) or not kinds or any(k not in PII_PATTERNS for k in kinds):
        raise UserError(f"kinds must be a list drawn from {', '.join(PII_PATTERNS)}.")
    return tuple(kinds)


def scrub_pii(services: Any, ref: str, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    kinds = check_pii_kinds(params.get("kinds"))
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    counts = dict.fromkeys(kinds, 0)
    changed: list[int] = []
    examples: list[dict[str, Any]] = []

    def scrub(pos: int, row: dict[str, Any]) -> dict[str, Any]:
        before = sum(counts.values())
        out = _scrub_value(row, kinds, counts)
        if sum(counts.values()) == before:
            return row
        changed.append(pos)
        if len(examples) < 20:
            examples.append({"index": pos, "before": row, "after": out})
        return out

    if params.get("dry_run"):
        with lib.reader(ds["id"], ver["version"]) as reader:
            for pos, row in reader.iter_rows():
                if pos % 8192 == 0:
                    ctx.check_cancelled()
                scrub(pos, row)
        return {"counts": counts, "rows_changed": len(changed), "examples": examples,
                "dry_run": True, "dataset": ds, "version": None}  # fmt: skip
    if not _any_pii(lib, ds, ver, kinds, ctx):
        return {"counts": counts, "rows_changed": 0, "examples": [], "dry_run": False,
                "dataset": ds, "version": None}  # fmt: skip
    result = lib.rewrite(
        ds,
        ver,
        scrub,
        fmt=ver["format"],
        operation="scrub_pii",
        params={"kinds": list(kinds)},
        summary=lambda: {
            "description": "Scrubbed "
            + ", ".join(f"{v:,} {k}{'s' if v != 1 else ''}" for k, v in counts.items())
            + f" in {len(changed):,} rows.",
            "counts": counts,
            "rows_changed": len(changed),
            "changed_sample": changed[:_SAMPLE],
        },
        empty_message="The dataset is empty.",
        progress=lambda f: ctx.progress(f, "Scrubbing"),
        check_cancelled=ctx.check_cancelled,
    )
    return {
        **result,
        "counts": counts,
        "rows_changed": len(changed),
        "examples": examples,
        "dry_run": False,
    }


def _any_pii(lib: DatasetLibrary, ds: dict, ver: dict, kinds: tuple[str, ...], ctx: Any) -> bool:
    """A cheap first pass, so a clean dataset gets no new (identical) version."""
    counts = dict.fromkeys(kinds, 0)
    with lib.reader(ds["id"], ver["version"]) as reader:
        for pos, _entry, raw in reader.iter_raw():
            if pos % 8192 == 0:
                ctx.check_cancelled()
            scrub_text(raw.decode("utf-8"), kinds, counts)
            if any(counts.values()):
                return True
    return False


# -- contamination ----------------------------------------------------------------------------


def contamination(services: Any, ref: str, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Training rows that share word n-grams with the evaluation rows."""
    import numpy as np

    from engine.datasets.minhash import NearDupFinder

    n = params.get("ngram", 8)
    if isinstance(n, bool) or not isinstance(n, int) or not 3 <= n <= 50:
        raise UserError("ngram must be a whole number from 3 to 50 (8 or 13 are usual).")
    min_overlap = params.get("min_overlap", 0.0)
    if (
        isinstance(min_overlap, bool)
        or not isinstance(min_overlap, (int, float))
        or not 0 <= min_overlap <= 1
    ):
        raise UserError("min_overlap must be a fraction from 0 to 1.")
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    eval_ref = params.get("eval_id") or ds["id"]
    eds, ever = lib.version_of(eval_ref)
    split, eval_split = params.get("split"), params.get("eval_split")
    if eds["id"] == ds["id"]:
        names = [s["name"] for s in ver.get("splits") or []]
        if not names:
            raise UserError(
                "Choose an evaluation dataset (eval_id), or split this dataset first to compare "
                "its training rows with its test rows."
            )
        split = split or ("train" if "train" in names else names[0])
        if eval_split == split:
            raise UserError("The training and evaluation splits must differ.")
    lo, hi = _split_range(ver, split)
    finder = NearDupFinder(ngram=n)  # only its shingles are used: the same word ids on both sides
    with lib.reader(eds["id"], ever["version"]) as reader:
        ranges = (
            [_split_range(ever, eval_split)]
            if eval_split
            else [
                (s["start"], s["start"] + s["rows"])
                for s in ever.get("splits") or []
                if s["name"] != split
            ]
            if eds["id"] == ds["id"]
            else [(0, ever["rows"])]
        )
        eval_hashes, eval_rows = [], []
        for a, b in ranges:
            for start in range(a, b, 8192):
                ctx.check_cancelled()
                rows = reader.rows(start, min(b, start + 8192))
                h, starts = finder.shingles(formats.row_text(r, ever["format"]) for r in rows)
                eval_hashes.append(h)
                eval_rows.append(np.repeat(np.arange(start, start + len(rows)), np.diff(starts)))
    if not eval_hashes:
        raise UserError("The evaluation set has no rows.")
    eh = np.concatenate(eval_hashes)
    er = np.concatenate(eval_rows)
    order = np.argsort(eh, kind="stable")
    eh, er = eh[order], er[order]
    leaking: list[dict[str, Any]] = []
    checked = 0
    with lib.reader(ds["id"], ver["version"]) as reader:
        for start in range(lo, hi, 8192):
            ctx.check_cancelled()
            ctx.progress((start - lo) / max(1, hi - lo), "Comparing n-grams")
            rows = reader.rows(start, min(hi, start + 8192))
            checked += len(rows)
            h, starts = finder.shingles(formats.row_text(r, ver["format"]) for r in rows)
            if not len(h):
                continue
            at = np.searchsorted(eh, h)
            hit = (at < len(eh)) & (eh[np.minimum(at, len(eh) - 1)] == h)
            counts = np.diff(starts)
            shared = np.add.reduceat(hit.astype(np.int64), starts[:-1]) if len(h) else np.zeros(0)
            shared = np.where(counts > 0, shared, 0)
            for i in np.flatnonzero(shared > 0):
                overlap = float(shared[i] / counts[i])
                if overlap < min_overlap:
                    continue
                first_hit = starts[i] + int(np.argmax(hit[starts[i] : starts[i + 1]]))
                leaking.append(
                    {
                        "index": start + int(i) - lo,
                        "position": start + int(i),
                        "overlap": round(overlap, 4),
                        "shared_ngrams": int(shared[i]),
                        "eval_index": int(er[min(at[first_hit], len(er) - 1)]),
                        "text": formats.row_text(rows[i], ver["format"])[:300],
                    }
                )
    out: dict[str, Any] = {
        "leaking": leaking,
        "leaking_count": len(leaking),
        "checked_rows": checked,
        "eval_rows": len(np.unique(er)),
        "ngram": n,
        "split": split,
        "eval_id": eds["id"],
        "dataset": ds,
        "version": None,
    }
    if params.get("remove") and leaking:
        drop = {item["position"] for item in leaking}
        result = lib.subset(
            ds,
            ver,
            lambda pos: pos not in drop,
            operation="decontaminate",
            params={k: v for k, v in params.items() if k != "remove"},
            summary={
                "description": f"Removed {len(drop):,} rows sharing {n}-grams with {eds['name']}"
                + (f" ({eval_split or 'other splits'})" if eds["id"] == ds["id"] else "")
                + ".",
                "removed": len(drop),
                "removed_sample": sorted(drop)[:_SAMPLE],
            },
            empty_message=_nothing_left(ver["rows"], "the contamination check"),
            check_cancelled=ctx.check_cancelled,
        )
        out.update(result)
    return out
