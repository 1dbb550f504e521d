"""DPO benchmark: Hearth's DPO with LoRA against TRL's ``DPOTrainer``, speed, memory and what
the runs learn.

Data (real text, not generated): paragraphs of Python's documentation as Debian ships it. Each
pair asks for a one-sentence summary of a paragraph; the chosen reply is the paragraph's first
sentence introduced by "In short:", the rejected reply the same sentence without it -- a style
that is unmistakable and that a base model does not pick (it costs tokens). Training pairs come
from the tutorial, held-out pairs from the HOWTOs.

Both sides train the bundled Gemma 3 270M (converted once to a torch folder) with the same LoRA
(r 16, alpha 32, dropout 0.05, every linear layer of the blocks), beta 0.1, the sigmoid loss,
learning rate, batch, sequence length, steps, fp32 on CPU (bf16 with ``--device cuda``), no
gradient checkpointing (TRL turns it on by default; off on both sides here) and the same prompts, rendered with the chat template
Hearth picks for the model. Each side runs in its own fresh process, so its peak RSS is its own.

- trl:     ``trl.DPOTrainer`` with a peft ``LoraConfig``; its reference is the model with the
           adapter disabled, run at every step.
- hearth:  ``engine.training.trainer.LoraTrainer`` with ``objective dpo``: the reference scored
           once before the first step (that time is counted), the fused per-token head.

Tokens/s counts the real tokens of both replies and their prompts over the whole training time
(Hearth: the steps plus the reference scoring). Then, on the held-out pairs, each model (the base,
Hearth's adapter, TRL's adapter) is asked two things: which of the two replies it gives the higher
log-probability (the preference rate) and whether its own greedy answer starts with "In short"
(the style rate). Targets: tokens/s >= 1.5x TRL, peak memory <= 1.0x TRL, the tuned model's rates
above the base's.

    .venv/bin/python benchmarks/bench_dpo.py [--steps 30] [--batch 2] [--seq-len 256]
        [--held-out 60] [--device cpu|cuda] [--home DIR] [--json]

On CUDA, memory is the peak GPU memory torch allocated (``peak_gpu_mb``) beside the RSS.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sides
from python_docs import ensure_docs, read_dir
from scratch import scratch_dir

LORA = {"rank": 16, "alpha": 32.0, "dropout": 0.05}
LR = 5e-5
BETA = 0.1
MARK = "In short:"
PROMPT = "Summarise this passage in one sentence.\n\n{text}"


# -- data ----------------------------------------------------------------------------------
def paragraphs(text: str) -> list[str]:
    """Prose paragraphs of 25-70 words: no markup lines, code, tables or headings."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in block.splitlines()]
        if not lines or any(ln.startswith(("..", "::", ">>>", "*", "-", "|", "+", "=")) or ln.endswith("::") for ln in lines):  # fmt: skip
            continue
        para = " ".join(lines)
        para = re.sub(r":\w+:`([^`<]*?)(?: <[^>]*>)?`", r"\1", para).replace("``", "")
        words = para.split()
        if 25 <= len(words) <= 70 and para[0].isupper() and para.endswith("."):
            out.append(para)
    return out


def first_sentence(para: str) -> str | None:
    match = re.match(r"(.{20,}?[.!?])\s+[A-Z]", para + " X")
    sentence = match.group(1) if match else None
    return sentence if sentence and len(sentence.split()) <= 35 else None


def pairs_from(text: str, n: int) -> list[dict[str, str]]:
    rows = []
    for para in paragraphs(text):
        sentence = first_sentence(para)
        if sentence:
            rows.append({"prompt": PROMPT.format(text=para), "chosen": f"{MARK} {sentence}",
                         "rejected": sentence})  # fmt: skip
        if len(rows) == n:
            break
    return rows


def peak_mb() -> float:
    from engine.training.trainer import peak_rss_mb

    return peak_rss_mb()


def peaks(args: Any) -> dict[str, float]:
    out = {"peak_rss_mb": peak_mb()}
    if args.device == "cuda":
        import torch

        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


# -- the sides (each in its own process) ---------------------------------------------------
def _load(args: Any) -> tuple[Any, Any, Any, dict[str, Any]]:
    from engine.models.gguf_to_torch import load_torch_model
    from engine.services import Services
    from engine.training import data

    services = Services(Path(args.home))
    model = services.library.get(args.model)
    dtype = "bfloat16" if args.device == "cuda" else None
    lm, tok = load_torch_model(model, services=services, device=args.device, dtype=dtype)
    template = data.choose_template(services, model, option=None, own=getattr(tok, "chat_template", None))  # fmt: skip
    return services, lm, tok, {"model": model, "template": template}


def side_trl(args: Any) -> dict[str, Any]:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    from engine.chat import templates
    from engine.training.modeling import detect_targets

    _services, lm, tok, info = _load(args)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    rows = [json.loads(line) for line in Path(args.rows_file).read_text(encoding="utf-8").splitlines()]  # fmt: skip

    def rendered(prompt: str) -> str:
        return templates.render(info["template"], [{"role": "user", "content": prompt}],
                                bos_token="", eos_token=tok.eos_token, add_generation_prompt=True,
                                model_name=info["model"]["name"])  # fmt: skip

    ds = Dataset.from_list([{"prompt": rendered(r["prompt"]), "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows])  # fmt: skip
    config = LoraConfig(r=LORA["rank"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                        target_modules=detect_targets(lm), bias="none", task_type="CAUSAL_LM")  # fmt: skip
    targs = DPOConfig(
        output_dir=str(Path(args.home) / "trl-bench"), per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=1, max_steps=args.steps, learning_rate=LR,
        lr_scheduler_type="constant", warmup_steps=0, beta=BETA, loss_type=["sigmoid"],
        max_length=args.seq_len, bf16=args.device == "cuda", use_cpu=args.device == "cpu",
        gradient_checkpointing=False,
        logging_steps=1, save_strategy="no", report_to=[], seed=0, disable_tqdm=True,
        dataloader_num_workers=0, max_grad_norm=1.0,
    )  # fmt: skip
    trainer = DPOTrainer(model=lm, args=targs, train_dataset=ds, processing_class=tok, peft_config=config)  # fmt: skip
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    tokens = int(trainer._total_train_tokens)
    adapter = Path(args.home) / "trl-adapter"
    trainer.model.save_pretrained(str(adapter))
    return {"side": "trl", "seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
            **peaks(args), "adapter": str(adapter)}  # fmt: skip


def side_hearth(args: Any) -> dict[str, Any]:
    from engine.jobs.registry import SimpleContext
    from engine.services import Services
    from engine.training.launch import create_run
    from engine.training.runs import RunStore
    from engine.training.trainer import LoraTrainer

    services = Services(Path(args.home))
    options = {**LORA, "objective": "dpo", "beta": BETA, "batch_size": args.batch,
               "gradient_accumulation": 1, "seq_len": args.seq_len, "max_steps": args.steps,
               "learning_rate": LR, "lr_schedule": "constant", "warmup_ratio": 0.0,
               "save_every": 0, "eval_every": 0, "validation_fraction": 0.0, "sample_tokens": 1,
               "device": args.device}  # fmt: skip
    run, _plan = create_run(services, model_id=args.model, dataset=args.rows_file, options=options, force=True)  # fmt: skip
    ctx = SimpleContext(services=services, params={"run_id": run["id"]})
    result = LoraTrainer(services, run["id"], ctx).train()
    summary = RunStore(services).get(run["id"])["summary"]
    seconds = summary["train_seconds"] + summary["reference_seconds"]
    return {"side": "hearth", "seconds": seconds, "reference_seconds": summary["reference_seconds"],
            "tokens": summary["tokens"], "tokens_per_s": summary["tokens"] / seconds,
            **peaks(args), "adapter": result["artifacts"]["adapter"]}  # fmt: skip


def side_rates(args: Any) -> dict[str, Any]:
    """Preference and style rates on the held-out pairs for the base and each adapter."""
    import torch
    from peft import PeftModel

    from engine.training import data, evaluate, preference

    _services, lm, tok, info = _load(args)
    rows = [json.loads(line) for line in Path(args.rows_file).read_text(encoding="utf-8").splitlines()]  # fmt: skip
    encoder = data.hf_encoder(tok, info["template"], train_on_prompt=False, model_name=info["model"]["name"])  # fmt: skip
    pairs, _report = preference.encode_pairs(encoder, [data.pair_of(r) for r in rows], args.seq_len)  # fmt: skip
    stops = evaluate.stop_ids(tok, encoder.end_of_turn)
    adapters = json.loads(args.adapters)
    out: dict[str, Any] = {"pairs": len(pairs)}
    for name, path in [("base", None), *adapters.items()]:
        model = PeftModel.from_pretrained(lm, path) if path else lm
        model.eval()
        preferred = styled = 0
        with torch.no_grad():
            for start in range(0, len(pairs), 4):
                picks = list(range(start, min(start + 4, len(pairs))))
                batch = evaluate.to_device(preference.collate(pairs, picks, pad_id=tok.pad_token_id), args.device)  # fmt: skip
                logps, *_ = preference.sequence_logps(model, batch, fused=True)
                preferred += int((logps[: len(picks)] > logps[len(picks) :]).sum())
            for row in rows[: len(pairs)]:
                ids = data.prompt_ids(encoder, [{"role": "user", "content": row["prompt"]}])
                text = evaluate.answer(model, tok, ids, max_new_tokens=6, stop_ids=stops, device=args.device)  # fmt: skip
                styled += text.strip().lower().startswith(MARK[:-1].lower())
        out[name] = {"preference_rate": preferred / len(pairs), "style_rate": styled / len(pairs)}
        if path:
            lm = model.unload()
    return out


# -- orchestration -------------------------------------------------------------------------
def run_side(side: str, args: Any, model_id: str, rows_file: Path, *extra: str) -> dict[str, Any]:
    print(f"{side}...", file=sys.stderr)
    return sides.run_side(__file__, side, args.home, [
        "--model", model_id, "--rows-file", str(rows_file), "--seq-len", str(args.seq_len),
        "--batch", str(args.batch), "--steps", str(args.steps), "--device", args.device, *extra])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--held-out", type=int, default=60)
    parser.add_argument("--home", help="data root to use (keeps the converted model between runs)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--rows-file", help=argparse.SUPPRESS)
    parser.add_argument("--adapters", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps({"trl": side_trl, "hearth": side_hearth, "rates": side_rates}[args.side](args)))  # fmt: skip
        return 0

    ensure_docs()
    args.home = Path(args.home or str(scratch_dir(prefix="hearth-bench-dpo-")))
    args.home.mkdir(parents=True, exist_ok=True)
    model_id = sides.prepare_gemma(args.home)
    train_rows = pairs_from(read_dir("tutorial"), args.steps * args.batch)
    held_rows = pairs_from(read_dir("howto"), args.held_out)
    train_file, held_file = args.home / "dpo-train.jsonl", args.home / "dpo-held-out.jsonl"
    for path, rows in ((train_file, train_rows), (held_file, held_rows)):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    trl = run_side("trl", args, model_id, train_file)
    hearth = run_side("hearth", args, model_id, train_file)
    adapters = json.dumps({"hearth": hearth["adapter"], "trl": trl["adapter"]})
    rates = run_side("rates", args, model_id, held_file, "--adapters", adapters)
    report = {"steps": args.steps, "batch": args.batch, "seq_len": args.seq_len,
              "train_pairs": len(train_rows), "held_out_pairs": rates["pairs"],
              "trl": trl, "hearth": hearth, "rates": {k: rates[k] for k in ("base", "hearth", "trl")},
              "hearth_vs_trl": {"tokens_per_s": hearth["tokens_per_s"] / trl["tokens_per_s"],
                                "peak_rss": hearth["peak_rss_mb"] / trl["peak_rss_mb"]}}  # fmt: skip
    if args.device == "cuda":
        report["hearth_vs_trl"]["peak_gpu"] = hearth["peak_gpu_mb"] / trl["peak_gpu_mb"]
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"Gemma 3 270M, DPO with LoRA on {args.device.upper()}: {len(train_rows)} training pairs, {args.steps} steps "
          f"of {args.batch}, seq_len {args.seq_len}")  # fmt: skip
    for side in (trl, hearth):
        extra = f" (reference scoring {side['reference_seconds']:.1f} s of it)" if "reference_seconds" in side else ""  # fmt: skip
        print(f"  {side['side']:7s} {side['tokens_per_s']:7.1f} tokens/s  {side['tokens']:,} tokens in "
              f"{side['seconds']:.1f} s{extra}  peak RSS {side['peak_rss_mb']:.0f} MB"
              + (f", GPU {side['peak_gpu_mb']:.0f} MB" if "peak_gpu_mb" in side else ""))  # fmt: skip
    r = report["hearth_vs_trl"]
    print(f"hearth / trl: tokens/s {r['tokens_per_s']:.2f}x (target >= 1.5), peak memory {r['peak_rss']:.2f}x (target <= 1.0)")  # fmt: skip
    print(f"held-out pairs ({rates['pairs']}, from the HOWTOs):")
    for name in ("base", "hearth", "trl"):
        v = rates[name]
        print(f"  {name:7s} prefers the chosen reply {v['preference_rate']:.0%}, answers in the chosen style {v['style_rate']:.0%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
