"""Synthetic data from a local model: Q&A pairs from documents, and self-instruct expansion.

``qa`` walks the chunks of a document collection (``sources.chunks_source``) and asks the model for
``per_chunk`` question/answer pairs per chunk with an editable prompt; each kept pair becomes an
alpaca row that carries its source chunk (``source_text``, ``source_file``, ``source_page``).
``self_instruct`` shows the model a few tasks drawn from the seeds (and from what it wrote so far)
and asks for a new one with its answer, until ``count`` rows are kept.

Quality filters drop pairs that are too short or too long, repeat an earlier question, merely copy
the passage, echo the prompt's layout (``<question>``), name a file the chunk does not come from,
or answer with words mostly absent from the chunk; self-instruct tasks too similar to an existing
one. Q&A can be limited to some of the collection's files and asked for ``count`` pairs: it stops
there, or says why it made fewer. Every model call goes through
``engine.chat.generate.generate`` -- the chat engine's path, any chat model the user installed.

The job keeps its work in ``datasets/.work/<job id>/`` (rows so far, chunks or attempts done) after
every step, so a cancelled or interrupted job resumes where it stopped; the dataset is created at
the end.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import Cancelled, UserError
from engine.core.paths import atomic_write_text
from engine.datasets import sources
from engine.datasets.clean import normalize
from engine.datasets.library import DatasetLibrary
from engine.datasets.rowstore import VersionWriter, dumps
from engine.datasets.tokens import estimate_tokens

if TYPE_CHECKING:
    from engine.services import Services

MODES = ("qa", "self_instruct", "preferences")
QA_PROMPT = (
    "Read the passage below and write {n} question-and-answer pairs that can be answered from the "
    "passage alone. Write each pair on two lines, exactly like this:\n"
    "Q: <question>\nA: <answer>\n\n"
    "Passage (from {file}{page}):\n{chunk}\n"
)
SELF_INSTRUCT_PROMPT = (
    "Here are some tasks, each with an answer:\n\n{examples}\n\n"
    "Write one new task that is different from all of these, with a good answer, in the same "
    "layout:\nInstruction: <the task>\nInput: <extra input, or nothing>\nOutput: <the answer>\n"
)
DEFAULT_FILTERS = {
    "min_question_chars": 10,
    "max_question_chars": 1000,
    "min_answer_chars": 2,
    "max_answer_chars": 4000,
    "max_similarity": 0.7,
    "dedup": True,
    "min_support": 0.5,  # Q&A: share of the answer's words that its chunk contains
}
# the prompt's own layout echoed back ("<question>", "{chunk}", "[answer]") instead of a pair
_PLACEHOLDER = re.compile(
    r"<\s*/?\s*(?:question|answer|q|a)\s*>|\{(?:n|chunk|file|page|examples)\}|\[\s*(?:question|answer)\s*\]",
    re.I,
)
_FILE_NAME = re.compile(r"\b[\w.-]+\.(?:pdf|docx?|pptx?|txt|md|markdown|html?|csv|json)\b", re.I)
_STOP = frozenset(
    ("a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "from", "with", "and", "or",
     "but", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these",
     "those", "as", "what", "which", "who", "whom", "when", "where", "why", "how", "do", "does",
     "did", "not", "no", "yes")
)  # fmt: skip
_QA_RE = re.compile(
    r"(?:^|\n)\s*(?:\d+[.)]\s*)?(?:\*\*)?(?:Q|Question)\s*\d*\s*[:.)](?:\*\*)?\s*(?P<q>.+?)\s*\n+"
    r"\s*(?:\*\*)?(?:A|Answer)\s*\d*\s*[:.)](?:\*\*)?\s*(?P<a>.+?)"
    r"(?=\n\s*(?:\d+[.)]\s*)?(?:\*\*)?(?:Q|Question)\s*\d*\s*[:.)]|\Z)",
    re.S | re.I,
)
_SECTION_RE = re.compile(r"^\s*(instruction|input|output)\s*:\s*", re.I | re.M)
_WORDS = re.compile(r"\w+")


def chat_generate(services: Services, **kwargs: Any) -> dict[str, Any]:
    """One model call through the chat engine (a seam tests replace)."""
    from engine.chat.generate import generate

    return generate(services, **kwargs)


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    mode = params.get("mode") or ("qa" if params.get("collection") else "self_instruct")
    if mode not in MODES:
        raise UserError(f"mode must be one of {', '.join(MODES)}.")
    out = dict(params, mode=mode)
    if mode == "preferences":
        from engine.datasets import generate_pairs

        generate_pairs.check(params, out, _int)
    elif mode == "qa":
        if not isinstance(params.get("collection"), str) or not params["collection"]:
            raise UserError("Question/answer generation needs a document collection.")
        out["per_chunk"] = _int(params.get("per_chunk", 3), "per_chunk", 1, 20)
        if params.get("max_chunks") is not None:
            out["max_chunks"] = _int(params["max_chunks"], "max_chunks", 1, 10_000_000)
        if params.get("count") is not None:
            out["count"] = _int(params["count"], "count", 1, 1_000_000)
        files = params.get("files")
        if files is not None and (
            not isinstance(files, list) or not all(isinstance(f, str) and f for f in files)
        ):
            raise UserError("files must be a list of the collection's file paths or names.")
        if files == []:
            raise UserError("Pick at least one of the collection's files to generate from.")
    else:
        seeds = params.get("seeds")
        if not seeds and not params.get("seed_dataset"):
            raise UserError("Self-instruct needs a few seed tasks (seeds) or a seed dataset.")
        if seeds is not None:
            if not isinstance(seeds, list) or not seeds:
                raise UserError("seeds must be a list of tasks.")
            out["seeds"] = [_seed(s) for s in seeds]
        out["count"] = _int(params.get("count", 20), "count", 1, 1_000_000)
    if params.get("max_attempts") is not None:
        out["max_attempts"] = _int(params["max_attempts"], "max_attempts", 1, 10_000_000)
    prompt = params.get("prompt")
    if prompt is not None and mode != "preferences":
        needed = ("{chunk}",) if mode == "qa" else ("{examples}",)
        if not isinstance(prompt, str) or any(k not in prompt for k in needed):
            raise UserError(f"The prompt must be text containing {', '.join(needed)}.")
        try:
            prompt.format(n=1, chunk="", file="", page="", examples="")
        except (KeyError, IndexError, ValueError) as exc:
            raise UserError(
                f"The prompt has an unknown placeholder ({exc}); use {{n}}, {{chunk}}, {{file}}, "
                "{page} or {examples}, and double other braces ({{ }})."
            ) from None
    filters = dict(DEFAULT_FILTERS)
    filters.update(params.get("filters") or {})
    out["filters"] = filters
    if params.get("name") is not None and (
        not isinstance(params["name"], str) or not params["name"].strip()
    ):
        raise UserError("name must be a non-empty string.")
    return out


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise UserError(f"{name} must be a whole number from {lo} to {hi}.")
    return value


def _seed(item: Any) -> dict[str, str]:
    if isinstance(item, str) and item.strip():
        return {"instruction": item.strip(), "input": "", "output": ""}
    if isinstance(item, dict) and str(item.get("instruction") or "").strip():
        return {
            "instruction": str(item["instruction"]),
            "input": str(item.get("input") or ""),
            "output": str(item.get("output") or ""),
        }
    raise UserError("Each seed is a task text or an object with an instruction.")


def parse_qa(text: str) -> list[tuple[str, str]]:
    """Question/answer pairs from a reply in the Q:/A: layout (or a JSON list of objects)."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
            return [
                (str(i.get("question", "")).strip(), str(i.get("answer", "")).strip())
                for i in items
                if isinstance(i, dict)
            ]
        except ValueError:
            pass
    return [(m["q"].strip(), m["a"].strip()) for m in _QA_RE.finditer("\n" + text)]


def parse_task(text: str) -> dict[str, str] | None:
    """An ``{instruction, input, output}`` from a reply in the Instruction/Input/Output layout."""
    parts = _SECTION_RE.split("\n" + text)
    found: dict[str, str] = {}
    for i in range(1, len(parts) - 1, 2):
        key = parts[i].lower()
        if key not in found:
            found[key] = parts[i + 1].strip()
    if not found.get("instruction") or not found.get("output"):
        return None
    return {
        "instruction": found["instruction"],
        "input": found.get("input", ""),
        "output": found["output"],
    }


def _similarity(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


class _Work:
    """The job's resumable state: rows so far and progress, on disk after every step."""

    def __init__(self, services: Services, job_id: str, attempt: int) -> None:
        self.dir = Path(services.root) / "datasets" / ".work" / job_id
        if attempt <= 1 and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rows_path = self.dir / "rows.jsonl"
        self.state_path = self.dir / "state.json"
        self.state: dict[str, Any] = {"done": 0, "rows": 0, "rejected": {}}
        if self.state_path.exists():
            self.state = json.loads(self.state_path.read_text("utf-8"))
            self._truncate_rows(self.state["rows"])

    def _truncate_rows(self, n: int) -> None:
        """Drop rows written after the last saved state (a crash between the two writes)."""
        if not self.rows_path.exists():
            return
        keep = []
        with open(self.rows_path, "rb") as fh:
            for i, line in enumerate(fh):
                if i >= n:
                    break
                keep.append(line)
        self.rows_path.write_bytes(b"".join(keep))

    def rows(self) -> list[dict[str, Any]]:
        if not self.rows_path.exists():
            return []
        with open(self.rows_path, "rb") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def save(self, new_rows: list[dict[str, Any]], rejected: dict[str, int]) -> None:
        if new_rows:
            with open(self.rows_path, "ab") as fh:
                for row in new_rows:
                    fh.write(dumps(row) + b"\n")
        self.state["done"] += 1
        self.state["rows"] += len(new_rows)
        for k, v in rejected.items():
            self.state["rejected"][k] = self.state["rejected"].get(k, 0) + v
        atomic_write_text(self.state_path, json.dumps(self.state))


def _call(services: Services, params: dict[str, Any], prompt: str, ctx: Any) -> str:
    result = chat_generate(
        services,
        model_id=params.get("model_id"),
        messages=[{"role": "user", "content": prompt}],
        params=params.get("params") or {"max_tokens": 512, "temperature": 0.7},
        cancelled=ctx.cancelled,
    )
    if result.get("finish_reason") == "cancelled":
        raise Cancelled(None)
    return result.get("text") or ""


def run_generate(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    params = check_params(params)
    work = _Work(services, ctx.job_id, ctx.attempt)
    try:
        if params["mode"] == "preferences":
            from engine.datasets import generate_pairs

            generate_pairs.run(services, params, work, ctx, chat=chat_generate)
        elif params["mode"] == "qa":
            _run_qa(services, params, work, ctx)
        else:
            _run_self_instruct(services, params, work, ctx)
    except Cancelled:
        raise Cancelled(
            {"rows": work.state["rows"], "done": work.state["done"], "resumable": True}
        ) from None
    rows = work.rows()
    if not rows:
        rejected = work.state["rejected"]
        why = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in rejected.items()) or "no reply"
        if params["mode"] == "preferences":
            raise UserError(
                f"No preference pairs were kept ({why}). The judge must answer [[A]] or [[B]], "
                "the same way in both orders: pick an instruction-tuned chat model as judge, and "
                "sample more varied answers (a higher temperature) if they came out identical."
            )
        raise UserError(
            f"The model wrote no usable rows ({why}). Try a chat (instruction-tuned) model, a "
            "clearer prompt, or looser filters."
        )
    lib = DatasetLibrary(services)
    dataset_id = lib.new_id()
    writer = VersionWriter(lib.folder(dataset_id))
    pairs = params["mode"] == "preferences"
    text_keys = ("system", "prompt", "chosen", "rejected") if pairs else ("instruction", "input", "output")  # fmt: skip
    for row in rows:
        writer.add_row(row, estimate_tokens("\n".join(str(row.get(k) or "") for k in text_keys)))
    default = {"qa": f"qa-{params.get('collection')}", "self_instruct": "self-instruct",
               "preferences": f"pairs-{params.get('prompts')}"}[params["mode"]]  # fmt: skip
    source = {
        "kind": "generate",
        "mode": params["mode"],
        "collection": params.get("collection"),
        "model_id": params.get("model_id"),
    }
    if pairs:
        source.update(prompts=params["prompts"], judge_id=params["judge_id"])
    summary = {
        "description": f"Generated {len(rows):,} rows ({params['mode']}) with "
        f"{params.get('model_id') or 'the default model'}.",
        "rows": len(rows),
        "steps": work.state["done"],
        "rejected": work.state["rejected"],
    }
    shortfall = work.state.get("shortfall")
    try:
        ds = lib.create(
            dataset_id,
            params.get("name") or default,
            writer,
            fmt="preference" if pairs else "alpaca",
            source=source,
            operation="generate",
            params={k: v for k, v in params.items() if k != "name"},
            summary=summary,
        )
    except BaseException:
        shutil.rmtree(lib.folder(dataset_id), ignore_errors=True)
        raise
    shutil.rmtree(work.dir, ignore_errors=True)
    ctx.progress(1.0, f"{ds['name']}: {ds['rows']:,} rows" + (f"; {shortfall}" if shortfall else _rejected_text(work.state["rejected"])))  # fmt: skip
    return {
        "dataset": ds,
        "name": ds["name"],
        "rows": ds["rows"],
        "steps": work.state["done"],
        "rejected": work.state["rejected"],
        "requested": params.get("count"),
        "shortfall": shortfall,
    }


def _run_qa(services: Services, params: dict[str, Any], work: _Work, ctx: Any) -> None:
    chunks = sources.chunks_source(services, params["collection"], files=params.get("files"))
    total = sources.count_hint(chunks)
    wanted = params.get("count")
    limit = params.get("max_chunks")
    if limit is not None:
        total = min(total, limit) if total is not None else limit
    f = params["filters"]
    template = params.get("prompt") or QA_PROMPT
    seen = {normalize(r["instruction"]) for r in work.rows()} if f.get("dedup") else set()
    for i, chunk in enumerate(chunks):
        if limit is not None and i >= limit:
            break
        if wanted is not None and work.state["rows"] >= wanted:
            break
        if i < work.state["done"]:
            continue  # done before a resume
        ctx.check_cancelled()
        text = str(chunk.get("text") or "")
        page = chunk.get("page")
        prompt = template.format(
            n=params["per_chunk"],
            chunk=text,
            file=chunk.get("file") or "a document",
            page=f", page {page}" if page else "",
            examples="",
        )
        reply = _call(services, params, prompt, ctx)
        rows, rejected = [], {}
        pairs = parse_qa(reply)
        if not pairs:
            rejected["unparsed_replies"] = 1
        room = params["per_chunk"] if wanted is None else min(params["per_chunk"], wanted - work.state["rows"])  # fmt: skip
        for q, a in pairs[: params["per_chunk"]]:
            if len(rows) >= room:
                break
            reason = _qa_reason(q, a, text, f, seen, chunk.get("file"))
            if reason:
                rejected[reason] = rejected.get(reason, 0) + 1
                continue
            seen.add(normalize(q))
            rows.append(
                {
                    "instruction": q,
                    "input": "",
                    "output": a,
                    "source_text": text,
                    "source_file": chunk.get("file"),
                    "source_page": page,
                    "source_collection": params["collection"],
                }
            )
        work.save(rows, rejected)
        done = work.state["done"]
        made = work.state["rows"]
        if wanted is not None:
            ctx.progress(min(made / wanted, 0.99), f"{made} of {wanted} pairs from {done} chunks")
        else:
            ctx.progress(done / total if total else None, f"{done} chunks, {made} pairs")
    if wanted is not None and work.state["rows"] < wanted:
        limited = limit is not None and work.state["done"] >= limit
        ran_out = (
            f"the {limit} chunks allowed ran out"
            if limited
            else f"the collection's {work.state['done']} chunks ran out"
        )
        work.state["shortfall"] = (
            f"made {work.state['rows']} of the {wanted} pairs asked for: {ran_out}"
            + _rejected_text(work.state["rejected"])
        )


def _rejected_text(rejected: dict[str, int]) -> str:
    if not rejected:
        return ""
    return " (rejected: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in rejected.items()) + ")"  # fmt: skip


def _content_words(text: str) -> set[str]:
    return {w for w in _WORDS.findall(text.lower()) if w not in _STOP}


def _qa_reason(q: str, a: str, chunk: str, f: dict[str, Any], seen: set[str], file: Any = None) -> str | None:  # fmt: skip
    """Why a pair is not kept, or None. Besides lengths and repeats: the prompt's layout echoed
    back, a file name the chunk does not have, an answer whose words are mostly not in its chunk
    (small models answer from nowhere)."""
    if _PLACEHOLDER.search(q) or _PLACEHOLDER.search(a):
        return "template_placeholders"
    if not f["min_question_chars"] <= len(q) <= f["max_question_chars"]:
        return "bad_question_length"
    if not f["min_answer_chars"] <= len(a) <= f["max_answer_chars"]:
        return "bad_answer_length"
    if f.get("dedup") and normalize(q) in seen:
        return "duplicate_question"
    if len(q) > 200 and normalize(q) in normalize(chunk):
        return "copied_passage"
    own = str(file or "").replace("\\", "/").rsplit("/", 1)[-1].lower()
    lowered = chunk.lower()
    for name in _FILE_NAME.findall(f"{q}\n{a}"):
        if name.lower() != own and name.lower() not in lowered:
            return "invented_file_names"
    words = _content_words(a)
    minimum = float(f.get("min_support", 0.0) or 0.0)
    if words and minimum and len(words & _content_words(chunk)) / len(words) < minimum:
        return "unsupported_answers"
    return None


def _run_self_instruct(services: Services, params: dict[str, Any], work: _Work, ctx: Any) -> None:
    seeds = list(params.get("seeds") or [])
    if params.get("seed_dataset"):
        seeds += _seed_rows(services, params["seed_dataset"])
    f = params["filters"]
    template = params.get("prompt") or SELF_INSTRUCT_PROMPT
    generated = work.rows()
    pool_words = [set(_WORDS.findall(s["instruction"].lower())) for s in seeds + generated]
    target = params["count"]
    max_attempts = params.get("max_attempts") or target * 5
    base_seed = (params.get("params") or {}).get("seed") or 0
    while work.state["rows"] < target and work.state["done"] < max_attempts:
        ctx.check_cancelled()
        rng = random.Random(f"{base_seed}-{work.state['done']}")  # the same draw after a resume
        k = min(len(seeds), 3)
        shown = rng.sample(seeds, k)
        if generated:
            shown += rng.sample(generated, min(2, len(generated)))
        examples = "\n\n".join(_show(t) for t in shown)
        reply = _call(
            services,
            params,
            template.format(examples=examples, n=1, chunk="", file="", page=""),
            ctx,
        )
        task = parse_task(reply)
        rejected: dict[str, int] = {}
        rows = []
        if task is None:
            rejected["unparsed_replies"] = 1
        else:
            words = set(_WORDS.findall(task["instruction"].lower()))
            if not f["min_question_chars"] <= len(task["instruction"]) <= f["max_question_chars"]:
                rejected["bad_instruction_length"] = 1
            elif not f["min_answer_chars"] <= len(task["output"]) <= f["max_answer_chars"]:
                rejected["bad_answer_length"] = 1
            elif any(_similarity(words, w) > f["max_similarity"] for w in pool_words):
                rejected["too_similar"] = 1
            else:
                pool_words.append(words)
                generated.append(task)
                rows.append(task)
        work.save(rows, rejected)
        ctx.progress(work.state["rows"] / target, f"{work.state['rows']} of {target} tasks")


def _show(task: dict[str, str]) -> str:
    out = f"Instruction: {task['instruction']}"
    if task.get("input"):
        out += f"\nInput: {task['input']}"
    if task.get("output"):
        out += f"\nOutput: {task['output']}"
    return out


def _seed_rows(services: Services, ref: str) -> list[dict[str, str]]:
    from engine.datasets import formats

    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    out = []
    with lib.reader(ds["id"], ver["version"]) as reader:
        for _pos, row in reader.iter_rows(0, 200):
            try:
                alpaca, _lossy = formats.convert(row, ver["format"], "alpaca")
            except formats.RowError:
                continue
            out.append({"instruction": alpaca["instruction"], "input": alpaca.get("input", ""),
                        "output": alpaca["output"]})  # fmt: skip
    if not out:
        raise UserError(f"{ds['name']} has no rows usable as seed tasks.")
    return out
