"""How good is the tuned model: validation loss and perplexity, and answers to chosen prompts.

``mean_loss`` and ``answer`` are the blocks the trainer uses at each evaluation (no gradients,
dropout off, greedy decoding: no random numbers are drawn, so evaluating never changes what a
resumed run computes). ``evaluate_run`` is the ``train.eval`` job: it loads the base model with the
run's adapter and reports the validation perplexity with the adapter off (the base) and on (the
tuned model), and the base's and the tuned model's answers side by side.
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.training.data import IGNORE, Example, collate

if TYPE_CHECKING:
    from engine.services import Services


def to_device(batch: Any, device: str) -> Any:
    """Move a Batch's tensors to ``device`` (in place); returns it."""
    for name in ("input_ids", "labels", "attention_mask", "position_ids"):
        value = getattr(batch, name)
        if value is not None:
            setattr(batch, name, value.to(device))
    return batch


def mean_loss(
    model: Any,
    examples: list[Example],
    *,
    batch_size: int,
    pad_id: int,
    device: str,
    precision: str,
    loss_fn: Any,
    cancelled: Any = None,
) -> tuple[float | None, int]:
    """(mean token loss, tokens) over ``examples``; None when there is nothing to score."""
    import torch

    from engine.training.modeling import autocast

    if not examples:
        return None, 0
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                if cancelled is not None and cancelled():
                    break
                picks = order[start : start + batch_size]
                batch = to_device(collate(examples, None, picks, pad_id=pad_id), device)
                with autocast(device, precision):
                    loss_sum, n = loss_fn(model, batch)
                total += float(loss_sum)
                tokens += n
    finally:
        model.train(was_training)
    return (total / tokens if tokens else None), tokens


def perplexity(loss: float | None) -> float | None:
    if loss is None:
        return None
    return math.exp(min(loss, 50.0))


def answer(
    model: Any,
    tokenizer: Any,
    ids: list[int],
    *,
    max_new_tokens: int,
    stop_ids: list[int],
    device: str,
) -> str:
    """The greedy answer to prompt token ids, decoded without special tokens."""
    import torch
    from transformers import GenerationConfig

    was_training = model.training
    model.eval()
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=stop_ids or None,
        pad_token_id=tokenizer.pad_token_id,
        use_cache=True,
    )
    try:
        with torch.no_grad():
            inputs = torch.tensor([ids], device=device)
            out = model.generate(
                input_ids=inputs,
                attention_mask=torch.ones_like(inputs),
                generation_config=config,
            )
    finally:
        model.train(was_training)
    return tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True).strip()


def stop_ids(tokenizer: Any, end_of_turn: str | None) -> list[int]:
    ids = []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    if end_of_turn:
        tid = tokenizer.convert_tokens_to_ids(end_of_turn)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid not in ids:
            ids.append(tid)
    return ids


def prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m['role']}: {m['content']}" for m in prompt)


# -- the train.eval job --------------------------------------------------------------------
def evaluate_run(services: Services, run_id: str, *, prompts: list[str] | None, max_new_tokens: int, ctx: Any) -> dict[str, Any]:  # fmt: skip
    """Perplexity before/after on the validation rows and base vs tuned answers (a job)."""

    from engine.training import data, loss, modeling
    from engine.training.config import TrainOptions
    from engine.training.runs import RunStore

    store = RunStore(services)
    run = store.get(run_id)
    opts = TrainOptions.from_dict(run["options"])
    artifacts = run.get("artifacts") or {}
    if not (artifacts.get("adapter") or artifacts.get("model")):
        raise UserError(
            f"Run {run_id} has no trained adapter yet; finish (or resume) the run first."
        )
    model = services.library.get(run["model_id"])
    device = modeling.pick_device(opts.device)
    precision = modeling.pick_precision("auto", device)
    ctx.progress(0.05, "Reading the validation rows")
    rows = data.load_rows(services, run["dataset"]["ref"], version=run["dataset"].get("version"),
                          split=run["dataset"].get("split"),
                          validation_split=run["dataset"].get("validation_split"),
                          validation_fraction=opts.validation_fraction, seed=opts.seed)  # fmt: skip
    ctx.progress(0.1, f"Loading {model['name']}")
    base, tok = modeling.load_base(services, model, method="lora", device=device, precision=precision, ctx=ctx)  # fmt: skip
    template = data.choose_template(services, model, option=opts.template, own=getattr(tok, "chat_template", None))  # fmt: skip
    encoder = data.hf_encoder(tok, None if rows.format == "text" else template,
                              train_on_prompt=opts.train_on_prompt, model_name=model["name"])  # fmt: skip
    val, _report = encoder.examples(rows.validation[: opts.eval_rows], opts.seq_len)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    pad = int(tok.pad_token_id)
    tuned_full = None
    if artifacts.get("adapter"):
        from peft import PeftModel

        tuned = PeftModel.from_pretrained(base, artifacts["adapter"], is_trainable=False)
    else:  # full fine-tuning: the trained model is a separate set of weights
        from transformers import AutoModelForCausalLM

        tuned_full = AutoModelForCausalLM.from_pretrained(artifacts["model"], local_files_only=True).to(device)  # fmt: skip
        tuned = base
    score = loss.fused_loss if loss.head_settings(loss.unwrap(tuned)) else loss.model_loss
    kw = dict(batch_size=opts.batch_size, pad_id=pad, device=device, precision=precision, loss_fn=score, cancelled=ctx.cancelled)  # fmt: skip
    ctx.progress(0.3, "Scoring the validation rows with the base model")
    if tuned_full is None:
        with tuned.disable_adapter():
            before, tokens = mean_loss(tuned, val, **kw)
        ctx.progress(0.5, "Scoring the validation rows with the tuned model")
        after, _ = mean_loss(tuned, val, **kw)
    else:
        before, tokens = mean_loss(base, val, **kw)
        after, _ = mean_loss(tuned_full, val, **kw)
    ctx.check_cancelled()
    asked = list(prompts or opts.sample_prompts or [])
    if not asked:
        asked = [data.prompt_of(c) for c in (rows.validation or rows.train)[:3]]
    end = (run.get("template") or {}).get("end_of_turn")
    stops = stop_ids(tok, end)
    pairs = []
    for i, prompt in enumerate(asked):
        ctx.check_cancelled()
        ctx.progress(
            0.6 + 0.35 * i / max(1, len(asked)), f"Answering prompt {i + 1} of {len(asked)}"
        )
        ids = data.prompt_ids(encoder, prompt)
        gen = dict(max_new_tokens=max_new_tokens, stop_ids=stops, device=device)
        if tuned_full is None:
            with tuned.disable_adapter():
                base_text = answer(tuned, tok, ids, **gen)
            tuned_text = answer(tuned, tok, ids, **gen)
        else:
            base_text = answer(base, tok, ids, **gen)
            tuned_text = answer(tuned_full, tok, ids, **gen)
        pairs.append({"prompt": prompt_text(prompt), "base": base_text, "tuned": tuned_text})
    result = {
        "run_id": run_id,
        "validation_rows": len(val),
        "validation_tokens": tokens,
        "loss_before": before,
        "loss_after": after,
        "perplexity_before": perplexity(before),
        "perplexity_after": perplexity(after),
        "comparisons": pairs,
        "created_at": time.time(),
    }
    path = store.folder(run_id) / "eval" / f"eval-{int(time.time())}.json"
    from engine.core.paths import atomic_write_text

    atomic_write_text(path, json.dumps(result, indent=1))
    result["path"] = str(path)

    def change(r: dict[str, Any]) -> None:
        summary = r.setdefault("summary", {})
        if before is not None:
            summary["perplexity_before"] = result["perplexity_before"]
            summary["perplexity_after"] = result["perplexity_after"]
        r.setdefault("evals", []).append(str(path))

    store.update(run_id, change)
    ctx.progress(1.0, "Evaluation done")
    return result


__all__ = ["IGNORE", "answer", "evaluate_run", "mean_loss", "perplexity"]
