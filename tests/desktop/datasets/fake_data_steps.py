"""The fake engine's dataset edits and steps (see fake_data.py): ``data.edit``/``remove_rows``/
``render``/``stats`` answer at once; import, filter, dedup, scrub, contamination, split, export,
convert and generate run as jobs in a thread, reporting ``job.progress`` and honouring
``jobs.cancel``. Generation is resumable and slow enough (``count`` × 50 ms) to cancel. Steps
refuse the virtual ``big`` dataset (a million rows are never materialised).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from pathlib import Path
from typing import Any

from datasets import fake_data as fd  # tests/desktop/datasets/ (see fake_engine.py)

from engine.jobs.events import progress_event
from tests.desktop.engine_answers import real_answer

JOBS: dict[str, dict[str, Any]] = {}
CANCEL: set[str] = set()
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def rows_of(ds: dict[str, Any]) -> list[dict[str, Any]]:
    data = fd.store.version(ds)["data"]
    if isinstance(data, fd.VirtualRows):
        raise fd.UserError("The fake engine does not change the big dataset.")
    return data


# -- jobs -----------------------------------------------------------------------------------------


def start_job(kind: str, params: dict, send, work, *, steps: int = 3, delay: float = 0.02,
              resumable: bool = False) -> dict:  # fmt: skip
    job_id = f"dj-{len(JOBS) + 1}"
    now = time.time()
    job = {"id": job_id, "kind": kind, "title": kind, "params": params, "state": "running",
           "progress": 0.0, "message": "", "result": None, "error": None, "attempt": 1,
           "resumable": resumable, "created_at": now, "started_at": now, "finished_at": None,
           "_work": work, "_steps": steps, "_delay": delay, "_done": 0}  # fmt: skip
    JOBS[job_id] = job
    threading.Thread(target=run_job, args=(job, send), daemon=True).start()
    return {"job": public(job)}


def public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def notify(job: dict[str, Any], send, kind: str) -> None:
    params = progress_event(job["id"], job["kind"], kind, job["state"], job["progress"],
                            job["error"] or job["message"], result=job["result"], error=job["error"])  # fmt: skip
    send({"jsonrpc": "2.0", "method": "job.progress", "params": params})


def run_job(job: dict[str, Any], send) -> None:
    notify(job, send, "begin")
    steps = job["_steps"]
    while job["_done"] < steps:
        if job["id"] in CANCEL:
            CANCEL.discard(job["id"])
            job.update(state="cancelled", message="Cancelled.", finished_at=time.time())
            notify(job, send, "end")
            return
        time.sleep(job["_delay"])
        job["_done"] += 1
        job.update(progress=job["_done"] / steps, message=f"step {job['_done']} of {steps}")
        notify(job, send, "report")
    try:
        with fd.lock:
            result = job["_work"](job)
    except fd.UserError as exc:
        job.update(state="failed", error=str(exc), message="Failed.", finished_at=time.time())
    else:
        job.update(state="succeeded", result=result, message="Done.", finished_at=time.time())
        fd.changed(send)
    notify(job, send, "end")


def job_method(method: str, p: dict, send) -> Any:
    job = JOBS.get(p.get("id"))
    if job is None:
        raise fd.UserError(f"No job {p.get('id')!r}.")
    if method == "jobs.cancel":
        CANCEL.add(job["id"])
    elif method == "jobs.resume":
        job.update(state="running", attempt=job["attempt"] + 1, error=None, finished_at=None)
        threading.Thread(target=run_job, args=(job, send), daemon=True).start()
    return public(job)


# -- quick methods --------------------------------------------------------------------------------


def edit(p: dict) -> dict:
    ds = fd.store.get(p["id"])
    rows = list(rows_of(ds))
    for u in p.get("update") or []:
        rows[u["index"]] = check_row(u["row"], fd.store.version(ds)["format"])
    rows += [check_row(r, fd.store.version(ds)["format"]) for r in p.get("add") or []]
    drop = set(p.get("delete") or [])
    rows = [r for i, r in enumerate(rows) if i not in drop]
    text = f"Rows edited {len(p.get('update') or [])}, added {len(p.get('add') or [])}, deleted {len(drop)}."
    version = fd.store.commit(ds, rows, "edit", {"description": text},
                              empty="Deleting every row would leave the dataset empty.")  # fmt: skip
    return {"dataset": fd.store.info(ds), "version": public(version)}


def check_row(row: dict, fmt: str) -> dict:
    kind = list if fmt in ("messages", "sharegpt") else str
    missing = [f for f in fd.FORMATS[fmt][0] if not isinstance(row.get(f), kind)]
    if missing:
        raise fd.UserError(f"The row is not valid {fmt}: {missing[0]} must be a {kind.__name__}.")
    return row


def remove_rows(p: dict) -> dict:
    ds = fd.store.get(p["id"])
    rows = rows_of(ds)
    drop = set(p["indexes"])
    kept = [r for i, r in enumerate(rows) if i not in drop]
    version = fd.store.commit(ds, kept, "remove",
                              {"description": f"Removed {len(drop)} rows ({p.get('reason')})."})  # fmt: skip
    return {"dataset": fd.store.info(ds), "version": public(version), "rows_before": len(rows),
            "rows_after": len(kept), "removed": len(drop)}  # fmt: skip


def render(p: dict) -> dict:
    ds = fd.store.get(p["id"])
    row = fd.store.version(ds)["data"][int(p["index"])]
    template = p.get("template") or ("gemma" if p.get("model_id") else "plain")
    text = f"<{template}>\n" + fd.text_of(row)
    exact = bool(p.get("model_id"))
    return {"index": p["index"], "text": text, "tokens": fd.tokens_of(row) + exact,
            "exact": exact, "tokenizer": f"{p['model_id']}-vocab" if exact else "estimate",
            "model_id": p.get("model_id"), "template": template,
            "context_length": 32768 if exact else None, "fits": True if exact else None}  # fmt: skip


def stats(p: dict) -> dict:
    ds = fd.store.get(p["id"])
    v = fd.store.version(ds)
    data = v["data"]
    sample = [data[i] for i in range(min(len(data), 10_000))]
    lengths = [fd.tokens_of(r) for r in sample]
    lo, hi = min(lengths), max(lengths)
    width = max(1, (hi - lo) / 10)
    edges = [lo + i * width for i in range(11)]
    counts = [0] * 10
    for n in lengths:
        counts[min(9, int((n - lo) / width))] += 1
    roles: dict[str, int] = {}
    for r in sample:
        for m in r.get("messages") or [{"role": "user"}, {"role": "assistant"}]:
            roles[m["role"]] = roles.get(m["role"], 0) + 1
    ordered = sorted(lengths)
    return {"dataset_id": ds["id"], "name": ds["name"], "version": v["version"], "split": None,
            "format": v["format"], "rows": v["rows"], "splits": v["splits"],
            "tokens": {"count": len(lengths), "min": lo, "max": hi,
                       "mean": sum(lengths) / len(lengths), "median": ordered[len(ordered) // 2],
                       "p90": ordered[int(len(ordered) * 0.9)], "p95": ordered[int(len(ordered) * 0.95)],
                       "p99": ordered[-1], "total": sum(lengths),
                       "histogram": {"edges": edges, "counts": counts}},
            "tokenizer": "estimate", "exact_tokens": False, "roles": roles, "turns": {"1": len(sample)},
            "fields": {}, "too_long": 0, "context_limit": fd.CONTEXT, "plots": {}}  # fmt: skip


# -- steps ----------------------------------------------------------------------------------------


def filter_rows(ds: dict, p: dict) -> dict:
    rows = rows_of(ds)
    include = re.compile(p["include"]) if p.get("include") else None
    exclude = re.compile(p["exclude"]) if p.get("exclude") else None

    def keep(row: dict) -> bool:
        n, text = fd.tokens_of(row), fd.text_of(row)
        return not (
            (p.get("min_tokens") and n < p["min_tokens"])
            or (isinstance(p.get("max_tokens"), int) and n > p["max_tokens"])
            or (include and not include.search(text))
            or (exclude and exclude.search(text))
        )

    kept = [r for r in rows if keep(r)]
    empty = f"All {len(rows):,} rows would be removed by the filter; nothing was changed."
    version = fd.store.commit(ds, kept, "filter", {"description": "Filtered."}, empty=empty)
    return {"dataset": fd.store.info(ds), "version": public(version), "rows_before": len(rows),
            "rows_after": len(kept), "removed": len(rows) - len(kept),
            "reasons": {"excluded": len(rows) - len(kept)}}  # fmt: skip


def dedup(ds: dict, p: dict) -> dict:
    rows = rows_of(ds)
    first: dict[str, int] = {}
    groups: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        key = " ".join(fd.text_of(row).lower().split())
        keep = first.setdefault(key, i)
        if keep != i:
            groups.setdefault(keep, [keep]).append(i)
    clusters = [
        {"keep": k, "remove": g[1:], "rows": g, "similarity": 1.0} for k, g in groups.items()
    ]
    remove = {i for c in clusters for i in c["remove"]}
    out = {"rows_before": len(rows), "rows_after": len(rows) - len(remove), "removed": len(remove),
           "clusters": clusters, "near": bool(p.get("near")), "threshold": p.get("threshold", 1.0),
           "dry_run": bool(p.get("dry_run")), "dataset": fd.store.info(ds), "version": None}  # fmt: skip
    if not p.get("dry_run") and remove:
        kept = [r for i, r in enumerate(rows) if i not in remove]
        version = fd.store.commit(
            ds, kept, "dedup", {"description": f"Removed {len(remove)} duplicates."}
        )
        out.update(dataset=fd.store.info(ds), version=public(version))
    return out


def scrub(ds: dict, p: dict) -> dict:
    rows = rows_of(ds)
    out_rows, examples = [], []
    for i, row in enumerate(rows):
        new = {k: EMAIL.sub("[EMAIL]", v) if isinstance(v, str) else v for k, v in row.items()}
        if new != row:
            examples.append({"index": i, "before": fd.text_of(row), "after": fd.text_of(new)})
        out_rows.append(new)
    result = {"counts": {"email": len(examples)}, "rows_changed": len(examples),
              "examples": examples, "dry_run": bool(p.get("dry_run")),
              "dataset": fd.store.info(ds), "version": None}  # fmt: skip
    if examples and not p.get("dry_run"):
        version = fd.store.commit(ds, out_rows, "scrub_pii", {"description": "Scrubbed."})
        result.update(dataset=fd.store.info(ds), version=public(version))
    return result


def contamination(ds: dict, p: dict) -> dict:
    rows = rows_of(ds)
    other = fd.store.get(p["eval_id"])

    def words(row: dict) -> str:
        return " ".join(sorted(fd.text_of(row).split()))

    texts = {words(r): i for i, r in enumerate(rows_of(other))}
    leaking = [{"index": i, "position": i, "overlap": 1.0, "shared_ngrams": 3,
                "eval_index": texts[words(r)], "text": fd.text_of(r)}
               for i, r in enumerate(rows) if words(r) in texts]  # fmt: skip
    return {"leaking": leaking, "leaking_count": len(leaking), "checked_rows": len(rows),
            "eval_rows": len(texts), "ngram": p.get("ngram", 8), "split": None,
            "eval_id": other["id"], "dataset": fd.store.info(ds), "version": None}  # fmt: skip


def split(ds: dict, p: dict) -> dict:
    rows = list(rows_of(ds))
    random.Random(p.get("seed", 0)).shuffle(rows)
    splits, start = [], 0
    for name in ("train", "validation", "test"):
        n = round(len(rows) * float(p.get(name, 0))) if name != "test" else len(rows) - start
        if n > 0:
            splits.append({"name": name, "start": start, "rows": n})
            start += n
    version = fd.store.commit(ds, rows, "split", {"description": "Split."}, splits=splits)
    return {
        "dataset": fd.store.info(ds),
        "version": public(version),
        "splits": splits,
        "strata": {},
    }


def export(ds: dict, p: dict) -> dict:
    rows = rows_of(ds)
    path = Path(p["path"])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    card = path.with_name(f"{path.stem}.README.md")
    card.write_text(f"# {ds['name']}\n\n{len(rows)} rows\n", encoding="utf-8")
    return {"dataset": fd.store.info(ds), "version": ds["current"], "format": "alpaca",
            "file_format": "jsonl", "card": str(card), "rows": len(rows), "skipped": 0,
            "files": [{"split": None, "path": str(path), "rows": len(rows), "bytes": 1}]}  # fmt: skip


def import_file(p: dict) -> dict:
    path = Path(p["path"])
    raw, errors = fd.read_jsonl(path)
    if errors and p.get("on_error", "abort") == "abort":
        raise fd.UserError(
            f"{path.name}: line {errors[0]['line']}: {errors[0]['reason']}. Nothing was imported; "
            "fix the file, or import with on_error=skip to leave such lines out."
        )
    fmt, mapping = p.get("format"), p.get("mapping") or {}
    if fmt is None:
        found = fd.detect(list(dict.fromkeys(k for r in raw for k in r)))
        if not found:
            raise fd.UserError("Could not tell which format this is; choose a format.")
        fmt, mapping = found[0]["format"], found[0]["mapping"]
    rows = [r for r in (fd.convert(x, fmt, mapping) for x in raw) if r]
    ds = fd.store.add(p.get("name") or path.stem, fmt, rows, source={"path": str(path)})
    return {"dataset": ds, "name": ds["name"], "format": fmt, "rows": len(rows), "errors": errors,
            "errors_total": len(errors), "converted": {}, "too_long": 0, "warnings": [],
            "encoding": "utf-8"}  # fmt: skip


def generate(job: dict) -> dict:
    p = job["params"]
    if p.get("mode") == "preferences":
        rows = [{"prompt": f"Prompt {i}", "chosen": f"Good answer {i}", "rejected": f"Poor answer {i}"}
                for i in range(job["_steps"])]  # fmt: skip
        ds = fd.store.add(p.get("name") or f"pairs-{p['prompts']}", "preference", rows, operation="generate")  # fmt: skip
    else:
        rows = [{"instruction": f"Generated task {i}", "input": "", "output": f"Answer {i}"}
                for i in range(job["_steps"])]  # fmt: skip
        ds = fd.store.add(p.get("name") or "generated", "alpaca", rows, operation="generate")
    return {
        "dataset": ds,
        "name": ds["name"],
        "rows": len(rows),
        "steps": len(rows),
        "rejected": {},
    }


STEPS = {"data.filter": filter_rows, "data.dedup": dedup, "data.scrub": scrub,
         "data.contamination": contamination, "data.split": split, "data.export": export}  # fmt: skip


def dispatch(method: str, p: dict, send) -> Any:
    if method.startswith("jobs."):
        return job_method(method, p, send)
    if method in STEPS:
        ds = fd.store.get(p["id"])
        rows_of(ds)  # refuse the virtual dataset before starting
        slow = p.get("field") == "slow" or "slow" in str(p.get("include") or "")
        return start_job(method, p, send, lambda _j: STEPS[method](ds, p),
                         steps=60 if slow else 3, delay=0.05 if slow else 0.02)  # fmt: skip
    if method == "data.import":
        return start_job(method, p, send, lambda _j: import_file(p))
    if method == "data.generate":
        from engine.core.errors import UserError as EngineError
        from engine.datasets.generate import check_params

        try:  # the engine's own checks
            check_params({k: v for k, v in p.items() if v is not None})
        except EngineError as exc:
            raise fd.UserError(exc.message) from None
        return start_job(method, p, send, generate, steps=int(p.get("count", 20)), delay=0.05,
                         resumable=True)  # fmt: skip
    quick = {"data.edit": edit, "data.remove_rows": remove_rows, "data.render": render,
             "data.stats": stats}  # fmt: skip
    if method in quick:
        result = quick[method](p)
        if method in ("data.edit", "data.remove_rows"):
            fd.changed(send)
        return result
    if method == "data.row":
        ds = fd.store.get(p["id"])
        return fd.record(int(p["index"]), fd.store.version(ds)["data"][int(p["index"])])
    if method == "data.rename":
        ds = fd.store.get(p["id"])
        ds["name"] = p["name"]
        fd.changed(send)
        return fd.store.info(ds)
    if method == "data.delete":
        ds = fd.store.get(p["id"])
        del fd.store.datasets[ds["id"]]
        fd.changed(send)
        return {"deleted": ds["id"], "name": ds["name"]}
    if method in ("data.formats", "data.step_options"):
        return real_answer(method)
    raise KeyError(f"Method not found: {method}")
