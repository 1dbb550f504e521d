"""GGUF export of a run: the adapter as a GGUF LoRA, the merged model as GGUF f32/f16/q8_0.

Written with the ``gguf`` package (``GGUFWriter``, ``TensorNameMap`` for the tensor names, its
Q8_0 quantizer), not with llama.cpp's conversion scripts.

- Tensor names: Hugging Face names are mapped to llama.cpp's (``blk.N.attn_q.weight``...) by
  ``gguf.TensorNameMap`` of the architecture. Two layout differences are undone on the way, the
  same two transformers applies when it loads a GGUF: llama's q/k rows are permuted for
  llama.cpp's rotary layout, and Gemma stores its RMSNorm weights as ``1 + w``.
- Metadata: when the base model came from a GGUF (the bundled Gemma), every key of that GGUF is
  copied -- hyperparameters and tokenizer exactly as llama.cpp expects them -- and the tensors
  are checked one by one against the base's names and shapes. A base that is a Hugging Face
  folder gets its hyperparameters from config.json and its vocabulary from tokenizer.json
  (byte-level BPE tokenizers: Llama 3, Qwen, GPT-2 style).
- The chat template the run was trained with goes into ``tokenizer.chat_template``, and the
  token that ended each answer in training into ``tokenizer.ggml.eot_token_id``, so llama.cpp
  stops where the tuned model learned to stop.
- A LoRA adapter GGUF holds ``<base tensor>.lora_a`` (r x in) and ``.lora_b`` (out x r) with
  ``adapter.lora.alpha``; llama.cpp scales it by alpha / r, as peft does. DoRA adapters cannot be
  expressed that way: export the merged model instead.

Files are written under a temp name and renamed; exported models are registered in the library so
"chat with this model" opens them in the llama.cpp runtime. An exported adapter is registered as a
library entry of role ``adapter`` linked to its base GGUF: the base model itself when it is a GGUF
(the bundled Gemma), else ``gguf/base-f16.gguf``, exported once per run and registered too. The
adapter's entry chats with the template the run was trained with. Re-exporting refreshes the same
entries (same ids).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.core.paths import describe_os_error

if TYPE_CHECKING:
    from engine.services import Services

QUANTS = ("f32", "f16", "q8_0")
WHAT = ("adapter", "merged")
# metadata keys not copied from the base GGUF (set anew, or owned by the writer)
_NOT_COPIED = ("general.architecture", "general.file_type", "general.quantization_version",
               "general.name", "tokenizer.chat_template", "tokenizer.ggml.eot_token_id")  # fmt: skip


@dataclass(frozen=True)
class Arch:
    name: str  # general.architecture
    permute_qk: bool  # llama: HF rotary layout -> llama.cpp's
    norm_shift: float  # gemma: RMSNorm stored as 1 + w


_ARCHS = {
    "llama": Arch("llama", True, 0.0),
    "mistral": Arch("llama", True, 0.0),
    "qwen2": Arch("qwen2", False, 0.0),
    "qwen3": Arch("qwen3", False, 0.0),
    "gemma3": Arch("gemma3", False, 1.0),
    "gemma3_text": Arch("gemma3", False, 1.0),
}


def arch_for(config: dict[str, Any]) -> Arch:
    model_type = (config.get("text_config") or {}).get("model_type") or config.get("model_type")
    if model_type not in _ARCHS:
        raise UserError(
            f"GGUF export supports Llama, Mistral, Qwen 2/3 and Gemma 3 models, not {model_type!r}; "
            "chat with the merged model in the transformers runtime instead."
        )
    return _ARCHS[model_type]


def _text_config(config: dict[str, Any]) -> dict[str, Any]:
    return config.get("text_config") or config


def name_map(arch: Arch, blocks: int) -> Any:
    import gguf

    by_name = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}
    return gguf.TensorNameMap(by_name[arch.name], blocks)


def gguf_name(names: Any, hf_name: str) -> str | None:
    hf_name = hf_name.replace("model.language_model.", "model.")
    return names.get_name(hf_name, try_suffixes=(".weight", ".bias"))


def permute(w: Any, n_head: int, n_kv: int | None = None) -> Any:
    """llama.cpp's rotary layout of q/k rows (inverse of transformers' ``_reverse_permute``)."""
    if n_kv is not None and n_head != n_kv:
        n_head = n_kv
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def _transform(arch: Arch, config: dict[str, Any], gname: str, data: Any, *, lora_b: bool = False) -> Any:  # fmt: skip
    text = _text_config(config)
    if arch.permute_qk and (".attn_q." in gname or ".attn_k." in gname):
        heads = int(text["num_attention_heads"])
        kv = int(text.get("num_key_value_heads") or heads)
        data = permute(data, heads, heads if ".attn_q." in gname else kv)
    if arch.norm_shift and not lora_b and gname.endswith("norm.weight"):
        data = data + arch.norm_shift
    return data


def _encode(data: Any, quant: str) -> tuple[Any, Any]:
    """(array to write, ggml type or None for the array's own dtype)."""
    import numpy as np
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    data = np.ascontiguousarray(data, dtype=np.float32)
    if data.ndim < 2 or quant == "f32":
        return data, None
    if quant == "q8_0" and data.shape[-1] % 32 == 0:
        return quantize(data, GGMLQuantizationType.Q8_0), GGMLQuantizationType.Q8_0
    return data.astype(np.float16), None


def _file_type(quant: str) -> int:
    from gguf import LlamaFileType

    return {"f32": LlamaFileType.ALL_F32, "f16": LlamaFileType.MOSTLY_F16,
            "q8_0": LlamaFileType.MOSTLY_Q8_0}[quant]  # fmt: skip


def _weights(folder: Path) -> list[tuple[Path, str]]:
    """(file, name) of every weight in a safetensors folder."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise UserError(f"{folder} holds no safetensors weights.")
    out = []
    for file in files:
        with safe_open(str(file), framework="pt") as fh:
            out += [(file, key) for key in fh.keys()]  # noqa: SIM118 -- no __iter__
    return out


def _load(file: Path, key: str) -> Any:
    """One weight as a float32 numpy array (bf16/f16 upcast)."""
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as fh:
        return fh.get_tensor(key).float().numpy()


# -- metadata ------------------------------------------------------------------------------
def copy_metadata(writer: Any, base: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[tuple[int, ...], Any]]:  # fmt: skip
    """Copy the base GGUF's keys (but ``skip``) into ``writer``; returns its tensors {name: (shape, type)}."""
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(str(base))
    for key, f in reader.fields.items():
        if key.startswith("GGUF.") or key in _NOT_COPIED or key in skip:
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(key, f.contents(), vtype, sub_type=sub)
    return {
        t.name: (tuple(int(x) for x in reversed(t.shape)), t.tensor_type) for t in reader.tensors
    }


def _rope_theta(text: dict[str, Any]) -> float | None:
    params = text.get("rope_parameters") or {}
    if "full_attention" in params:
        params = params["full_attention"]
    value = params.get("rope_theta") or text.get("rope_theta")
    return float(value) if value else None


def write_hparams(writer: Any, arch: Arch, config: dict[str, Any]) -> None:
    text = _text_config(config)
    heads = int(text["num_attention_heads"])
    hidden = int(text["hidden_size"])
    head_dim = int(text.get("head_dim") or hidden // heads)
    writer.add_context_length(int(text.get("max_position_embeddings") or 4096))
    writer.add_embedding_length(hidden)
    writer.add_block_count(int(text["num_hidden_layers"]))
    writer.add_feed_forward_length(int(text["intermediate_size"]))
    writer.add_head_count(heads)
    writer.add_head_count_kv(int(text.get("num_key_value_heads") or heads))
    writer.add_layer_norm_rms_eps(float(text.get("rms_norm_eps") or 1e-6))
    theta = _rope_theta(text)
    if theta:
        writer.add_rope_freq_base(theta)
    if arch.name == "llama":
        writer.add_rope_dimension_count(head_dim)
        writer.add_vocab_size(int(text["vocab_size"]))
    if arch.name in ("qwen3", "gemma3") or head_dim != hidden // heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    if arch.name == "gemma3":
        writer.add_sliding_window(int(text.get("sliding_window") or 512))
        local = (text.get("rope_parameters") or {}).get("sliding_attention") or {}
        if local.get("rope_theta") or text.get("rope_local_base_freq"):
            writer.add_rope_freq_base_swa(
                float(local.get("rope_theta") or text["rope_local_base_freq"])
            )
        if text.get("final_logit_softcapping"):
            writer.add_final_logit_softcapping(float(text["final_logit_softcapping"]))


def write_layer_pattern(writer: Any, arch: Arch, config: dict[str, Any]) -> None:
    """Gemma 3: which layers use the sliding window, one flag a layer. llama.cpp otherwise
    assumes every sixth layer global, which a depth-pruned model no longer follows."""
    types = _text_config(config).get("layer_types")
    if arch.name == "gemma3" and types:
        writer.add_array(f"{arch.name}.attention.sliding_window_pattern", [t == "sliding_attention" for t in types])  # fmt: skip


def _byte_level(node: Any) -> bool:
    if isinstance(node, dict):
        if node.get("type") == "ByteLevel":
            return True
        return any(_byte_level(v) for v in node.values())
    if isinstance(node, list):
        return any(_byte_level(v) for v in node)
    return False


def _pre_tokenizer(tj: dict[str, Any], config: dict[str, Any]) -> str:
    pre = tj.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"  # llama.cpp's name for GPT-2's pre-tokenizer regex
    model_type = _text_config(config).get("model_type")
    if model_type in ("qwen2", "qwen3"):
        return "qwen2"
    if model_type == "llama" and int(_text_config(config).get("vocab_size", 0)) >= 128000:
        return "llama-bpe"
    return "default"


def write_tokenizer(writer: Any, folder: Path, config: dict[str, Any], tokenizer: Any) -> None:
    """A byte-level BPE vocabulary from tokenizer.json (llama.cpp's "gpt2" tokenizer model)."""
    import gguf

    path = folder / "tokenizer.json"
    try:
        tj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"GGUF export needs the model's tokenizer.json ({exc}).") from exc
    model = tj.get("model") or {}
    if model.get("type") != "BPE" or not _byte_level(tj):
        raise UserError(
            "GGUF export from a Hugging Face folder supports byte-level BPE tokenizers (Llama 3, "
            "Qwen, GPT-2 style); this model's tokenizer is not one. Import the model as a GGUF "
            "first and train that, or chat with the merged model in the transformers runtime."
        )
    vocab_size = int(_text_config(config)["vocab_size"])
    ids: dict[int, tuple[str, int]] = {
        int(i): (tok, gguf.TokenType.NORMAL) for tok, i in model["vocab"].items()
    }
    for added in tj.get("added_tokens") or []:
        kind = gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
        ids[int(added["id"])] = (added["content"], kind)
    size = max(vocab_size, max(ids) + 1)
    tokens, types = [], []
    for i in range(size):
        tok, kind = ids.get(i, (f"[PAD{i}]", gguf.TokenType.UNUSED))
        tokens.append(tok)
        types.append(kind)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer(tj, config))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for key, value in (("bos", tokenizer.bos_token_id), ("eos", tokenizer.eos_token_id),
                       ("pad", tokenizer.pad_token_id), ("unk", tokenizer.unk_token_id)):  # fmt: skip
        if value is not None:
            getattr(writer, f"add_{key}_token_id")(int(value))
    probe = tokenizer("a").input_ids
    writer.add_add_bos_token(bool(probe) and probe[0] == tokenizer.bos_token_id)
    writer.add_add_eos_token(False)


@contextlib.contextmanager
def _gguf_file(out: Path, arch_name: str) -> Iterator[Any]:
    """A ``GGUFWriter`` on a temporary file next to ``out``: the block adds metadata and
    tensors; a normal exit writes, fsyncs and renames it to ``out``; any exit removes the temp
    file; an OSError (a full disk) becomes a UserError naming the file."""
    import gguf

    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    writer = gguf.GGUFWriter(str(tmp), arch_name)
    try:
        yield writer
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        raise UserError(describe_os_error(exc, f"writing {out.name}")) from exc
    finally:
        with contextlib.suppress(Exception):
            writer.close()
        tmp.unlink(missing_ok=True)


# -- merged model --------------------------------------------------------------------------
def export_model(
    folder: Path,
    out: Path,
    *,
    quant: str,
    base_gguf: Path | None = None,
    chat_template: str | None = None,
    end_of_turn: str | None = None,
    name: str | None = None,
    progress: Any = None,
    reshaped: bool = False,
    lineage: dict[str, Any] | None = None,
) -> Path:
    """A Hugging Face safetensors folder as a GGUF model file at ``out``. ``reshaped``: the
    folder is a pruned descendant of ``base_gguf`` (fewer blocks or a narrower MLP)."""
    import gguf
    from transformers import AutoTokenizer

    if quant not in QUANTS:
        raise UserError(f"quant must be one of {', '.join(QUANTS)}, not {quant!r}.")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    arch = arch_for(config)
    text = _text_config(config)
    names = name_map(arch, int(text["num_hidden_layers"]))
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _gguf_file(out, arch.name) as writer:
        if base_gguf is not None and reshaped:
            # a pruned descendant of the base: its tokenizer and hyperparameters, but the block
            # count and MLP width of this model; tensor shapes differ from the base by design
            prefix = arch.name
            copy_metadata(writer, base_gguf, skip=(f"{prefix}.block_count", f"{prefix}.feed_forward_length",
                                                   f"{prefix}.attention.sliding_window_pattern"))  # fmt: skip
            writer.add_block_count(int(text["num_hidden_layers"]))
            writer.add_feed_forward_length(int(text["intermediate_size"]))
            write_layer_pattern(writer, arch, config)
            expected = None
        elif base_gguf is not None:
            expected = copy_metadata(writer, base_gguf)
        else:
            expected = None
            write_hparams(writer, arch, config)
            write_layer_pattern(writer, arch, config)
            write_tokenizer(writer, folder, config, tokenizer)
        writer.add_name(name or "Hearth export")
        if lineage:
            writer.add_string("hearth.lineage", json.dumps(lineage))
        writer.add_file_type(_file_type(quant))
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        if chat_template:
            writer.add_chat_template(chat_template)
        eot = tokenizer.convert_tokens_to_ids(end_of_turn) if end_of_turn else None
        if isinstance(eot, int) and eot != tokenizer.unk_token_id:
            writer.add_eot_token_id(eot)
        tied = bool(config.get("tie_word_embeddings", text.get("tie_word_embeddings", False)))
        written: set[str] = set()
        tensors = _weights(folder)
        for i, (file, hf) in enumerate(tensors):
            gname = gguf_name(names, hf)
            if gname is None:
                if "rotary_emb" in hf:
                    continue
                raise UserError(f"GGUF export does not know where the weight {hf} goes.")
            if gname == "output.weight" and tied and (expected is None or gname not in expected):
                continue
            data = _transform(arch, config, gname, _load(file, hf))
            if expected is not None:
                if gname not in expected:
                    raise UserError(f"The base GGUF has no tensor {gname}; it does not match this model.")  # fmt: skip
                if expected[gname][0] != tuple(data.shape):
                    raise UserError(f"{gname} is {tuple(data.shape)} here but {expected[gname][0]} in the base GGUF.")  # fmt: skip
            array, raw = _encode(data, quant)
            writer.add_tensor(gname, array, raw_dtype=raw)
            written.add(gname)
            if progress is not None:
                progress((i + 1) / len(tensors))
        if expected is not None and set(expected) - written:
            missing = sorted(set(expected) - written)
            raise UserError(f"The export lacks {len(missing)} tensors of the base GGUF ({', '.join(missing[:3])}...).")  # fmt: skip
    return out


# -- adapter -------------------------------------------------------------------------------
def export_adapter(adapter: Path, out: Path, *, config: dict[str, Any], dtype: str = "f32") -> Path:
    """A peft LoRA adapter folder as a llama.cpp LoRA GGUF."""
    import gguf
    import numpy as np
    from safetensors import safe_open

    acfg = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    if acfg.get("use_dora"):
        raise UserError(
            "llama.cpp cannot load DoRA adapters; export the merged model as GGUF instead."
        )
    r = int(acfg["r"])
    alpha = float(acfg.get("lora_alpha") or r)
    if acfg.get("use_rslora"):
        alpha *= math.sqrt(r)  # rsLoRA scales by alpha / sqrt(r); llama.cpp by alpha / r
    arch = arch_for(config)
    names = name_map(arch, int(_text_config(config)["num_hidden_layers"]))
    pairs: dict[str, dict[str, Any]] = {}
    with safe_open(str(adapter / "adapter_model.safetensors"), framework="pt") as fh:
        for key in fh.keys():  # noqa: SIM118
            if ".lora_A." not in key and ".lora_B." not in key:
                raise UserError(f"The adapter holds {key}, which a GGUF LoRA cannot carry.")
            module, part = (key.split(".lora_A.")[0], "a") if ".lora_A." in key else (key.split(".lora_B.")[0], "b")  # fmt: skip
            module = module.removeprefix("base_model.model.")
            pairs.setdefault(module, {})[part] = fh.get_tensor(key).float().numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    with _gguf_file(out, arch.name) as writer:
        writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        for module, parts in sorted(pairs.items()):
            gname = gguf_name(names, module + ".weight")
            if gname is None or set(parts) != {"a", "b"}:
                raise UserError(f"The adapter's layer {module} has no llama.cpp counterpart.")
            a = parts["a"]  # (r, in)
            b = _transform(arch, config, gname, parts["b"], lora_b=True)  # (out, r)
            cast = np.float16 if dtype == "f16" else np.float32
            writer.add_tensor(f"{gname}.lora_a", np.ascontiguousarray(a, dtype=cast))
            writer.add_tensor(f"{gname}.lora_b", np.ascontiguousarray(b, dtype=cast))
    return out


# -- a run's exports (the train.export job) ------------------------------------------------
def _complete_gguf(path: Path) -> bool:
    from engine.models.gguf_meta import read_gguf

    if not path.is_file():
        return False
    try:
        read_gguf(path)
    except UserError:
        return False
    return True


def register_entry(services: Services, path: Path, name: str, *, template: dict[str, Any],
              base_model_id: str | None = None) -> str:  # fmt: skip
    """Add (or refresh, keeping its id) an exported GGUF in the library, with the run's template.

    A template that was the model's own travels as the entry's chat template; a named one (such as
    the plain transcript the bundled Gemma is trained with) is set as the entry's template setting,
    which also brings its stop strings to Chat.
    """
    import contextlib

    from engine.runtimes.settings import ModelSettings

    own = template.get("source") if template.get("name") == "model" else None
    entry = services.library.register_file(path, name=name, base_model_id=base_model_id,
                                           chat_template=own)  # fmt: skip
    if template.get("name") and template["name"] != "model":
        with contextlib.suppress(UserError):
            ModelSettings(services).update(entry["id"], {"template": template["name"]})
    return entry["id"]


def base_gguf_of(model: dict[str, Any]) -> Path | None:
    return Path(model["path"]) if model["format"] == "gguf" and not model.get("missing") else None


def base_folder_of(services: Services, model: dict[str, Any]) -> Path:
    """The torch folder of a run's base model (the GGUF's converted cache)."""
    from engine.models import gguf_to_torch

    if model["format"] == "hf":
        return Path(model["path"])
    return Path(gguf_to_torch.convert(model["id"], services)["torch_path"])


def export_run(
    services: Services, run_id: str, *, what: str, quant: str, ctx: Any
) -> dict[str, Any]:
    from engine.training.merge import register
    from engine.training.runs import RunStore

    if what not in WHAT:
        raise UserError(f"Export what must be adapter or merged, not {what!r}.")
    if quant not in QUANTS:
        raise UserError(f"quant must be one of {', '.join(QUANTS)}, not {quant!r}.")
    store = RunStore(services)
    run = store.get(run_id)
    model = services.library.get(run["model_id"])
    template = run.get("template") or {}
    out_dir = store.folder(run_id) / "gguf"
    base_gguf = base_gguf_of(model)
    if what == "adapter":
        adapter = (run.get("artifacts") or {}).get("adapter")
        if not adapter:
            raise UserError(f"Run {run_id} has no adapter to export (full fine-tuning makes a whole model; export it merged).")  # fmt: skip
        ctx.progress(0.1, "Writing the LoRA adapter as GGUF")
        folder = base_folder_of(services, model)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        path = export_adapter(Path(adapter), out_dir / "adapter.gguf", config=config)
        result: dict[str, Any] = {"path": str(path), "run_id": run_id, "what": "adapter"}
        base_model_id = model["id"]
        if base_gguf is None:  # llama.cpp needs the base as GGUF too: export it once per run
            base_out = out_dir / "base-f16.gguf"
            if not _complete_gguf(base_out):
                ctx.progress(0.4, "Writing the base model as GGUF (llama.cpp needs it for the adapter)")  # fmt: skip
                export_model(folder, base_out, quant="f16", chat_template=template.get("source"),
                             end_of_turn=template.get("end_of_turn"), name=f"{model['name']} (base)",
                             progress=lambda f: ctx.progress(0.4 + 0.55 * f, "Writing the base model as GGUF"))  # fmt: skip
            base_gguf = base_out
            base_model_id = register_entry(services, base_out, f"{model['name']} (base, GGUF f16)",
                                      template=template)  # fmt: skip
            store.set_artifact(run_id, "gguf_adapter_base", base_gguf, model_id=base_model_id)
        else:
            store.set_artifact(run_id, "gguf_adapter_base", base_gguf)
        ctx.progress(0.97, "Adding the adapter to the library")
        model_id = register_entry(services, path, f"{run['name']} (LoRA)", template=template,
                             base_model_id=base_model_id)  # fmt: skip
        store.set_artifact(run_id, "gguf_adapter", path, model_id=model_id)
        result.update(base_path=str(base_gguf), base_model_id=base_model_id, model_id=model_id)
        ctx.progress(1.0, "Exported the adapter")
        return result
    from engine.training.merge import merged_model

    artifacts = run.get("artifacts") or {}
    folder = (
        Path(artifacts["merged"])
        if artifacts.get("merged") and Path(artifacts["merged"]).is_dir()
        else None
    )
    if folder is None:
        ctx.progress(0.05, "Merging the adapter into the base model")
        lm, tok = merged_model(services, run, ctx=ctx)
        folder = store.folder(run_id) / f".merge-for-gguf-{os.getpid()}"
        lm.save_pretrained(folder)
        tok.save_pretrained(folder)
        del lm
    try:
        ctx.check_cancelled()
        out = out_dir / f"model-{quant}.gguf"
        ctx.progress(0.3, f"Writing the merged model as GGUF {quant}")
        export_model(folder, out, quant=quant, base_gguf=base_gguf,
                     chat_template=template.get("source"), end_of_turn=template.get("end_of_turn"),
                     name=f"{run['name']} ({quant})",
                     progress=lambda f: ctx.progress(0.3 + 0.6 * f, f"Writing the merged model as GGUF {quant}"))  # fmt: skip
    finally:
        if folder.name.startswith(".merge-for-gguf-"):
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    ctx.progress(0.95, "Adding the GGUF model to the library")
    model_id = register(services, out, f"{run['name']} ({quant} GGUF)", template=template)
    store.set_artifact(run_id, f"gguf_{quant}", out, model_id=model_id)
    ctx.progress(1.0, f"Exported {out.name}")
    return {
        "path": str(out),
        "model_id": model_id,
        "run_id": run_id,
        "what": "merged",
        "quant": quant,
    }
