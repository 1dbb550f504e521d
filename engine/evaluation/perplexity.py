"""Perplexity of any library model on one text: GGUF (and LoRA adapters) through llama.cpp,
folders through transformers.

The text is tokenized by each model's own tokenizer (for models that share one, the same token
stream), cut to its first ``max_tokens`` tokens, and scored in windows of ``seq_len`` tokens,
each starting with BOS as a document does. With ``stride`` equal to the window's content
(``seq_len - 1``, the default) the windows do not overlap; a smaller stride slides them, and each
window then scores only the tokens the previous one did not, with the rest as context (the
figure falls toward the model's long-context perplexity). A text shorter than one window is
refused. Models whose tokenizers cut the probe text differently are measured too, with a note
that their figures are per token of different tokenizers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.evaluation.records import check_models
from engine.evaluation.scoring import gguf_window_nll, perplexity, torch_window_nll, windows

if TYPE_CHECKING:
    from engine.services import Services


def check(services: Services, models: Any, *, file: str | None, dataset: str | None,
          split: str | None = None, collection: str | None = None, max_tokens: Any = 4096,
          seq_len: Any = 256, stride: Any = None) -> dict[str, Any]:  # fmt: skip
    """The checked parameters of a perplexity job, or a ``UserError`` saying what is wrong."""
    models = check_models(services, models, scoring=True)
    given = [n for n, v in (("dataset", dataset), ("file", file), ("collection", collection)) if v]
    if len(given) > 1:
        raise UserError(f"Give one text to measure on, not {' and '.join(given)}.")
    if file and not Path(file).expanduser().is_file():
        raise UserError(f"{file} is not a file.")
    if dataset:
        from engine.datasets.library import DatasetLibrary
        from engine.datasets.versions import split_range

        _ds, ver = DatasetLibrary(services).version_of(dataset)
        split_range(ver, split)  # names the splits there are
    for name, value, lo in (("max_tokens", max_tokens, 64), ("seq_len", seq_len, 16)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise UserError(f"{name} must be a whole number of at least {lo}.")
    if stride is not None and (isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride < seq_len):  # fmt: skip
        raise UserError(f"stride must be a whole number from 1 to {seq_len - 1}.")
    name = (Path(file).name if file else dataset or collection or "Python reference documentation")  # fmt: skip
    return {"models": models, "file": str(Path(file).expanduser().absolute()) if file else None,
            "dataset": dataset, "dataset_name": name, "split": split, "collection": collection,
            "max_tokens": max_tokens, "seq_len": seq_len, "stride": stride,
            "metrics": ["perplexity"]}  # fmt: skip


def _probe_signature(model: Any, text: str) -> str:
    """Which tokenizer this is, as far as this text can tell: a hash of the ids of its start."""
    ids = model.tokenize(text[:4000])
    return hashlib.sha1(repr(ids).encode()).hexdigest()[:12]


def measure(services: Services, model: dict[str, Any], text: str, *, max_tokens: int, seq_len: int,
            stride: int | None = None, cancelled: Callable[[], None] | None = None,
            ctx: Any = None) -> dict[str, Any]:  # fmt: skip
    """One model's perplexity on ``text``: ``{ppl, tokens, runtime, tokenizer}``."""
    from engine.evaluation.gguf import GgufModel
    from engine.evaluation.torch_lm import TorchModel

    if model["format"] == "gguf":
        lm: Any = GgufModel(model, n_ctx=max(seq_len, 64))
        runtime = "llama_cpp"
    else:
        lm = TorchModel(services, model, ctx)
        runtime = "transformers"
    try:
        ids = lm.tokenize(text[: max_tokens * 8])[:max_tokens]
        wins = windows(ids, bos=lm.bos if lm.add_bos else None, seq_len=seq_len, stride=stride)
        scorer = gguf_window_nll if runtime == "llama_cpp" else torch_window_nll
        total, n = scorer(lm if runtime == "llama_cpp" else lm.lm, wins, cancelled=cancelled)
        signature = _probe_signature(lm, text)
    finally:
        lm.close()
    return {"ppl": perplexity(total / n), "tokens": n, "runtime": runtime,
            "tokenizer": signature}  # fmt: skip


def run(services: Services, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """The ``eval.perplexity`` job. With a ``run_id`` its record keeps each model's figure as it
    is measured, so a resumed job measures only the models that are left."""
    from engine.evaluation import records
    from engine.evaluation.texts import source_text

    record = records.load_run(services, params["run_id"]) if params.get("run_id") else None
    text, source = source_text(services, dataset=params.get("dataset"), split=params.get("split"),
                               file=params.get("file"), collection=params.get("collection"))  # fmt: skip
    results = list(record.get("results") or []) if record else []
    models = params["models"]
    for i, model_id in enumerate(models):
        if any(r["model_id"] == model_id for r in results):
            continue
        model = services.library.get(model_id)
        ctx.progress(i / len(models), f"Measuring {model['name']}")
        got = measure(services, model, text, max_tokens=int(params["max_tokens"]),
                      seq_len=int(params["seq_len"]), stride=params.get("stride"),
                      cancelled=ctx.check_cancelled, ctx=ctx)  # fmt: skip
        ppl = round(got["ppl"], 4)
        results.append({"model_id": model_id, "name": model["name"], "ppl": ppl,
                        "tokens": got["tokens"], "runtime": got["runtime"], "tokenizer": got["tokenizer"],
                        "metrics": {"perplexity": {"value": ppl, "ci_low": ppl, "ci_high": ppl}}})  # fmt: skip
        ctx.log(f"{model['name']}: perplexity {got['ppl']:.3f} over {got['tokens']} tokens ({got['runtime']})")  # fmt: skip
        if record is not None:
            record.update(results=results, state="running")
            records.save_run(services, record)
    out: dict[str, Any] = {"results": results, "source": source}
    if len({r["tokenizer"] for r in results}) > 1:
        out["note"] = ("These models tokenize the text differently: each perplexity is per token "
                       "of its own tokenizer, so the figures are not comparable token for token.")  # fmt: skip
    if record is not None:
        record.update(results=results, state="done", note=out.get("note"), source=source)
        records.save_run(services, record)
        out["run_id"] = record["run_id"]
    ctx.progress(1.0, "Measured")
    return out
