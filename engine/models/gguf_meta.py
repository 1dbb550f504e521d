"""Metadata of a GGUF file: architecture, size, quantization, context length, chat template.

A llama.cpp LoRA adapter (``general.type`` "adapter", ``adapter.type`` "lora") is recognised as
role ``adapter`` with its alpha and rank; ``adapter_problems`` checks one against a base model's
tensor shapes the way llama.cpp will when it loads the pair.

The header is walked here with the ``gguf`` package's own constants (value types, tensor types,
block sizes, file types) rather than with ``gguf.GGUFReader``: the reader builds a numpy view
for every element of every array, which takes ~10 s on two cores for a 262k-token vocabulary,
and it loops forever on some corrupt array lengths. This walk skips arrays it does not need,
checks every length against the file size, and takes milliseconds. Tests compare its answers
with ``GGUFReader`` on the bundled model.

Anything that is not a complete GGUF -- empty, random bytes, another format, a download cut
short (tensor data past the end of the file) -- raises ``UserError`` with one line saying so.
"""

from __future__ import annotations

import json
import math
import mmap
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.errors import UserError

GGUF_MAGIC = b"GGUF"
_SUPPORTED_VERSIONS = (2, 3)
_DEFAULT_ALIGNMENT = 32
_MAX_KEEP_ARRAY = 64  # arrays longer than this (vocabularies, scores) are skipped, not kept
_MAX_COUNT = 1 << 24  # more tensors or keys than this means the header is corrupt
# GGUFValueType -> struct format, for scalar values
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9


class _Corrupt(Exception):
    """The header cannot be parsed; the message says where."""


@dataclass
class GgufHeader:
    """What the header walk found: metadata values and tensor placement."""

    version: int
    fields: dict[str, Any]
    array_lengths: dict[str, int]
    tensors: list[tuple[str, int, int, int, int]] = field(default_factory=list)
    # (name, ggml type, n_elements, n_bytes, absolute data offset)
    data_offset: int = 0
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # name -> ggml ne (ne0 first)


def read_fields(path: Path | str) -> dict[str, Any]:
    """The metadata keys of a GGUF file (arrays other than short ones are left out)."""
    header, _size = _read_checked(Path(path))
    return dict(header.fields)


def read_gguf(path: Path | str) -> dict[str, Any]:
    """Metadata of the GGUF file at ``path`` (Model fields, without id or library state)."""
    path = Path(path)
    header, size = _read_checked(path)
    fields = header.fields
    arch = fields.get("general.architecture")
    arch = arch if isinstance(arch, str) and arch else None
    params = fields.get("general.parameter_count")
    if not isinstance(params, int) or params <= 0:
        params = sum(t[2] for t in header.tensors)
    context = fields.get(f"{arch}.context_length") if arch else None
    template = fields.get("tokenizer.chat_template")
    name = fields.get("general.name")
    pooling = arch is not None and f"{arch}.pooling_type" in fields
    adapter = _adapter_info(path, header)
    role = "adapter" if adapter else "embedding" if pooling else "llm"
    meta = {
        "format": "gguf",
        "role": role,
        "name": name if isinstance(name, str) and name.strip() else path.stem,
        "arch": arch,
        "params": params,
        "quant": _quant_name(fields.get("general.file_type"), header.tensors),
        "context_length": context if isinstance(context, int) and context > 0 else None,
        "chat_template": template if isinstance(template, str) and template.strip() else None,
        "size_bytes": size,
        "tensor_count": len(header.tensors),
        "vocab_size": header.array_lengths.get("tokenizer.ggml.tokens"),
    }
    lineage = fields.get("hearth.lineage")
    if isinstance(lineage, str):
        try:
            meta["lineage"] = json.loads(lineage)
        except ValueError:
            pass
    if adapter:
        meta["adapter"] = adapter
    return meta


def _adapter_info(path: Path, header: GgufHeader) -> dict[str, Any] | None:
    """``{type, alpha, rank, tensors}`` of a LoRA adapter GGUF; None for a model file."""
    fields = header.fields
    if fields.get("general.type") != "adapter":
        return None
    kind = fields.get("adapter.type")
    if kind != "lora":
        raise UserError(
            f"{path.name} is a llama.cpp adapter of type {kind!r}; Hearth chats with LoRA adapters "
            "only. Export the adapter as LoRA, or merge it into its base model."
        )
    pairs = lora_pairs(header)
    if not pairs:
        raise UserError(
            f"{path.name} says it is a LoRA adapter but holds no lora_a/lora_b tensor pairs; "
            "export it again."
        )
    from gguf import GGMLQuantizationType as T

    usable = {T.F32, T.F16, T.BF16, T.Q8_0}  # what llama.cpp multiplies LoRA matrices in
    odd = sorted({T(t).name for n, t, *_ in header.tensors if ".lora_" in n and t not in usable})
    if odd:
        raise UserError(
            f"{path.name} stores its LoRA matrices as {', '.join(odd)}, which llama.cpp cannot "
            "apply; export the adapter as F32, F16, BF16 or Q8_0."
        )
    alpha = fields.get("adapter.lora.alpha")
    ranks = sorted({int(a[1]) for a, _b in pairs.values() if len(a) > 1})
    return {
        "type": "lora",
        "alpha": float(alpha) if isinstance(alpha, (int, float)) else None,
        "rank": ranks[0] if len(ranks) == 1 else None,
        "tensors": len(pairs),
    }


def lora_pairs(header: GgufHeader) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """``{base tensor name: (lora_a ne, lora_b ne)}`` for every complete pair in an adapter."""
    found: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, shape in header.shapes.items():
        for part in ("a", "b"):
            if name.endswith(f".lora_{part}"):
                found.setdefault(name[: -len(".lora_a")], {})[part] = shape
    return {k: (v["a"], v["b"]) for k, v in found.items() if set(v) == {"a", "b"}}


def adapter_problems(adapter: GgufHeader, base: GgufHeader) -> list[str]:
    """Why llama.cpp would refuse ``adapter`` on ``base`` (empty when the pair fits).

    The same checks llama.cpp makes when it loads a LoRA: every adapted tensor exists in the base,
    A's input width and B's output height match the base weight, and A and B share the rank.
    """
    problems = []
    for name, (a, b) in sorted(lora_pairs(adapter).items()):
        weight = base.shapes.get(name)
        if weight is None:
            problems.append(f"the base has no tensor {name}")
        elif len(a) < 2 or len(b) < 2 or a[0] != weight[0] or b[1] != weight[1] or a[1] != b[0]:
            problems.append(
                f"{name} is {weight[0]}x{weight[1]} in the base but the adapter expects "
                f"{a[0] if a else '?'}x{b[1] if len(b) > 1 else '?'}"
            )
    return problems


def is_gguf_file(path: Path) -> bool:
    """True if ``path`` is a file that starts with the GGUF signature."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == GGUF_MAGIC
    except OSError:
        return False


def read_header(path: Path | str) -> GgufHeader:
    """The parsed header of a complete GGUF file (raises ``UserError`` otherwise)."""
    return _read_checked(Path(path))[0]


def _read_checked(path: Path) -> tuple[GgufHeader, int]:
    if not path.exists():
        raise UserError(f"{path} does not exist; check the path and try again.")
    if not path.is_file():
        raise UserError(
            f"{path} is not a file; choose a .gguf file or a Hugging Face model folder."
        )
    redo = "download or export it again"
    try:
        size = path.stat().st_size
        if size == 0:
            raise UserError(f"{path} is empty (0 bytes), not a GGUF model; {redo}.")
        with open(path, "rb") as fh:
            if fh.read(4) != GGUF_MAGIC:
                raise UserError(
                    f"{path} is not a GGUF file (it lacks the GGUF signature); choose a .gguf model "
                    "file or a Hugging Face model folder."
                )
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                header = _parse(buf)
    except OSError as exc:
        raise UserError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except _Corrupt as exc:
        raise UserError(f"{path} is not a valid GGUF file ({exc}); {redo}.") from None
    need = max((t[4] + t[3] for t in header.tensors), default=header.data_offset)
    if need > size:
        raise UserError(
            f"{path} is incomplete: its tensors need {need:,} bytes but the file has {size:,}; the "
            f"download or export was cut short, {redo}."
        )
    return header, size


class _Cursor:
    """Bounds-checked reads from the mapped file."""

    def __init__(self, buf: mmap.mmap, endian: str) -> None:
        self.buf, self.endian, self.pos, self.size = buf, endian, 0, len(buf)

    def take(self, fmt: str) -> Any:
        width = struct.calcsize(fmt)
        if self.pos + width > self.size:
            raise _Corrupt(f"header ends early at byte {self.pos}")
        (value,) = struct.unpack_from(self.endian + fmt, self.buf, self.pos)
        self.pos += width
        return value

    def skip(self, nbytes: int) -> None:
        if nbytes < 0 or self.pos + nbytes > self.size:
            raise _Corrupt(f"header ends early at byte {self.pos}")
        self.pos += nbytes

    def string(self, what: str) -> str:
        length = self.take("Q")
        if self.pos + length > self.size:
            raise _Corrupt(f"{what} runs past the end of the file")
        raw = self.buf[self.pos : self.pos + length]
        self.pos += length
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Corrupt(f"{what} is not UTF-8 text") from None


def _parse(buf: mmap.mmap) -> GgufHeader:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    (version,) = struct.unpack_from("<I", buf, 4) if len(buf) >= 8 else (0,)
    endian = "<"
    if version and version & 0xFFFF == 0:  # written on a machine of the other byte order
        endian, version = ">", struct.unpack_from(">I", buf, 4)[0]
    if version not in _SUPPORTED_VERSIONS:
        raise _Corrupt(f"unsupported GGUF version {version}")
    cur = _Cursor(buf, endian)
    cur.pos = 8
    tensor_count, kv_count = cur.take("Q"), cur.take("Q")
    if tensor_count > _MAX_COUNT or kv_count > _MAX_COUNT:
        raise _Corrupt("implausible tensor or key count")
    header = GgufHeader(version=version, fields={}, array_lengths={})
    for _ in range(kv_count):
        key = cur.string("a metadata key")
        vtype = cur.take("I")
        if vtype == _ARRAY:
            item_type, length = cur.take("I"), cur.take("Q")
            header.array_lengths[key] = length
            items = _read_array(cur, item_type, length, keep=length <= _MAX_KEEP_ARRAY)
            if items is not None:
                header.fields[key] = items
        else:
            header.fields[key] = _read_value(cur, vtype)

    placements = []
    for _ in range(tensor_count):
        name = cur.string("a tensor name")
        n_dims = cur.take("I")
        if n_dims > 8:
            raise _Corrupt(f"tensor {name!r} has {n_dims} dimensions")
        dims = [cur.take("Q") for _ in range(n_dims)]
        raw_type, offset = cur.take("I"), cur.take("Q")
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(raw_type)]
        except (ValueError, KeyError):
            raise _Corrupt(f"tensor {name!r} has unknown type {raw_type}") from None
        n_elements = math.prod(dims)
        placements.append((name, raw_type, n_elements, n_elements * type_size // block, offset))
        header.shapes[name] = tuple(dims)

    alignment = header.fields.get("general.alignment", _DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise _Corrupt(f"invalid alignment {alignment!r}")
    header.data_offset = -(-cur.pos // alignment) * alignment
    header.tensors = [(n, t, e, b, header.data_offset + o) for n, t, e, b, o in placements]
    return header


def _read_value(cur: _Cursor, vtype: int) -> Any:
    if vtype == _STRING:
        return cur.string("a metadata string")
    fmt = _SCALARS.get(vtype)
    if fmt is None:
        raise _Corrupt(f"unknown metadata value type {vtype}")
    return cur.take(fmt)


def _read_array(cur: _Cursor, item_type: int, length: int, *, keep: bool) -> list[Any] | None:
    if item_type in _SCALARS:
        width = struct.calcsize(_SCALARS[item_type])
        if length > (cur.size - cur.pos) // width:
            raise _Corrupt("a metadata array runs past the end of the file")
        if not keep:
            cur.skip(width * length)
            return None
        return [cur.take(_SCALARS[item_type]) for _ in range(length)]
    if item_type == _STRING:
        if length > (cur.size - cur.pos) // 8:
            raise _Corrupt("a metadata array runs past the end of the file")
        if not keep:
            for _ in range(length):
                cur.skip(cur.take("Q"))
            return None
        return [cur.string("a metadata string") for _ in range(length)]
    if item_type == _ARRAY:
        if length > (cur.size - cur.pos) // 12:
            raise _Corrupt("a metadata array runs past the end of the file")
        nested = []
        for _ in range(length):
            sub_type, sub_len = cur.take("I"), cur.take("Q")
            nested.append(
                _read_array(cur, sub_type, sub_len, keep=keep and sub_len <= _MAX_KEEP_ARRAY)
            )
        return nested if keep else None
    raise _Corrupt(f"unknown metadata array type {item_type}")


def _quant_name(file_type: Any, tensors: list[tuple[str, int, int, int, int]]) -> str | None:
    """``general.file_type`` as llama.cpp names it (Q4_K_M, Q8_0, F16), else the dominant tensor type."""
    from gguf import GGMLQuantizationType, LlamaFileType

    if isinstance(file_type, int):
        try:
            name = LlamaFileType(file_type).name
        except ValueError:
            name = None
        if name and name != "GUESSED":
            return name.removeprefix("MOSTLY_").removeprefix("ALL_")
    # No usable file type: name the type holding the most bytes, ignoring the small F32 norms.
    weights: Counter[int] = Counter()
    for _name, ggml_type, _n, n_bytes, _offset in tensors:
        weights[ggml_type] += n_bytes
    if not weights:
        return None
    quantized = Counter({t: b for t, b in weights.items() if t != GGMLQuantizationType.F32})
    dominant = (quantized or weights).most_common(1)[0][0]
    return GGMLQuantizationType(dominant).name
