"""LoraTrainer: the training loop of a run (LoRA, DoRA, QLoRA or full fine-tuning).

Why our own loop rather than the Hugging Face ``Trainer``: a resumed run must see exactly the
batches, dropout masks and optimizer state it would have seen without the interruption, and every
file it writes must be safetensors/JSON written atomically. Both are a few lines here (the batch
order is a pure function of the step, the RNG state lives in the checkpoint), while the HF
Trainer checkpoints with pickles and resumes its data loader approximately. Owning the loop also
lets the loss skip the LM head for prompt tokens (``engine.training.loss``), which is where most
of the speed and memory gain over a plain HF Trainer + peft loop comes from on CPU.

One step: ``gradient_accumulation`` micro-batches, each loss summed over tokens and divided by
the step's total answer tokens (every token weighs the same), gradient clipping, AdamW. Between
micro-batches the loop checks for a cancel; a cancel writes a checkpoint of the last finished
step and ends the job as cancelled, resumable from there. A non-finite or exploding loss stops
the run with a message naming the learning rate; running out of memory names the settings to
lower; a full disk while checkpointing keeps the last good checkpoint.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import Cancelled, UserError
from engine.core.paths import describe_os_error
from engine.training import checkpoint, data, evaluate, loss, modeling
from engine.training.config import TrainOptions
from engine.training.runs import RunStore
from hearth_common.units import human_duration

if TYPE_CHECKING:
    from engine.services import Services


class Diverged(UserError):
    """The loss became NaN/inf or exploded; the message says what to change."""


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB.

    On Linux from ``VmHWM``: ``ru_maxrss`` carries the parent's peak across fork + exec, so a
    worker started by a big engine process would report the engine's memory.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    except ImportError:  # Windows
        import psutil

        return getattr(psutil.Process().memory_info(), "peak_wset", 0) / (1024 * 1024)


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        s in text
        for s in (
            "out of memory",
            "can't allocate memory",
            "not enough memory",
            "defaultcpuallocator",
        )
    )


def lr_at(step: int, total: int, opts: TrainOptions) -> float:
    """The learning rate of step ``step`` (0-based): linear warm-up, then the schedule (the same
    function a run handed to a cluster trains with)."""
    from engine.training.cluster.train import lr_at as schedule

    return schedule(step, total, lr=opts.learning_rate, warmup_ratio=opts.warmup_ratio,
                    schedule=opts.lr_schedule)  # fmt: skip


class LoraTrainer:
    """Trains the run ``run_id`` (its record holds the model, dataset and options)."""

    def __init__(self, services: Services, run_id: str, ctx: Any) -> None:
        self.services = services
        self.run_id = run_id
        self.ctx = ctx
        self.store = RunStore(services)
        self.run_dir = self.store.folder(run_id)
        record = self.store.get(run_id)
        self.record = record
        self.opts = TrainOptions.from_dict(record["options"])
        self.last_saved = 0
        self.pref_eval: tuple[Any, list] | None = None  # (loss, held-out pairs) of DPO/ORPO
        self.pref_scores: dict[str, float] = {}
        self.reference_seconds = 0.0  # scoring the pairs with the reference model (DPO)

    # -- public ----------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        self.store.update(self.run_id, state="running", error=None,
                          job_id=getattr(self.ctx, "job_id", None),
                          attempt=getattr(self.ctx, "attempt", 1))  # fmt: skip
        try:
            result = self._train()
        except Cancelled:
            self.store.update(self.run_id, state=self._stopped_state())
            raise
        except BaseException as exc:
            if self._stopped_state() == "interrupted":  # what failed was telling the dead engine
                self.store.update(self.run_id, state="interrupted", error=None)
                raise
            message = self._failure_message(exc)
            self.store.update(self.run_id, state="failed", error=message or str(exc))
            if message is not None:
                raise UserError(message) from exc
            raise
        self.store.update(self.run_id, state="succeeded", error=None)
        return result

    def _stopped_state(self) -> str:
        """``interrupted`` when the engine died under the run (its job is marked so at the next
        start, and resuming goes on from the last checkpoint), else ``cancelled``."""
        gone = getattr(self.ctx, "engine_gone", None)
        return "interrupted" if gone is not None and gone() else "cancelled"

    # -- set-up ----------------------------------------------------------------------------
    def _failure_message(self, exc: BaseException) -> str | None:
        if isinstance(exc, UserError):
            return exc.message
        if is_oom(exc):
            o = self.opts
            hint = (
                f"lower batch_size (now {o.batch_size}; try {max(1, o.batch_size // 2)} with "
                f"gradient_accumulation {o.gradient_accumulation * 2} to keep the effective batch)"
                if o.batch_size > 1 else f"lower seq_len (now {o.seq_len})"
            )  # fmt: skip
            extra = "" if o.gradient_checkpointing else ", or turn on gradient_checkpointing"
            kept = f" The checkpoint of step {self.last_saved} is kept." if self.last_saved else ""
            return f"Out of memory while training: {hint}{extra}.{kept}"
        return None

    def _train(self) -> dict[str, Any]:
        import torch

        ctx, opts, rec = self.ctx, self.opts, self.record
        device = modeling.pick_device(opts.device)
        modeling.check_method(opts.method, device)
        precision = modeling.pick_precision(opts.precision, device)
        model_info = self.services.library.get(rec["model_id"])

        ctx.progress(None, "Reading the dataset")
        ds = rec["dataset"]
        rows = data.load_rows(self.services, ds["ref"], version=ds.get("version"),
                              split=ds.get("split"), validation_split=ds.get("validation_split"),
                              validation_fraction=opts.validation_fraction, seed=opts.seed,
                              pairs=opts.on_pairs)  # fmt: skip
        ctx.progress(None, f"Loading {model_info['name']}")
        torch.manual_seed(opts.seed)
        lm, tok = modeling.load_base(self.services, model_info, method=opts.method, device=device,
                                     precision=precision, ctx=ctx)  # fmt: skip
        template = data.choose_template(self.services, model_info, option=opts.template,
                                        own=getattr(tok, "chat_template", None))  # fmt: skip
        ctx.progress(None, f"Tokenising {len(rows.train) + len(rows.validation):,} rows")
        encoder = data.hf_encoder(tok, None if rows.format == "text" else template,
                                  train_on_prompt=opts.prompt_labels, model_name=model_info["name"])  # fmt: skip
        train_pairs = val_pairs = None
        if opts.on_pairs:
            from engine.training import preference

            train_pairs, report = preference.encode_pairs(encoder, rows.train, opts.seq_len)
            val_pairs, _ = preference.encode_pairs(encoder, rows.validation[: opts.eval_rows], opts.seq_len)  # fmt: skip
            train_ex, val_ex = [p.chosen for p in train_pairs], [p.chosen for p in val_pairs]
            if report.identical:
                ctx.log(f"Left out {report.identical} pairs whose chosen and rejected replies are the same.", "warning")  # fmt: skip
        else:
            train_ex, report = encoder.examples(rows.train, opts.seq_len)
            val_ex, _ = encoder.examples(rows.validation[: opts.eval_rows], opts.seq_len)
        if not train_ex:
            raise UserError(report.refusal(opts.seq_len))
        if report.not_split:
            ctx.log(f"{report.not_split} rows: the chat template could not be split into prompt "
                    "and answer, so their prompt tokens are learned too.", "warning")  # fmt: skip
        if report.too_long or report.empty:
            ctx.log(f"Left out {report.too_long + report.empty} of {report.rows} rows "
                    f"({report.too_long} too long for seq_len {opts.seq_len}, {report.empty} empty).",
                    "warning")  # fmt: skip
        end_of_turn = encoder.end_of_turn
        ctx.progress(None, "Preparing the model" + (f" ({opts.method})" if opts.method != "full" else ""))  # fmt: skip
        loaded = modeling.prepare(lm, tok, opts, device=device, precision=precision)
        model = loaded.model
        if opts.rate_warning():
            ctx.log(opts.rate_warning(), "warning")
        pad_id = int(tok.pad_token_id)
        self.store.update(self.run_id, template={"name": template.name, "source": template.source,
                          "end_of_turn": end_of_turn, "appends_eos": encoder.appends_eos},
                          data={**report.to_dict(), "validation_rows": len(val_ex),
                                "format": rows.format, "source": rows.source},
                          targets=loaded.targets, device=device, precision=precision,
                          trainable_params=loaded.trainable_params,
                          total_params=loaded.total_params)  # fmt: skip
        ctx.log(f"{len(train_ex)} training rows, {len(val_ex)} validation rows, "
                f"{loaded.trainable_params:,} trainable of {loaded.total_params:,} parameters, "
                f"{device} {precision}, template {template.name}")  # fmt: skip

        units = data.pack(train_ex, opts.seq_len, opts.seed) if opts.packing else None
        if train_pairs is not None:
            lengths = [p.length for p in train_pairs]
            collate = lambda picks: preference.collate(train_pairs, picks, pad_id=pad_id)  # noqa: E731
        else:
            lengths = (
                [sum(len(train_ex[i].input_ids) for i in block) for block in units]
                if units is not None else [len(e.input_ids) for e in train_ex]
            )  # fmt: skip
            collate = lambda picks: data.collate(train_ex, units, picks, pad_id=pad_id)  # noqa: E731
        order = data.BatchOrder(lengths, opts.batch_size, seed=opts.seed,
                                group_by_length=opts.group_by_length and units is None)  # fmt: skip
        accum = opts.gradient_accumulation
        total = data.total_steps(
            order.per_epoch, accum, epochs=opts.epochs, max_steps=opts.max_steps
        )
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=opts.learning_rate, weight_decay=opts.weight_decay)
        scaler = torch.amp.GradScaler("cuda") if precision == "fp16" and device == "cuda" else None

        probe = data.collate(train_ex, None, [min(range(len(train_ex)), key=lambda i: len(train_ex[i].input_ids))], pad_id=pad_id)  # fmt: skip
        with modeling.autocast(device, precision):
            fused = loss.check_fused(model, evaluate.to_device(probe, device),
                                     rtol=2e-3 if precision == "fp32" else 3e-2)  # fmt: skip
        loss_fn = loss.fused_loss if fused else loss.model_loss
        if not fused:
            ctx.log("This architecture post-processes its logits; using its own loss (slower).", "warning")  # fmt: skip
        train_loss_fn = loss_fn
        if opts.teacher:
            train_loss_fn = self._distillation(lm, model_info, device)
        eval_kw = dict(batch_size=opts.batch_size, pad_id=pad_id, device=device, precision=precision, loss_fn=loss_fn)  # fmt: skip
        if train_pairs is not None:
            train_loss_fn = self._preference(model, train_pairs, val_pairs, fused, eval_kw)
        prompts = list(opts.sample_prompts) or [
            data.prompt_of(c if train_pairs is None else c[0]) for c in (rows.validation or rows.train)[:2]
        ]  # fmt: skip
        stops = evaluate.stop_ids(tok, end_of_turn)

        state: dict[str, Any] = {"first_loss": None, "train_seconds": 0.0, "tokens": 0}
        start = 0
        found = checkpoint.latest(self.run_dir)
        if found is not None:
            ctx.progress(None, f"Resuming from {found.name}")
            saved = checkpoint.load(found)
            named = dict(model.named_parameters())
            with torch.no_grad():
                for name, value in saved["trainable"].items():
                    named[name].copy_(value.to(named[name].device))
            optimizer.load_state_dict(saved["optimizer"])
            checkpoint.set_rng_state(saved["rng"])
            if scaler is not None and saved["state"].get("scaler"):
                scaler.load_state_dict(saved["state"]["scaler"])
            state.update({k: saved["state"][k] for k in state if k in saved["state"]})
            state["perplexity_before"] = saved["state"].get("perplexity_before")
            start = self.last_saved = int(saved["state"]["step"])
            self.store.truncate_metrics(self.run_id, start)
            ctx.log(f"Resumed from the checkpoint of step {start} (attempt {getattr(ctx, 'attempt', 1)}).")  # fmt: skip
        else:
            self.store.truncate_metrics(self.run_id, 0)
            shutil.rmtree(self.run_dir / "adapter", ignore_errors=True)
            before = self._evaluate(0, model, tok, encoder, val_ex, [], stops, eval_kw, device)
            state["perplexity_before"] = evaluate.perplexity(before)
        self.store.update(self.run_id, total_steps=total)

        loop = _Loop(self, model, optimizer, scaler, params, collate, order, total, device,
                     precision, train_loss_fn, state)  # fmt: skip
        step = start
        final_loss = None
        while step < total:
            if ctx.cancelled():
                self._save(step, model, optimizer, scaler, state, on_cancel=True)
                raise Cancelled(
                    {"run_id": self.run_id, "step": step, "checkpoint": self.last_saved}
                )
            step_loss = loop.step(step)
            if step_loss is None:  # cancelled between micro-batches: the step did not happen
                continue
            step += 1
            final_loss = step_loss
            if opts.save_every and step % opts.save_every == 0 and step < total:
                self._save(step, model, optimizer, scaler, state)
            if opts.eval_every and step % opts.eval_every == 0 and step < total:
                self._evaluate(step, model, tok, encoder, val_ex, prompts, stops, eval_kw, device)

        ctx.progress(0.99, "Final evaluation")
        after = self._evaluate(total, model, tok, encoder, val_ex, prompts, stops, eval_kw, device)
        artifacts = self._save_final(model, lm, tok, template, loaded)
        if opts.method == "prompt":  # the virtual tokens are chatted with as they are
            artifacts["models"] = self._register_prompt(artifacts["adapter"])
        if final_loss is None:  # resumed after the last step: read it back
            last = self.store.metrics(self.run_id)
            final_loss = next((m["loss"] for m in reversed(last) if "loss" in m), None)
        seconds = state["train_seconds"]
        summary = {
            "steps": total,
            "first_loss": state["first_loss"],
            "final_loss": final_loss,
            "tokens_per_s": round(state["tokens"] / seconds, 2) if seconds else None,
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "eval_loss": after,
            "perplexity_before": state.get("perplexity_before"),
            "perplexity_after": evaluate.perplexity(after),
            "train_seconds": round(seconds, 2),
            "tokens": state["tokens"],
            "fused_loss": fused,
        }
        if train_pairs is not None:  # the held-out pairs' figures, else the last step's
            rewards = self.pref_scores or state.get("rewards") or {}
            summary["reward_margin"] = rewards.get(
                "eval_reward_margin", rewards.get("reward_margin")
            )
            summary["reward_accuracy"] = rewards.get(
                "eval_reward_accuracy", rewards.get("reward_accuracy")
            )
            summary["reference_seconds"] = round(self.reference_seconds, 2)
        if device == "cuda":
            summary["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)

        made = artifacts.pop("models", None)

        def change(r: dict[str, Any]) -> None:
            r["summary"] = {**(r.get("summary") or {}), **summary}
            r.setdefault("artifacts", {}).update(artifacts)
            r.setdefault("models", {}).update(made or {})
            r["step"] = total

        run = self.store.update(self.run_id, change)
        if rec.get("recover"):  # a pruned model distilled from its parent: register the result
            from engine.pruning.recover import finish

            ctx.progress(0.995, "Adding the recovered model to the library")
            finish(self.services, self.run_id, ctx)
            run = self.store.get(self.run_id)
        ctx.progress(1.0, f"Trained {total} steps: loss {summary['first_loss']:.4f} -> {final_loss:.4f}")  # fmt: skip
        keys = ("steps", "first_loss", "final_loss", "tokens_per_s", "peak_rss_mb", "reward_margin", "reward_accuracy")  # fmt: skip
        return {"run_id": self.run_id, **{k: summary[k] for k in keys if k in summary}, "artifacts": run["artifacts"]}  # fmt: skip

    # -- pieces ----------------------------------------------------------------------------
    def _preference(self, model: Any, train_pairs: list, val_pairs: list, fused: bool, eval_kw: dict) -> Any:  # fmt: skip
        """The DPO or ORPO loss; for DPO the reference log-probabilities, read back from the run
        folder or computed now (``engine.training.preference``)."""

        from engine.training import preference

        opts, ctx = self.opts, self.ctx
        if preference.no_dropout(model):
            ctx.log(f"Dropout is off for {opts.objective.upper()}: the rewards compare the model with its reference.")  # fmt: skip
        ref: dict[str, Any] = {"train": None, "validation": None}
        if opts.objective == "dpo":
            key = preference.fingerprint(train_pairs, val_pairs)
            saved = preference.load_reference(self.run_dir, key)
            if saved is None and opts.method == "full" and checkpoint.latest(self.run_dir):
                raise UserError("The reference log-probabilities of this run are missing or were "
                                "made for other data, and a fully fine-tuned model cannot be put "
                                "back to its starting weights; start a new run.")  # fmt: skip
            if saved is None:
                total = len(train_pairs) + len(val_pairs)
                kw = _scoring(eval_kw)
                started = time.perf_counter()
                saved = {}
                for part, pairs, before in (("train", train_pairs, 0), ("validation", val_pairs, len(train_pairs))):  # fmt: skip

                    def shown(done: int, _n: int, _batch: int, before: int = before) -> None:
                        ctx.progress(None, f"Reference model: {before + done:,} of {total:,} pairs scored")  # fmt: skip

                    saved[part] = preference.reference_logps(model, pairs, **kw, fused=fused, cancelled=ctx.cancelled, progress=shown)  # fmt: skip
                preference.save_reference(self.run_dir, key, saved)
                self.reference_seconds = time.perf_counter() - started
                ctx.log(f"Scored {total:,} pairs with the reference model (the adapter switched off)"
                        if opts.method != "full" else f"Scored {total:,} pairs with the starting weights")  # fmt: skip
            ref = saved
        self.pref_eval = (
            preference.PreferenceLoss(opts, ref["validation"], fused=fused),
            val_pairs,
        )
        ctx.log(f"{opts.objective.upper()}: beta {opts.beta}" + (f", {opts.dpo_loss} loss" if opts.objective == "dpo" else ""))  # fmt: skip
        return preference.PreferenceLoss(opts, ref["train"], fused=fused)

    def _register_prompt(self, folder: str) -> dict[str, str]:
        """Add the prompt-tuned model (virtual tokens on the run's base) to the library."""
        from engine.training.export_gguf import register_entry

        self.ctx.progress(0.995, "Adding the prompt-tuned model to the library")
        run = self.store.get(self.run_id)
        entry = register_entry(self.services, Path(folder), f"{run['name']} (prompt-tuned)",
                               template=run.get("template") or {}, base_model_id=run["model_id"])  # fmt: skip
        return {"prompt": entry}

    def _distillation(self, lm: Any, model_info: dict[str, Any], device: str) -> Any:
        """The distillation loss with the run's teacher (``engine.training.distill``)."""
        from engine.pruning.arch import layout
        from engine.training import distill

        opts = self.opts
        teacher = distill.load_teacher(self.services, opts.teacher, lm, device=device, ctx=self.ctx)  # type: ignore[arg-type]
        mapping = None
        if opts.kd_hidden_weight > 0:
            mapping = distill.layer_map(model_info.get("path"), layout(lm).n_layers, layout(teacher).n_layers)  # fmt: skip
        self.ctx.log(f"Distilling from {opts.teacher}: KL weight {opts.kd_weight}, temperature {opts.kd_temperature}"
                     + (f", hidden-state weight {opts.kd_hidden_weight}" if mapping else ""))  # fmt: skip
        return distill.make_loss(teacher, weight=opts.kd_weight, temperature=opts.kd_temperature,
                                 hidden_weight=opts.kd_hidden_weight, mapping=mapping)  # fmt: skip

    def _save(self, step: int, model: Any, optimizer: Any, scaler: Any, state: dict[str, Any], *, on_cancel: bool = False) -> None:  # fmt: skip
        if step <= self.last_saved or step == 0:
            return
        trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
        body = dict(state)
        if scaler is not None:
            body["scaler"] = scaler.state_dict()
        try:
            path = checkpoint.save(self.run_dir, step, trainable=trainable,
                                   optimizer=optimizer.state_dict(), state=body,
                                   keep=self.opts.keep_checkpoints)  # fmt: skip
        except OSError as exc:
            kept = (
                f"the last good checkpoint (step {self.last_saved}) is kept"
                if self.last_saved else "no earlier checkpoint exists"
            )  # fmt: skip
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise UserError(
                    f"The disk filled up while saving the checkpoint of step {step}; {kept}. "
                    "Free some disk space, then resume the run."
                ) from exc
            raise UserError(describe_os_error(exc, f"saving the checkpoint of step {step}") + f" ({kept})") from exc  # fmt: skip
        self.last_saved = step
        self.store.update(self.run_id, step=step, checkpoint=str(path))
        self.ctx.log(f"Saved checkpoint {path.name}" + (" (cancelled)" if on_cancel else ""))

    def _evaluate(self, step: int, model: Any, tok: Any, encoder: Any, val_ex: list, prompts: list, stops: list[int], eval_kw: dict, device: str) -> float | None:  # fmt: skip
        ctx = self.ctx
        value, _ = evaluate.mean_loss(model, val_ex, **eval_kw, cancelled=ctx.cancelled)
        found: dict[str, float] = {}
        if value is not None:
            found = {"eval_loss": value, "eval_ppl": evaluate.perplexity(value)}
        if self.pref_eval is not None:
            from engine.training.preference import evaluate_pairs

            kw = _scoring(eval_kw)
            self.pref_scores = evaluate_pairs(model, *self.pref_eval, **kw, cancelled=ctx.cancelled)
            found.update(self.pref_scores)
        if found:
            ctx.metrics(step, found)
            self.store.append_jsonl(self.run_id, "metrics.jsonl", {"step": step, **found})
        for prompt in prompts:
            if ctx.cancelled():
                break
            ids = data.prompt_ids(encoder, prompt)
            text = evaluate.answer(model, tok, ids, max_new_tokens=self.opts.sample_tokens,
                                   stop_ids=stops, device=device)  # fmt: skip
            shown = evaluate.prompt_text(prompt)
            ctx.log(f"Sample at step {step}: {shown[-80:]!r} -> {text[:200]!r}")
            self.store.append_jsonl(self.run_id, "samples.jsonl", {"step": step, "prompt": shown, "answer": text})  # fmt: skip
        return value

    def _save_final(
        self, model: Any, lm: Any, tok: Any, template: Any, loaded: Any
    ) -> dict[str, str]:
        """The trained adapter (peft format) or, for full tuning, the model folder."""
        key = "model" if self.opts.method == "full" else "adapter"
        final = self.run_dir / key
        tmp = self.run_dir / f".{key}.partial-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            if key == "model":
                model.save_pretrained(tmp)
            else:  # the adapter alone (no embedding layers are adapted)
                model.save_pretrained(tmp, save_embedding_layers=False)
            if key == "model":
                tok.chat_template = template.source
                tok.save_pretrained(tmp)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise UserError(describe_os_error(exc, f"saving the trained {key}")) from exc
        return {key: str(final)}


def _scoring(eval_kw: dict[str, Any]) -> dict[str, Any]:
    """The evaluation settings the preference scorers take (no loss function)."""
    return {k: eval_kw[k] for k in ("batch_size", "pad_id", "device", "precision")}


class _Loop:
    """One optimizer step at a time, with metrics, timing and the divergence checks."""

    def __init__(self, trainer: LoraTrainer, model, optimizer, scaler, params, collate, order, total, device, precision, loss_fn, state) -> None:  # fmt: skip
        self.t = trainer
        self.model, self.optimizer, self.scaler, self.params = model, optimizer, scaler, params
        self.collate, self.order, self.total = collate, order, total
        self.device, self.precision, self.loss_fn = device, precision, loss_fn
        self.state = state
        self.avg_step_s: float | None = None

    def step(self, step: int) -> float | None:
        import torch

        opts, ctx = self.t.opts, self.t.ctx
        accum = opts.gradient_accumulation
        lr = lr_at(step, self.total, opts)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        started = time.perf_counter()
        batches = [
            self.collate(self.order.batch(m)) for m in range(step * accum, (step + 1) * accum)
        ]
        stats = getattr(self.loss_fn, "take", None)  # a preference loss's reward statistics
        if stats is not None:
            self.loss_fn.reset()
        learned = max(1, sum(b.learned for b in batches))
        loss_sum = 0.0
        tokens = 0
        # a step cancelled between its micro-batches did not happen: the random state goes back
        # to its start, so the checkpoint saved then resumes with the dropout masks it would have
        rng_at_start = checkpoint.rng_state() if accum > 1 else None
        for batch in batches:
            if ctx.cancelled():
                self.optimizer.zero_grad(set_to_none=True)
                if rng_at_start is not None:
                    checkpoint.set_rng_state(rng_at_start)
                return None
            evaluate.to_device(batch, self.device)
            with modeling.autocast(self.device, self.precision):
                total_loss, _n = self.loss_fn(self.model, batch)
            scaled = total_loss / learned
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            loss_sum += float(total_loss.detach())
            tokens += batch.tokens
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(self.params, opts.max_grad_norm or float("inf"))
        value = loss_sum / learned
        self._check(step + 1, value, float(norm), lr)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        elapsed = time.perf_counter() - started
        self.state["train_seconds"] += elapsed
        self.state["tokens"] += tokens
        if self.state["first_loss"] is None:
            self.state["first_loss"] = value
        self.avg_step_s = (
            elapsed if self.avg_step_s is None else 0.8 * self.avg_step_s + 0.2 * elapsed
        )
        done = step + 1
        eta = self.avg_step_s * (self.total - done)
        metrics = {"loss": value, "lr": lr, "grad_norm": float(norm), "tokens_per_s": tokens / elapsed,
                   "eta_s": eta, "epoch": (done * accum) / self.order.per_epoch}  # fmt: skip
        if stats is not None:
            metrics.update(stats())
            self.state["rewards"] = {k: metrics[k] for k in ("reward_margin", "reward_accuracy") if k in metrics}  # fmt: skip
        ctx.metrics(done, metrics)
        self.t.store.append_jsonl(self.t.run_id, "metrics.jsonl", {"step": done, **metrics})
        ctx.progress(done / self.total, f"Step {done}/{self.total} · loss {value:.4f} · "
                     f"{metrics['tokens_per_s']:.0f} tok/s · ETA {human_duration(eta)}")  # fmt: skip
        return value

    def _check(self, step: int, value: float, norm: float, lr: float) -> None:
        opts = self.t.opts
        first = self.state["first_loss"]
        kept = f" The checkpoint of step {self.t.last_saved} is kept." if self.t.last_saved else ""
        advice = f"lower learning_rate (now {lr:g}; try {opts.learning_rate / 10:g})"
        if not opts.max_grad_norm:
            advice += " and set max_grad_norm (e.g. 1.0)"
        if not math.isfinite(value) or (self.scaler is None and not math.isfinite(norm)):
            self.optimizer.zero_grad(set_to_none=True)
            what = "loss" if not math.isfinite(value) else "gradient"
            raise Diverged(f"Training stopped at step {step}: the {what} became {value if what == 'loss' else norm}. "
                           f"Start a new run and {advice}.{kept}")  # fmt: skip
        if first is not None and step >= 2 and value > opts.stop_loss_factor * max(first, 1e-3):
            self.optimizer.zero_grad(set_to_none=True)
            raise Diverged(f"Training stopped at step {step}: the loss exploded ({first:.3f} -> {value:.3f}). "
                           f"Start a new run and {advice}.{kept}")  # fmt: skip
