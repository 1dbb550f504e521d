"""Metadata of a Hugging Face model folder (config.json + safetensors), read without loading it.

Reads ``config.json`` for the architecture, context length and dtype/quantization, the JSON header
of every ``*.safetensors`` file for the parameter count (no torch needed; a sharded checkpoint's
``model.safetensors.index.json`` names its shards), and the tokenizer config for a chat template.
A sentence-transformers folder (``modules.json``) is an embedding model. Folders Hearth cannot
load safely -- no config, pickle-only weights, a truncated shard -- raise ``UserError`` saying what
to do instead.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections import Counter
from pathlib import Path
from typing import Any

from engine.core.errors import UserError

# Weight formats that are pickles (or other runtimes' formats): never loaded, never copied.
SKIPPED_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".h5", ".msgpack", ".onnx")
_CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_sequence_length",
    "max_seq_len",
    "seq_length",
    "n_ctx",
)
_DTYPE_NAMES = {
    "bfloat16": "bf16",
    "float16": "f16",
    "half": "f16",
    "float32": "f32",
    "float": "f32",
    "BF16": "bf16",
    "F16": "f16",
    "F32": "f32",
    "F64": "f64",
    "F8_E4M3": "fp8",
    "F8_E5M2": "fp8",
}
_MAX_HEADER = 100 * 1024 * 1024  # a safetensors JSON header larger than this is corrupt


def model_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that belong in the library: everything but hidden and pickle files."""
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue  # .git, .cache, editor files
        if path.is_file() and path.suffix.lower() not in SKIPPED_SUFFIXES:
            files.append(path)
    return files


def read_hf_folder(path: Path | str) -> dict[str, Any]:
    """Metadata of the model folder at ``path`` (Model fields, without id or library state)."""
    folder = Path(path)
    if not folder.exists():
        raise UserError(f"{folder} does not exist; check the path and try again.")
    if not folder.is_dir():
        raise UserError(
            f"{folder} is not a folder; choose a Hugging Face model folder or a .gguf file."
        )

    role = "embedding" if _is_sentence_transformers(folder) else "llm"
    model_dir = _transformer_dir(folder) if role == "embedding" else folder
    config_file = model_dir / "config.json"
    if not config_file.is_file():
        from engine.models import prompt_tuning

        peft_config = prompt_tuning.read_config(folder)
        if peft_config is not None:  # a prompt-tuning folder is an entry; other adapters are not
            return prompt_tuning.read_folder(folder, peft_config)
        raise UserError(
            f"{folder} has no config.json, so it is not a Hugging Face model folder; choose the "
            "folder that holds config.json and the *.safetensors weights, or a .gguf file."
        )
    config = _read_json(config_file, folder)
    shards = _weight_shards(model_dir, folder)
    params, dtypes = _count_parameters(shards)

    text_config = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    arch = config.get("model_type") or next(iter(config.get("architectures") or []), None)
    context = _context_length(config, text_config)
    if role == "embedding":
        st_config = _read_optional_json(folder / "sentence_bert_config.json")
        if isinstance(st_config.get("max_seq_length"), int):
            context = st_config["max_seq_length"]

    return {
        "format": "hf",
        "role": role,
        "name": Path(os.path.abspath(folder)).name,
        "arch": arch,
        "architectures": list(config.get("architectures") or []),
        "params": params,
        "quant": _quant_name(config, text_config, dtypes),
        "context_length": context,
        "chat_template": _chat_template(model_dir) or _chat_template(folder),
        "size_bytes": sum(p.stat().st_size for p in model_files(folder)),
        # where a model made in Hearth came from (pruning: parent, method, amount)
        "lineage": _read_optional_json(folder / "hearth-lineage.json"),
    }


def _is_sentence_transformers(folder: Path) -> bool:
    return (folder / "modules.json").is_file() or (
        folder / "config_sentence_transformers.json"
    ).is_file()


def _transformer_dir(folder: Path) -> Path:
    """Where a sentence-transformers folder keeps its transformer (the root, or e.g. 0_Transformer)."""
    for module in _read_optional_json(folder / "modules.json", default=[]):
        if isinstance(module, dict) and str(module.get("type", "")).endswith(".Transformer"):
            return folder / str(module.get("path") or "")
    return folder


def _read_json(file: Path, folder: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(
            f"{file.name} in {folder} cannot be read ({exc}); re-download or re-export the model."
        ) from exc
    if not isinstance(data, dict):
        raise UserError(f"{file.name} in {folder} is not a JSON object; re-download the model.")
    return data


def _read_optional_json(file: Path, default: Any = None) -> Any:
    """The JSON in ``file``, or ``default`` ({} if None) when absent, unreadable or of another type."""
    fallback = {} if default is None else default
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return fallback
    return data if isinstance(data, type(fallback)) else fallback


def _weight_shards(model_dir: Path, folder: Path) -> list[Path]:
    index_file = model_dir / "model.safetensors.index.json"
    if index_file.is_file():
        weight_map = _read_json(index_file, folder).get("weight_map") or {}
        names = sorted(set(weight_map.values()))
        missing = [n for n in names if not (model_dir / n).is_file()]
        if missing:
            raise UserError(
                f"{folder} is missing {len(missing)} weight shard(s) ({', '.join(missing[:3])}); "
                "the download is incomplete, download the model again."
            )
        if names:
            return [model_dir / n for n in names]
    if (model_dir / "model.safetensors").is_file():
        return [model_dir / "model.safetensors"]
    shards = sorted(model_dir.glob("*.safetensors"))
    if shards:
        return shards
    pickles = sorted(p.name for p in model_dir.iterdir() if p.suffix.lower() in SKIPPED_SUFFIXES)
    if pickles:
        raise UserError(
            f"{folder} only has PyTorch pickle weights ({pickles[0]}); Hearth does not load pickle "
            "files because they can run code. Convert the weights to safetensors in a trusted "
            "environment (save_pretrained(..., safe_serialization=True)) and import that folder."
        )
    raise UserError(
        f"{folder} has no *.safetensors weights; download the model's safetensors files into it "
        "or choose another folder."
    )


def read_safetensors_header(file: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file, checked against the file's real size."""
    try:
        size = file.stat().st_size
        with open(file, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ValueError("file too short")
            (length,) = struct.unpack("<Q", head)
            if length > min(_MAX_HEADER, size - 8):
                raise ValueError("header length out of range")
            header = json.loads(fh.read(length).decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        end = 0
        for key, info in header.items():
            if key != "__metadata__":
                end = max(end, int(info["data_offsets"][1]))
    except (OSError, ValueError, KeyError, IndexError, TypeError, struct.error) as exc:
        raise UserError(
            f"{file} is not a valid safetensors file ({exc}); re-download or re-export the model."
        ) from exc
    if 8 + length + end > size:
        raise UserError(
            f"{file} is truncated ({size} of {8 + length + end} bytes); the download is incomplete, "
            "download the model again."
        )
    return header


def _count_parameters(shards: list[Path]) -> tuple[int, Counter[str]]:
    params = 0
    dtypes: Counter[str] = Counter()  # dtype -> number of elements
    for shard in shards:
        for key, info in read_safetensors_header(shard).items():
            if key == "__metadata__":
                continue
            count = math.prod(int(d) for d in info.get("shape", []))
            params += count
            dtypes[str(info.get("dtype"))] += count
    return params, dtypes


def _context_length(config: dict[str, Any], text_config: dict[str, Any]) -> int | None:
    for source in (config, text_config):
        for key in _CONTEXT_KEYS:
            value = source.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None


def _quant_name(
    config: dict[str, Any], text_config: dict[str, Any], dtypes: Counter[str]
) -> str | None:
    qc = config.get("quantization_config")
    if isinstance(qc, dict):
        method = str(qc.get("quant_method") or "quantized").lower()
        if method == "bitsandbytes":
            return "bnb-4bit" if qc.get("load_in_4bit") else "bnb-8bit"
        bits = qc.get("bits") or qc.get("w_bit")
        return f"{method}-{bits}bit" if bits else method
    for source in (config, text_config):
        dtype = source.get("torch_dtype") or source.get("dtype")
        if isinstance(dtype, str) and dtype in _DTYPE_NAMES:
            return _DTYPE_NAMES[dtype]
    if dtypes:
        dominant = dtypes.most_common(1)[0][0]
        return _DTYPE_NAMES.get(dominant, dominant.lower())
    return None


def _chat_template(folder: Path) -> str | None:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        try:
            return jinja.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    for name in ("chat_template.json", "tokenizer_config.json"):
        template = _read_optional_json(folder / name).get("chat_template")
        if isinstance(template, str):
            return template
        if isinstance(template, list):  # [{name, template}, ...]: prefer "default"
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            chosen = named.get("default") or next(iter(named.values()), None)
            if isinstance(chosen, str):
                return chosen
    return None
