"""Memory planner: the peak memory a training configuration needs, before it starts.

    total = runtime + weights + trainable state + activations + logits

- runtime: what torch, transformers and peft take once imported and the tokenizer loaded (CPU),
  or the CUDA context.
- weights: every parameter at the load precision (QLoRA: 4-bit linear layers, 16-bit the rest).
- trainable state: LoRA matrices (or every weight for full tuning) in fp32 with their gradients
  and AdamW's two moments: 16 bytes per trainable parameter.
- activations: what autograd keeps for the backward pass, per token and layer, counted from the
  shapes of a transformer block (hidden size H, attention width, MLP width I, the LoRA inputs and
  dropout masks), times batch x sequence length, times what the allocator adds on top; with
  gradient checkpointing only each block's input is kept, plus one block recomputed at a time.
  (torch's attention kernels on CPU and CUDA do not keep the T x T scores.)
- logits: one chunk of rows x vocabulary of the fused loss (``engine.training.loss``).

The constants were fitted to peak RSS measured on CPU: ``benchmarks/bench_planner.py`` runs
every preset on the bundled model against its estimate (target: within 25%), and
tests/engine/training/test_planner.py checks a tiny Llama's measured run within 35%. ``plan`` compares the total with the
memory the device has free and answers ok / warn / refuse with the changes that would fit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.training.config import TrainOptions

if TYPE_CHECKING:
    from engine.services import Services

MB = 1 << 20
RUNTIME_CPU = 400 * MB  # torch + transformers + peft imported
# a loaded fast tokenizer per vocabulary entry (Gemma 3's 262,144 entries: +322 MB measured)
TOKENIZER_BYTES_PER_ENTRY = 1280
CUDA_CONTEXT = 600 * MB
WARN_FRACTION = 0.85
# Floats autograd keeps per token and block (measured with saved-tensor hooks on Llama-style
# blocks): hidden-width, attention-width (q + k/v) and MLP-width tensors; LoRA dropout adds its
# copies and masks of the adapter inputs.
K_HIDDEN, K_ATTN, K_MLP = 4.0, 2.5, 4.2
K_DROP_HIDDEN, K_DROP_ATTN, K_DROP_MLP = 7.0, 3.0, 1.0
# Peak RSS / saved bytes: glibc keeps freed activation-sized blocks mapped (its adaptive mmap
# threshold), and the backward pass holds gradients beside what autograd saved, so on CPU the
# high-water mark is well above what autograd holds: 1.7x fits the bundled Gemma 3 270M's presets
# (benchmarks/bench_planner.py: within 8%; 512 to 4,096 tokens a micro-batch within 14%) and a
# tiny Llama (the test). CUDA's caching allocator wastes less.
ALLOC_CPU, ALLOC_CUDA = 1.7, 1.25


@dataclass(frozen=True)
class Shape:
    """The sizes of a decoder-only transformer that decide its memory."""

    params: int
    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int

    @property
    def attn_width(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.kv_heads * self.head_dim

    def target_dims(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each usual projection."""
        h, a, kv, i = self.hidden, self.attn_width, self.kv_width, self.intermediate
        return {"q_proj": (h, a), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (a, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}  # fmt: skip


def shape_from_config(config: dict[str, Any], params: int | None = None) -> Shape:
    text = config.get("text_config") or config
    hidden = int(text["hidden_size"])
    heads = int(text.get("num_attention_heads") or 1)
    kv = int(text.get("num_key_value_heads") or heads)
    head_dim = int(text.get("head_dim") or hidden // heads)
    layers = int(text.get("num_hidden_layers") or 1)
    inter = int(text.get("intermediate_size") or 4 * hidden)
    vocab = int(text.get("vocab_size") or 32000)
    if not params:
        per_layer = (
            hidden * (heads + 2 * kv) * head_dim + heads * head_dim * hidden + 3 * hidden * inter
        )
        tied = bool(config.get("tie_word_embeddings", text.get("tie_word_embeddings", True)))
        params = layers * per_layer + vocab * hidden * (1 if tied else 2)
    return Shape(int(params), hidden, layers, inter, heads, kv, head_dim, vocab)


def model_shape(services: Services, model: dict[str, Any]) -> Shape:
    """The shape of a library model from its config.json, or its GGUF header."""
    folder = None
    if model["format"] == "hf":
        folder = Path(model["path"])
    elif model.get("torch_path"):
        folder = Path(model["torch_path"])
    if folder is not None and (folder / "config.json").is_file():
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return shape_from_config(config, model.get("params"))
    from engine.models.gguf_meta import read_header

    header = read_header(model["path"])
    f = header.fields
    arch = f.get("general.architecture") or "llama"
    hidden = int(f.get(f"{arch}.embedding_length") or 0)
    heads = int(f.get(f"{arch}.attention.head_count") or 1)
    head_dim = int(f.get(f"{arch}.attention.key_length") or (hidden // heads if hidden else 64))
    vocab = header.array_lengths.get("tokenizer.ggml.tokens") or 32000
    return Shape(
        params=int(model.get("params") or sum(t[2] for t in header.tensors)),
        hidden=hidden,
        layers=int(f.get(f"{arch}.block_count") or 1),
        intermediate=int(f.get(f"{arch}.feed_forward_length") or 4 * hidden),
        heads=heads,
        kv_heads=int(f.get(f"{arch}.attention.head_count_kv") or heads),
        head_dim=head_dim,
        vocab=int(vocab),
    )


def _bytes_of(precision: str) -> int:
    return 4 if precision == "fp32" else 2


def estimate(shape: Shape, opts: TrainOptions, *, device: str = "cpu", precision: str = "fp32",
             fused_loss: bool = True) -> dict[str, int]:  # fmt: skip
    """Peak bytes by part for ``shape`` trained with ``opts`` (see the module docstring)."""
    b = _bytes_of(precision)
    # DPO and ORPO put both replies of each pair through a pass
    prompt = opts.method == "prompt"  # its virtual tokens go through every block too
    seq = opts.seq_len + (opts.virtual_tokens if prompt else 0)
    tokens = opts.batch_size * seq * (2 if opts.on_pairs else 1)
    lora = opts.method not in ("full", "prompt")
    dims = shape.target_dims()
    targets = opts.target_modules or list(dims)
    lora_params = 0
    if lora:
        for name in targets:
            fan_in, fan_out = dims.get(name, (shape.hidden, shape.hidden))
            lora_params += opts.rank * (fan_in + fan_out) * shape.layers
    if opts.method == "qlora":
        linear = shape.layers * sum(i * o for i, o in dims.values())
        weights = int(linear * 0.56 + (shape.params - linear) * 2)
    else:
        weights = shape.params * b
    trainable = (lora_params if lora else shape.params) * (16 if lora else 12)
    if prompt:  # the virtual tokens' table with its gradient and two Adam moments
        trainable = opts.virtual_tokens * shape.hidden * 16
    if opts.method == "dora":  # the magnitude vectors, and one full weight norm at a time
        trainable += sum(o for _i, o in dims.values()) * shape.layers * 16
        trainable += max(i * o for i, o in dims.values()) * 4 * 2
    h, a, kv, inter = shape.hidden, shape.attn_width, shape.kv_width, shape.intermediate
    per_token = K_HIDDEN * h + K_ATTN * (a + kv) + K_MLP * inter  # floats per token and block
    if lora and opts.dropout > 0:
        per_token += K_DROP_HIDDEN * h + K_DROP_ATTN * a + K_DROP_MLP * inter
    alloc = ALLOC_CUDA if device == "cuda" else ALLOC_CPU
    block = per_token * tokens * b * alloc
    if opts.gradient_checkpointing:  # each block's input, plus one block recomputed at a time
        activations = shape.layers * h * tokens * b * alloc + block
    else:
        activations = shape.layers * block
    embed = 2 * h * tokens * b
    if fused_loss:  # one chunk of logits (and its softmax, in place) at a time
        rows = max(16, min(8192, (1 << 25) // max(shape.vocab, 1)))
        logits = min(rows, tokens) * shape.vocab * 4 * 1.25 + tokens * h * 4 * 2
    else:  # logits, log-softmax and their gradient for every token
        logits = tokens * shape.vocab * 4 * 3
    tokenizer = shape.vocab * TOKENIZER_BYTES_PER_ENTRY  # in the process's RAM, not the GPU's
    runtime = CUDA_CONTEXT if device == "cuda" else RUNTIME_CPU + tokenizer
    parts = {"runtime": runtime, "weights": int(weights), "trainable_state": int(trainable),
             "activations": int(activations + embed), "logits": int(logits)}  # fmt: skip
    parts["total"] = int(sum(parts.values()) * 1.05)  # allocator slack
    return parts


def available(device: str) -> int:
    """Bytes the training process can use on ``device`` (free RAM for CPU and MPS)."""
    if device == "cuda":
        from engine.core.devices import devices

        for d in devices():
            if d["type"] == "cuda":
                return int(d["memory_free_bytes"] or d["memory_total_bytes"] or 0)
    from engine.core.devices import ram

    return int(ram()["available_bytes"])


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def plan(services: Services, model: dict[str, Any], opts: TrainOptions, *, free: int | None = None) -> dict[str, Any]:  # fmt: skip
    """The estimate for a library model, the verdict on this machine, and what would fit."""
    from engine.training.modeling import pick_device

    device = pick_device(opts.device)
    precision = (
        opts.precision if opts.precision != "auto" else ("bf16" if device == "cuda" else "fp32")
    )
    shape = model_shape(services, model)
    parts = estimate(shape, opts, device=device, precision=precision)
    room = available(device) if free is None else free
    total = parts["total"]
    verdict = "ok" if total <= WARN_FRACTION * room else ("warn" if total <= room else "refuse")
    suggestions = []
    if verdict != "ok":
        for label, changed in _alternatives(opts, device):
            need = estimate(shape, changed, device=device, precision=precision)["total"]
            if need < total:
                values = {f: getattr(changed, f) for f in _CHANGEABLE
                          if getattr(changed, f) != getattr(opts, f)}  # fmt: skip
                suggestions.append({"change": label, "values": values, "total_bytes": need,
                                    "fits": need <= WARN_FRACTION * room})  # fmt: skip
        suggestions.sort(key=lambda s: (not s["fits"], s["total_bytes"]))
    where = "GPU memory" if device == "cuda" else "free memory"
    if verdict == "ok":
        message = f"Needs about {_gb(total)} of {_gb(room)} {where}."
    else:
        fitting = [s["change"] for s in suggestions if s["fits"]][:3]
        advice = (
            ("; ".join(fitting) + " would fit")
            if fitting
            else "no single change fits; use a smaller model"
        )
        head = "will not fit" if verdict == "refuse" else "is close to the limit"
        message = f"This configuration needs about {_gb(total)} and {head} ({_gb(room)} {where}): {advice}."  # fmt: skip
    return {"verdict": verdict, "fits": verdict != "refuse", "device": device,
            "precision": precision, "total_bytes": total, "available_bytes": room,
            "parts": parts, "message": message, "suggestions": suggestions,
            "shape": shape.__dict__}  # fmt: skip


_CHANGEABLE = ("gradient_checkpointing", "batch_size", "gradient_accumulation", "seq_len", "method")
# the options ``_alternatives`` changes; a suggestion's ``values`` are those that differ


def _alternatives(opts: TrainOptions, device: str) -> list[tuple[str, TrainOptions]]:
    out = []
    if not opts.gradient_checkpointing:
        out.append(("turn on gradient_checkpointing", replace(opts, gradient_checkpointing=True)))
    if opts.batch_size > 1:
        half = max(1, opts.batch_size // 2)
        out.append((f"batch_size {half} with gradient_accumulation {opts.gradient_accumulation * 2}",
                    replace(opts, batch_size=half, gradient_accumulation=opts.gradient_accumulation * 2)))  # fmt: skip
    if opts.seq_len > 128:
        out.append((f"seq_len {opts.seq_len // 2}", replace(opts, seq_len=opts.seq_len // 2)))
    if opts.method == "full":
        out.append(("method lora", replace(opts, method="lora")))
    if opts.method in ("lora", "dora", "full") and device == "cuda":
        out.append(("method qlora", replace(opts, method="qlora")))
    both = replace(opts, gradient_checkpointing=True, batch_size=1,
                   gradient_accumulation=opts.gradient_accumulation * opts.batch_size)  # fmt: skip
    out.append(("gradient_checkpointing with batch_size 1", both))
    return out
