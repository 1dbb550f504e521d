"""Train a LoRA adapter with TRL on one GPU or many, as a Hearth run would.

Written by Hearth ("Run on a cluster…" / ``hearth-engine train handoff``) next to
``hearth_handoff.json`` (the run's options) and ``data/`` (the rows, tokenised by Hearth with the
run's chat template and answer-only labels, and the order Hearth feeds them in). Launch it with
accelerate, e.g.

    accelerate launch --config_file accelerate/ddp.yaml train.py --base /models/gemma-3-270m

The adapter is written to ``output/adapter`` (peft format) with ``output/losses.jsonl`` (the loss
and learning rate of every step); bring the folder back with
``hearth-engine train import-result DIR --run RUN`` or Training > Import cluster result….

Same as Hearth: the tokens and labels (template, masking, truncation), the order of the rows, the
LoRA configuration (rank, alpha, dropout, target modules, DoRA; QLoRA's 4-bit NF4 base), AdamW with the run's weight decay
and gradient clipping, and Hearth's learning-rate schedule (linear warm-up from lr/warmup, then
cosine, linear or constant). With N processes each one takes every N-th micro-batch (data
parallel): the effective batch is N times the run's, so ``--max-steps`` of the run's steps / N
goes through the same rows once, on the schedule of that many steps.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def lr_at(step: int, total: int, *, lr: float, warmup_ratio: float, schedule: str) -> float:
    """The learning rate of optimizer step ``step`` (0-based) of ``total``: linear warm-up, then
    the schedule. Hearth's trainer uses this very function."""
    warmup = int(total * warmup_ratio)
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    if schedule == "constant" or total <= warmup + 1:
        return lr
    progress = (step - warmup) / max(1, total - warmup - 1)
    if schedule == "linear":
        return lr * max(0.0, 1.0 - progress)
    return lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main(argv: list[str] | None = None) -> int:
    config = json.loads((HERE / "hearth_handoff.json").read_text(encoding="utf-8"))
    run, opts = config["run"], config["options"]
    parser = argparse.ArgumentParser(
        description="Train the LoRA adapter of Hearth run " + run["name"]
    )
    parser.add_argument("--base", default=config["base"]["path"],
                        help="the base model: a Hugging Face folder or hub id [default: %(default)s]")  # fmt: skip
    parser.add_argument("--output", default=str(HERE / "output"), help="where the adapter goes")
    parser.add_argument(
        "--precision", choices=("fp32", "bf16", "fp16"), default=config["precision"]
    )
    parser.add_argument("--max-steps", type=int, default=config["steps"], help="stop after N steps")
    parser.add_argument("--save-steps", type=int, default=opts["save_every"] or 0)
    parser.add_argument("--gradient-checkpointing", action="store_true", default=opts["gradient_checkpointing"])  # fmt: skip
    args = parser.parse_args(argv)

    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from torch.utils.data import DataLoader
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.precision]
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rows = read_jsonl(HERE / "data" / "train_tokens.jsonl")
    order = json.loads((HERE / "data" / "order.json").read_text(encoding="utf-8"))
    steps = min(args.max_steps, config["steps"])
    accum = opts["gradient_accumulation"]
    world = int(os.environ.get("WORLD_SIZE", "1"))  # each process takes every world-th batch

    torch.manual_seed(opts["seed"])  # as Hearth: the adapter's first weights come from this seed
    if opts["method"] == "qlora":  # the base in 4-bit NF4 on each process's GPU, as Hearth loads it
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                   bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)  # fmt: skip
        local = int(os.environ.get("LOCAL_RANK", "0"))
        model = AutoModelForCausalLM.from_pretrained(args.base, quantization_config=quant, dtype=compute,
                                                     device_map={"": local})  # fmt: skip
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=args.gradient_checkpointing)  # fmt: skip
    else:
        model = AutoModelForCausalLM.from_pretrained(args.base, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.use_cache = False
    lora = LoraConfig(r=opts["rank"], lora_alpha=opts["alpha"], lora_dropout=opts["dropout"],
                      target_modules=config["targets"], use_dora=opts["method"] == "dora",
                      bias="none", task_type="CAUSAL_LM")  # fmt: skip
    model = get_peft_model(model, lora)

    class FixedOrder:
        """Hearth's micro-batches, in Hearth's order (epoch after epoch, seeded shuffles)."""

        def __init__(self, batches: list[list[int]]) -> None:
            self.batches = batches

        def __iter__(self):
            return iter(self.batches)

        def __len__(self) -> int:
            return len(self.batches)

    class HearthTrainer(SFTTrainer):
        def get_train_dataloader(self) -> Any:
            loader = DataLoader(self.train_dataset, batch_sampler=FixedOrder(order[: steps * accum * world]),
                                collate_fn=self.data_collator, num_workers=0)  # fmt: skip
            return self.accelerator.prepare(loader)

        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            peak = opts["learning_rate"]
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer or self.optimizer,
                lambda s: lr_at(s, steps, lr=peak, warmup_ratio=opts["warmup_ratio"],
                                schedule=opts["lr_schedule"]) / peak,
            )  # fmt: skip
            return self.lr_scheduler

    class Losses(TrainerCallback):
        def on_log(
            self, _args: Any, state: Any, _control: Any, logs: Any = None, **_kw: Any
        ) -> None:
            if state.is_world_process_zero and logs and "loss" in logs:
                with open(out / "losses.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"step": state.global_step, "loss": logs["loss"],
                                         "lr": logs.get("learning_rate")}) + "\n")  # fmt: skip

    (out / "losses.jsonl").unlink(missing_ok=True)
    settings = SFTConfig(
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=opts["batch_size"],
        gradient_accumulation_steps=accum,
        max_steps=steps,
        learning_rate=opts["learning_rate"],
        weight_decay=opts["weight_decay"],
        max_grad_norm=opts["max_grad_norm"] or 1e9,
        optim="adamw_torch",
        adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8,  # torch.optim.AdamW's, as Hearth
        logging_steps=1,
        save_strategy="steps" if args.save_steps else "no",
        save_steps=args.save_steps or 500,
        report_to="none",
        seed=opts["seed"],
        bf16=args.precision == "bf16",
        fp16=args.precision == "fp16",
        gradient_checkpointing=args.gradient_checkpointing,
        max_length=opts["seq_len"],
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
    )  # fmt: skip
    trainer = HearthTrainer(model=model, args=settings, train_dataset=Dataset.from_list(rows),
                            processing_class=tokenizer, callbacks=[Losses()])  # fmt: skip
    trainer.train()
    # every process takes part: under FSDP and ZeRO-3 the weights are gathered from their shards
    trainer.save_model(str(out / "adapter"))
    if trainer.is_world_process_zero():
        stamp = {"run_id": run["id"], "base_model_id": config["base"]["model_id"],
                 "base_fingerprint": config["base"]["fingerprint"], "steps": steps,
                 "world_size": world}  # fmt: skip
        (out / "hearth_result.json").write_text(json.dumps(stamp, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
