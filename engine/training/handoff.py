"""A training run handed to a GPU cluster, and its result brought back.

``write(services, run_id, out)`` writes a self-contained folder:

    hearth_handoff.json   the run: options, base model (path, fingerprint), LoRA targets, steps
    data/train.jsonl      the training rows of the run's dataset version (chat messages or text)
    data/validation.jsonl the held-out rows
    data/train_tokens.jsonl  the same rows as Hearth tokenises them: input_ids and labels (the
                          chat template rendered, prompt tokens masked with -100, cut to seq_len)
    data/order.json       the micro-batches, in the order Hearth feeds them (seeded shuffles per
                          epoch, grouped by length when the run does)
    train.py              TRL + peft + accelerate (``engine/training/cluster/train.py`` as it is)
    accelerate/           ddp.yaml (multi-GPU data parallel), fsdp.yaml, zero2.yaml, zero3.yaml
    README.md             what is where and the launch commands

``import_result(services, folder, run_id)`` takes the adapter the cluster wrote
(``output/adapter``), checks it belongs to this run and fits its base model, and adds it as a new
run ("<run> (cluster)", its per-step losses as the run's metrics) whose adapter is exported to GGUF
and added to the library, linked to its base, like any finished run's.

SFT with LoRA or DoRA only: preference objectives, distillation, packing, prompt tuning and full
fine-tuning are refused with what to change.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.core.paths import atomic_write_text, describe_os_error
from engine.training import data
from engine.training.config import TrainOptions
from engine.training.runs import RunStore

if TYPE_CHECKING:
    from engine.services import Services

FINGERPRINT_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "intermediate_size",
                    "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size")  # fmt: skip
ACCELERATE = {
    "ddp.yaml": "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nnum_machines: 1\n"
                "num_processes: 2  # one per GPU\nmixed_precision: bf16\nmachine_rank: 0\n"
                "main_training_function: main\nuse_cpu: false\n",
    "fsdp.yaml": "compute_environment: LOCAL_MACHINE\ndistributed_type: FSDP\nnum_machines: 1\n"
                 "num_processes: 2\nmixed_precision: bf16\nfsdp_config:\n  fsdp_version: 2\n"
                 "  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP\n  fsdp_state_dict_type: SHARDED_STATE_DICT\n"
                 "  fsdp_cpu_ram_efficient_loading: true\n  fsdp_reshard_after_forward: true\n",
    "zero2.yaml": "compute_environment: LOCAL_MACHINE\ndistributed_type: DEEPSPEED\nnum_machines: 1\n"
                  "num_processes: 2\nmixed_precision: bf16\ndeepspeed_config:\n  zero_stage: 2\n"
                  "  offload_optimizer_device: none\n  offload_param_device: none\n"
                  "  gradient_clipping: auto\n  zero3_init_flag: false\n",
    "zero3.yaml": "compute_environment: LOCAL_MACHINE\ndistributed_type: DEEPSPEED\nnum_machines: 1\n"
                  "num_processes: 2\nmixed_precision: bf16\ndeepspeed_config:\n  zero_stage: 3\n"
                  "  offload_optimizer_device: none\n  offload_param_device: none\n"
                  "  gradient_clipping: auto\n  zero3_init_flag: true\n  zero3_save_16bit_model: true\n",
}  # fmt: skip


def check(run: dict[str, Any], opts: TrainOptions) -> None:
    refusals = [
        (opts.objective != "sft", f"its objective is {opts.objective} (only SFT runs are handed off)"),
        (opts.method not in ("lora", "dora", "qlora"), f"its method is {opts.method} (LoRA and DoRA runs are handed off)"),
        (bool(opts.teacher), "it distils from a teacher model"),
        (opts.packing, "it packs rows (turn packing off; the cluster pads each batch instead)"),
        (bool(run.get("recover")), "it recovers a pruned model"),
    ]  # fmt: skip
    for refused, why in refusals:
        if refused:
            raise UserError(f"Run {run['name']} cannot be handed to a cluster: {why}.")


def fingerprint(config: dict[str, Any]) -> dict[str, Any]:
    """The shape of a base model, from its ``config.json`` (text config of multimodal ones)."""
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    return {k: text.get(k, config.get(k)) for k in FINGERPRINT_KEYS}


def write(services: Services, run_id: str, out: Path | str, *, ctx: Any = None) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from engine.training.export_gguf import base_folder_of

    store = RunStore(services)
    run = store.get(run_id)
    opts = TrainOptions.from_dict(run["options"])
    check(run, opts)
    out = Path(out).expanduser().absolute()
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} is not empty; give a new folder for the hand-off.")
    model = services.library.get(run["model_id"])
    progress = ctx.progress if ctx is not None else (lambda *_a: None)
    progress(0.05, f"Preparing {model['name']}")
    folder = base_folder_of(services, model)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    progress(0.3, "Reading the dataset")
    ds = run["dataset"]
    rows = data.load_rows(services, ds["ref"], version=ds.get("version"), split=ds.get("split"),
                          validation_split=ds.get("validation_split"),
                          validation_fraction=opts.validation_fraction, seed=opts.seed)  # fmt: skip
    template = data.choose_template(services, model, option=opts.template, own=getattr(tok, "chat_template", None))  # fmt: skip
    encoder = data.hf_encoder(tok, None if rows.format == "text" else template,
                              train_on_prompt=opts.prompt_labels, model_name=model["name"])  # fmt: skip
    progress(0.5, "Tokenising the rows as Hearth does")
    examples, report = encoder.examples(rows.train, opts.seq_len)
    if not examples:
        raise UserError(report.refusal(opts.seq_len))
    order = data.BatchOrder([len(e.input_ids) for e in examples], opts.batch_size, seed=opts.seed,
                            group_by_length=opts.group_by_length)  # fmt: skip
    accum = opts.gradient_accumulation
    steps = data.total_steps(order.per_epoch, accum, epochs=opts.epochs, max_steps=opts.max_steps)
    targets = run.get("targets") or list(opts.target_modules or _targets(folder))
    handoff = {
        "format": 1,
        "written_at": time.time(),
        "run": {"id": run["id"], "name": run["name"]},
        "base": {"model_id": model["id"], "name": model["name"], "path": str(folder),
                 "fingerprint": fingerprint(config)},
        "dataset": {k: ds.get(k) for k in ("ref", "version", "split", "validation_split")},
        "options": opts.to_dict(),
        "targets": targets,
        "template": {"name": template.name, "end_of_turn": encoder.end_of_turn},
        "steps": steps,
        "precision": "fp32" if run.get("precision") in (None, "fp32") else run["precision"],
        "rows": {"train": len(examples), "validation": len(rows.validation), "report": report.to_dict()},
        "hearth_losses": [{"step": m["step"], "loss": m["loss"]} for m in store.metrics(run_id) if "loss" in m],
    }  # fmt: skip
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "data").mkdir(parents=True)
        (tmp / "accelerate").mkdir()
        _jsonl(tmp / "data" / "train.jsonl", [_row(r) for r in rows.train])
        _jsonl(tmp / "data" / "validation.jsonl", [_row(r) for r in rows.validation])
        _jsonl(tmp / "data" / "train_tokens.jsonl",
               [{"input_ids": e.input_ids, "labels": e.labels} for e in examples])  # fmt: skip
        micro = [order.batch(m) for m in range(steps * accum)]
        (tmp / "data" / "order.json").write_text(json.dumps(micro), encoding="utf-8")
        (tmp / "hearth_handoff.json").write_text(json.dumps(handoff, indent=1), encoding="utf-8")
        shutil.copyfile(Path(__file__).with_name("cluster") / "train.py", tmp / "train.py")
        for name, text in ACCELERATE.items():
            (tmp / "accelerate" / name).write_text(text, encoding="utf-8")
        (tmp / "README.md").write_text(_readme(handoff), encoding="utf-8")
        if out.exists():
            out.rmdir()
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(describe_os_error(exc, f"writing the hand-off folder {out}")) from exc
    progress(1.0, f"Wrote {out}")
    return {"folder": str(out), "run_id": run["id"], "steps": steps, "rows": len(examples),
            "micro_batches": len(micro), "base_path": str(folder),
            "launch": f"accelerate launch --config_file accelerate/ddp.yaml train.py --base {folder}"}  # fmt: skip


def _targets(folder: Path) -> list[str]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from engine.training.modeling import detect_targets

    with torch.device("meta"):
        lm = AutoModelForCausalLM.from_config(
            AutoConfig.from_pretrained(folder, local_files_only=True)
        )
    return detect_targets(lm)


def _row(row: Any) -> dict[str, Any]:
    return {"text": row} if isinstance(row, str) else {"messages": row}


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _readme(h: dict[str, Any]) -> str:
    o = h["options"]
    return f"""# Hearth run "{h["run"]["name"]}" for a GPU cluster

Written by Hearth. Everything here runs without Hearth: TRL, peft, transformers, datasets and
accelerate (`pip install "trl>=1.16" peft accelerate datasets`; `deepspeed` for the ZeRO configs,
`bitsandbytes` for a QLoRA run).

- `train.py`: trains the LoRA adapter as Hearth would: the same tokens and answer-only labels
  ({h["template"]["name"]} template), rows in the same order, rank {o["rank"]}, alpha {o["alpha"]},
  dropout {o["dropout"]}, {o["method"]}, AdamW at {o["learning_rate"]} with Hearth's
  {o["lr_schedule"]} schedule ({o["warmup_ratio"]} warm-up), {h["steps"]} steps of
  {o["batch_size"]} rows x {o["gradient_accumulation"]} accumulation per process.
- `data/train.jsonl`, `data/validation.jsonl`: the dataset's rows; `data/train_tokens.jsonl`: the
  same rows tokenised; `data/order.json`: the micro-batches in order.
- `accelerate/ddp.yaml`: data parallel over the GPUs of one machine (set `num_processes`);
  `fsdp.yaml`: FSDP 2 (shards weights, for bases that do not fit one GPU); `zero2.yaml`,
  `zero3.yaml`: DeepSpeed ZeRO stage 2 and 3.

## Launch

The base model ({h["base"]["name"]}) is read from `--base`: copy its folder to the cluster
(here: `{h["base"]["path"]}`) or give its Hugging Face id.

    accelerate launch --config_file accelerate/ddp.yaml train.py --base /path/to/base
    accelerate launch --config_file accelerate/zero2.yaml train.py --base /path/to/base --precision bf16

One process (a single GPU or this machine's CPU): `accelerate launch --num_processes 1 train.py`.
With N processes each takes every N-th micro-batch, so the effective batch is N times the run's:
`--max-steps` of {h["steps"]} / N goes through the same rows once (the schedule follows it); the
full {h["steps"]} steps go through them N times.

## Bring the result back

The adapter is written to `output/adapter`, the loss of every step to `output/losses.jsonl`.
Copy this folder back and run

    hearth-engine train import-result THIS_FOLDER --run {h["run"]["id"]}

or use Training > Import cluster result…: the adapter joins the library, linked to
{h["base"]["name"]} and to the run's dataset, ready to chat with.
"""


# -- bringing the result back ---------------------------------------------------------------
def find_adapter(folder: Path) -> Path:
    for candidate in (folder / "output" / "adapter", folder / "adapter", folder):
        if (candidate / "adapter_config.json").is_file():
            if not (candidate / "adapter_model.safetensors").is_file():
                raise UserError(f"{candidate} has adapter_config.json but no adapter_model.safetensors; copy the whole output folder back from the cluster.")  # fmt: skip
            return candidate
    raise UserError(f"{folder} holds no adapter: train.py writes output/adapter (adapter_config.json and adapter_model.safetensors) when training ends. Did the cluster run finish, and was the output folder copied back?")  # fmt: skip


def check_fits(adapter: Path, base_config: dict[str, Any], base_name: str) -> None:
    """The adapter's matrices fit the base: layer numbers and widths (peft names them
    ``...layers.<i>.<module>.lora_A.weight``, shape (rank, in) and ``lora_B`` (out, rank))."""
    from safetensors import safe_open

    shape = fingerprint(base_config)
    heads, kv = shape["num_attention_heads"] or 0, shape["num_key_value_heads"] or 0
    head_dim = shape["head_dim"] or ((shape["hidden_size"] or 0) // max(1, heads))
    widths = {shape["hidden_size"], shape["intermediate_size"], heads * head_dim, kv * head_dim}
    layers = int(shape["num_hidden_layers"] or 0)
    with safe_open(str(adapter / "adapter_model.safetensors"), framework="pt") as fh:
        for name in fh.keys():  # noqa: SIM118 (safe_open has keys(), not iteration)
            dims = fh.get_slice(name).get_shape()
            if ("lora_A" in name or "lora_B" in name) and (len(dims) != 2 or 0 in dims):
                raise UserError(f"The adapter's {name} has the shape {list(dims)}, not a matrix: it was saved from a sharded run without gathering its weights. Save it again with train.py as written (trainer.save_model).")  # fmt: skip
            parts = name.split(".")
            if "layers" in parts:
                index = int(parts[parts.index("layers") + 1])
                if index >= layers:
                    raise UserError(f"The adapter was trained on another base model: it has layer {index}, {base_name} has {layers} layers.")  # fmt: skip
            width = dims[1] if "lora_A" in name else dims[0] if "lora_B" in name else None
            if width is not None and width not in widths:
                raise UserError(f"The adapter was trained on another base model: {name} is {width} wide, which no layer of {base_name} is ({', '.join(str(w) for w in sorted(widths))}).")  # fmt: skip


def _stamp(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(f"{path} cannot be read (damaged?); copy the hand-off folder back again.") from None  # fmt: skip
    if not isinstance(value, dict):
        raise UserError(
            f"{path} is not what train handoff wrote; copy the hand-off folder back again."
        )
    return value


def _differences(a: dict[str, Any], b: dict[str, Any]) -> str:
    return ", ".join(f"{k} {a.get(k)} there, {b.get(k)} here" for k in FINGERPRINT_KEYS if a.get(k) != b.get(k))  # fmt: skip


def import_result(services: Services, folder: Path | str, run_id: str, *, ctx: Any = None) -> dict[str, Any]:  # fmt: skip
    """Add the cluster's adapter as a new run and library entry; see the module docstring."""
    from engine.training.export_gguf import base_folder_of

    folder = Path(folder).expanduser().absolute()
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder; give the hand-off folder copied back from the cluster.")  # fmt: skip
    store = RunStore(services)
    run = store.get(run_id)
    stamps = [_stamp(f) for f in (folder / "hearth_handoff.json", folder / "output" / "hearth_result.json") if f.is_file()]  # fmt: skip
    if not stamps:
        raise UserError(f"{folder} is not a hand-off folder of Hearth (it has no hearth_handoff.json); give the folder `train handoff` wrote, copied back with its output.")  # fmt: skip
    for stamp in stamps:
        from_run = (stamp.get("run") or {}).get("id") or stamp.get("run_id")
        if from_run and from_run != run["id"]:
            raise UserError(f"{folder} was handed off from run {from_run}, not {run['id']}; import it with --run {from_run}.")  # fmt: skip
    adapter = find_adapter(folder)
    model = services.library.get(run["model_id"])
    base_config = json.loads((base_folder_of(services, model) / "config.json").read_text(encoding="utf-8"))  # fmt: skip
    for stamp in stamps:
        shape = (stamp.get("base") or {}).get("fingerprint") or stamp.get("base_fingerprint")
        if shape and shape != fingerprint(base_config):
            raise UserError(f"{folder} was trained on another base model than {model['name']} (its shape differs: {_differences(shape, fingerprint(base_config))}).")  # fmt: skip
    check_fits(adapter, base_config, model["name"])
    losses = []
    if (adapter.parent / "losses.jsonl").is_file():
        losses = [json.loads(line) for line in (adapter.parent / "losses.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]  # fmt: skip
    copied = ("model_id", "model_name", "model_format", "dataset", "data", "options", "method",
              "objective", "preset", "template", "targets", "trainable_params", "total_params")  # fmt: skip
    keep = {k: run[k] for k in copied if k in run}
    made = store.create({**keep, "name": f"{run['name']} (cluster)", "state": "succeeded",
                         "source": {"cluster": str(folder), "from_run": run["id"]},
                         "step": len(losses), "total_steps": len(losses) or None,
                         "summary": {"steps": len(losses), "first_loss": losses[0]["loss"] if losses else None,
                                     "final_loss": losses[-1]["loss"] if losses else None}})  # fmt: skip
    try:
        shutil.copytree(adapter, store.folder(made["id"]) / "adapter")
    except OSError as exc:
        store.delete(made["id"])
        raise UserError(describe_os_error(exc, "copying the adapter into the run")) from exc
    for row in losses:
        store.append_jsonl(made["id"], "metrics.jsonl", row)
    store.set_artifact(made["id"], "adapter", store.folder(made["id"]) / "adapter")
    atomic_write_text(
        store.folder(made["id"]) / "cluster.json", json.dumps({"folder": str(folder)})
    )
    return store.get(made["id"])
