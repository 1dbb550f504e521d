"""LoRA training benchmark: Hearth's LoraTrainer against a plain Hugging Face Trainer + peft loop.

Both sides train the same model (the bundled Gemma 3 270M, converted once to a torch folder), on
the same rows (a synthetic instruction set of varied lengths, rendered with the same chat template
and prompt masking by ``engine.training.data``), with the same LoRA (r 16, alpha 32, dropout 0.05,
every linear layer of the blocks), sequence length, batch size, learning rate, precision (fp32 on
CPU, bf16 on CUDA) and one epoch. Each side runs in its own fresh subprocess, so its peak RSS is
its own; the sides take turns for ``--rounds`` rounds and the ratios are taken round by round.

- hf:      ``transformers.Trainer`` + ``peft.get_peft_model``, ``DataCollatorForSeq2Seq`` padding to
           the longest row of each batch, no checkpoints, no evaluation.
- hearth:  ``engine.training.trainer.LoraTrainer`` as the ``train.lora`` job runs it (no
           checkpoints, no evaluation), with its defaults: the fused LM head + cross-entropy over
           answer tokens only, and length-grouped batches.
- packed:  the same with ``packing`` on (rows joined into full-length blocks; fewer, fuller
           batches -- reported apart since its batches hold more rows).

Tokens/s counts real (not padding) tokens over the training loop's wall time; peak memory is each
process's maximum RSS (on CUDA also torch's peak allocated memory). Targets: tokens/s >= 1.0x HF,
peak memory <= 1.0x HF.

    .venv/bin/python benchmarks/bench_train.py [--rows 32] [--seq-len 256] [--batch 4]
        [--rounds 1] [--device cpu|cuda] [--home DIR] [--no-packed] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sides
from scratch import scratch_dir

LORA = {"rank": 16, "alpha": 32.0, "dropout": 0.05}
LR = 2e-4
_WORDS = ["the", "river", "light", "stone", "garden", "quiet", "market", "ancient", "signal", "orange", "winter", "careful", "question", "answer", "model", "simple", "bridge", "travel", "number", "paper", "music", "window", "forest", "engine", "yellow", "bright", "slowly", "under", "between", "because", "although", "whenever", "seven"]  # fmt: skip


def make_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Instruction rows of varied length (prompts 4-60 words, answers 4-120 words)."""
    rng = random.Random(seed)

    def text(lo: int, hi: int) -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(lo, hi)))

    return [
        {"instruction": text(4, 60), "input": "", "output": text(4, 120) + "."} for _ in range(n)
    ]


def peak_mb() -> float:
    from engine.training.trainer import peak_rss_mb

    return peak_rss_mb()


# -- the sides (each in its own process) ---------------------------------------------------
def _examples(
    services: Any, model: dict[str, Any], tok: Any, rows_path: Path, seq_len: int
) -> list:
    from engine.training import data

    fmt, rows = data.read_jsonl(rows_path)
    convs = [data.conversation(r, fmt) for r in rows]
    template = data.choose_template(
        services, model, option=None, own=getattr(tok, "chat_template", None)
    )
    examples, _report = data.hf_encoder(tok, template, train_on_prompt=False, model_name=model["name"]).examples(convs, seq_len)  # fmt: skip
    return examples


def side_hf(args: Any) -> dict[str, Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from engine.models.gguf_to_torch import load_torch_model
    from engine.services import Services
    from engine.training.modeling import detect_targets, torch_dtype

    services = Services(Path(args.home))
    model = services.library.get(args.model)
    precision = "bf16" if args.device == "cuda" else "fp32"
    lm, tok = load_torch_model(
        model, services=services, device=args.device, dtype=torch_dtype(precision)
    )
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    examples = _examples(services, model, tok, Path(args.rows_file), args.seq_len)
    lm.config.use_cache = False
    config = LoraConfig(r=LORA["rank"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                        target_modules=detect_targets(lm), bias="none", task_type="CAUSAL_LM")  # fmt: skip
    peft_model = get_peft_model(lm, config)
    dataset = [{"input_ids": e.input_ids, "labels": e.labels, "attention_mask": [1] * len(e.input_ids)} for e in examples]  # fmt: skip
    targs = TrainingArguments(
        output_dir=str(Path(args.home) / "hf-bench"), per_device_train_batch_size=args.batch,
        num_train_epochs=1, learning_rate=LR, lr_scheduler_type="constant", warmup_steps=0,
        logging_steps=1000, save_strategy="no", report_to=[], seed=0, bf16=precision == "bf16",
        use_cpu=args.device == "cpu", dataloader_num_workers=0, remove_unused_columns=False,
        disable_tqdm=True, max_grad_norm=1.0,
    )  # fmt: skip
    collator = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)
    trainer = Trainer(model=peft_model, args=targs, train_dataset=dataset, data_collator=collator)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    out = trainer.train()
    seconds = time.perf_counter() - started
    tokens = sum(len(e.input_ids) for e in examples)
    result = {"side": "hf", "seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
              "mean_loss": out.training_loss, "peak_rss_mb": peak_mb(), "rows": len(examples)}  # fmt: skip
    if args.device == "cuda":
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def side_hearth(args: Any, *, packing: bool) -> dict[str, Any]:
    from engine.jobs.registry import SimpleContext
    from engine.services import Services
    from engine.training.launch import create_run
    from engine.training.runs import RunStore
    from engine.training.trainer import LoraTrainer

    services = Services(Path(args.home))
    options = {**LORA, "batch_size": args.batch, "seq_len": args.seq_len, "epochs": 1.0,
               "learning_rate": LR, "lr_schedule": "constant", "warmup_ratio": 0.0,
               "save_every": 0, "eval_every": 0, "validation_fraction": 0.0, "sample_tokens": 1,
               "packing": packing, "device": args.device}  # fmt: skip
    run, plan = create_run(services, model_id=args.model, dataset=args.rows_file, options=options, force=True)  # fmt: skip
    ctx = SimpleContext(services=services, params={"run_id": run["id"]})
    result = LoraTrainer(services, run["id"], ctx).train()
    store = RunStore(services)
    summary = store.get(run["id"])["summary"]
    step_losses = [m["loss"] for m in store.metrics(run["id"]) if "loss" in m]
    out = {"side": "packed" if packing else "hearth", "seconds": summary["train_seconds"],
           "tokens": summary["tokens"], "tokens_per_s": summary["tokens_per_s"],
           "final_loss": result["final_loss"], "mean_loss": sum(step_losses) / len(step_losses),
           "peak_rss_mb": peak_mb(),
           "plan_mb": plan["total_bytes"] / 2**20, "fused_loss": summary["fused_loss"]}  # fmt: skip
    if "peak_gpu_mb" in summary:
        out["peak_gpu_mb"] = summary["peak_gpu_mb"]
    return out


# -- orchestration -------------------------------------------------------------------------
def run_side(side: str, args: Any, model_id: str, rows_file: Path) -> dict[str, Any]:
    return sides.run_side(__file__, side, args.home, [
        "--model", model_id, "--rows-file", str(rows_file), "--seq-len", str(args.seq_len),
        "--batch", str(args.batch), "--device", args.device])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--home", help="data root to use (keeps the converted model between runs)")
    parser.add_argument("--no-packed", action="store_true", help="skip the packing variant")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--rows-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        fn = {"hf": side_hf, "hearth": lambda a: side_hearth(a, packing=False),
              "packed": lambda a: side_hearth(a, packing=True)}[args.side]  # fmt: skip
        print(json.dumps(fn(args)))
        return 0

    args.home = Path(args.home or str(scratch_dir(prefix="hearth-bench-train-")))
    args.home.mkdir(parents=True, exist_ok=True)
    model_id = sides.prepare_gemma(args.home)
    rows_file = args.home / "bench-rows.jsonl"
    rows_file.write_text(
        "".join(json.dumps(r) + "\n" for r in make_rows(args.rows)), encoding="utf-8"
    )
    names = ["hf", "hearth"] + ([] if args.no_packed else ["packed"])
    rounds: list[dict[str, dict[str, Any]]] = []
    for r in range(args.rounds):
        results = {}
        for side in names if r % 2 == 0 else list(reversed(names)):
            print(f"round {r + 1}: {side}...", file=sys.stderr)
            results[side] = run_side(side, args, model_id, rows_file)
        rounds.append(results)

    def ratio(side: str, key: str) -> float:
        return statistics.median(rd[side][key] / rd["hf"][key] for rd in rounds)

    report = {
        "device": args.device, "rows": args.rows, "seq_len": args.seq_len, "batch": args.batch,
        "rounds": rounds,
        "hearth_vs_hf": {"tokens_per_s": ratio("hearth", "tokens_per_s"),
                         "peak_rss": ratio("hearth", "peak_rss_mb")},
    }  # fmt: skip
    if "packed" in names:
        report["packed_vs_hf"] = {"tokens_per_s": ratio("packed", "tokens_per_s"),
                                  "peak_rss": ratio("packed", "peak_rss_mb")}  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"Gemma 3 270M LoRA on {args.device}: {args.rows} rows, seq_len {args.seq_len}, batch {args.batch}, "
          f"{args.rounds} round(s)")  # fmt: skip
    for rd_i, rd in enumerate(rounds, 1):
        for side, res in rd.items():
            extra = f", plan {res['plan_mb']:.0f} MB" if "plan_mb" in res else ""
            print(f"  round {rd_i} {side:7s} {res['tokens_per_s']:8.1f} tokens/s  peak RSS "
                  f"{res['peak_rss_mb']:7.0f} MB  mean loss {res['mean_loss']:.3f}  ({res['seconds']:.1f} s){extra}")  # fmt: skip
    h = report["hearth_vs_hf"]
    print(f"hearth / hf: tokens/s {h['tokens_per_s']:.2f}x (target >= 1.0), peak memory {h['peak_rss']:.2f}x (target <= 1.0)")  # fmt: skip
    if "packed_vs_hf" in report:
        p = report["packed_vs_hf"]
        print(f"packed / hf: tokens/s {p['tokens_per_s']:.2f}x, peak memory {p['peak_rss']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
