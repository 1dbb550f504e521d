"""How good is the tuned model: validation loss and perplexity, and answers to chosen prompts.

``mean_loss`` and ``answer`` are the blocks the trainer uses at each evaluation (no gradients,
dropout off, greedy decoding: no random numbers are drawn, so evaluating never changes what a
resumed run computes). ``evaluate_run`` is the ``train.eval`` job: it loads the base model with the
run's adapter and reports the validation perplexity with the adapter off (the base) and on (the
tuned model), and the base's and the tuned model's answers side by side.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from engine.core.errors import NotFoundError, UserError
from engine.evaluation.scoring import perplexity
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
    """(mean token loss, tokens) over ``examples`` (their reply tokens, as training counts them),
    scored by the evaluation service's batch scorer; None when there is nothing to score."""
    from engine.evaluation.scoring import mean_batch_loss
    from engine.training.modeling import autocast

    if not examples:
        return None, 0
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    batches = (collate(examples, None, order[s : s + batch_size], pad_id=pad_id)
               for s in range(0, len(order), batch_size))  # fmt: skip

    def score(batch: Any) -> tuple[Any, int]:
        with autocast(device, precision):
            return loss_fn(model, to_device(batch, device))

    return mean_batch_loss(model, batches, score, cancelled=cancelled)


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

    from engine.training import loss

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
            if loss.virtual_tokens(model):  # prompt tuning: its table in front, as in training
                from engine.models.prompt_tuning import generate

                table = model.get_prompt(batch_size=1)[0]
                out = generate(loss.unwrap(model), table, inputs, generation_config=config)
            else:
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

    if before is not None:
        result["evaluation_run"] = record_in_evaluations(services, run, model, result)

    def change(r: dict[str, Any]) -> None:
        summary = r.setdefault("summary", {})
        if before is not None:
            summary["perplexity_before"] = result["perplexity_before"]
            summary["perplexity_after"] = result["perplexity_after"]
        r.setdefault("evals", []).append(str(path))

    store.update(run_id, change)
    ctx.progress(1.0, "Evaluation done")
    return result


def record_in_evaluations(services: Services, run: dict[str, Any], base: dict[str, Any], result: dict[str, Any]) -> str:  # fmt: skip
    """Store the before/after perplexities as a perplexity run of the evaluation service, so the
    Evaluate panel lists it (and its leaderboard ranks the base and the tuned model on these
    rows) next to every other measurement; returns its run id."""
    from engine.evaluation import records
    from engine.training.runs import chat_targets

    target = chat_targets(run)["model"] or {}
    tuned_id = target.get("model_id") or f"train:{run['id']}"
    tuned_name = f"{run.get('name') or run['id']} (tuned)"
    if target.get("model_id"):
        try:
            tuned_name = services.library.get(target["model_id"])["name"]
        except NotFoundError:  # the export was deleted since: keep the run's name
            pass
    dataset = run["dataset"].get("name") or run["dataset"]["ref"]
    split = run["dataset"].get("validation_split")
    where = f"{dataset} · validation rows of {run.get('name') or run['id']}"
    results = []
    for model_id, name, loss in ((base["id"], base["name"], result["loss_before"]),
                                 (tuned_id, tuned_name, result["loss_after"])):  # fmt: skip
        ppl = round(perplexity(loss) or 0.0, 4)
        results.append({"model_id": model_id, "name": name, "ppl": ppl,
                        "tokens": result["validation_tokens"], "runtime": "transformers",
                        "metrics": {"perplexity": {"value": ppl, "ci_low": ppl, "ci_high": ppl}}})  # fmt: skip
    record = records.create(services, {"models": [base["id"]], "dataset": run["dataset"]["ref"],
                                       "dataset_name": where, "split": split,
                                       "metrics": ["perplexity"], "training_run": run["id"]},
                            kind="perplexity")  # fmt: skip
    record.update(models=[r["model_id"] for r in results], model_names=[r["name"] for r in results],
                  results=results, state="done", source=where,
                  note="Measured by the training run's evaluation: the loss of the reply tokens "
                       f"of {result['validation_rows']} validation rows (the tokens training "
                       "learns), with the adapter off (the base) and on.")  # fmt: skip
    records.save_run(services, record)
    return record["run_id"]


__all__ = ["IGNORE", "answer", "evaluate_run", "mean_loss", "perplexity"]
