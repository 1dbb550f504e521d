"""GGUF -> torch: load any library model as a transformers model, converting GGUFs once.

transformers can read a GGUF with ``from_pretrained(folder, gguf_file=name)``, dequantizing every
tensor in numpy -- about a minute for the bundled Gemma on two cores. The result is cached as a
safetensors folder in ``<root>/cache/torch/<model id>/`` so later loads take seconds. A marker file,
written last, records the GGUF's size and mtime: a half-written cache has no marker, and a changed
GGUF no longer matches it, so either is converted again. The folder is built under a temp name and
renamed into place.

transformers >= 5 loads a GGUF through a "gguf" quantizer; the cached model must not carry that
flag (``hf_quantizer``/``quantization_config``), or the HF Trainer refuses to train it as a
quantized model. We load with ``GgufConfig(dequantize=True)`` and strip the quantizer before saving.

Everything heavy is imported inside functions; importing this module is cheap.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import Cancelled, UserError
from engine.core.paths import atomic_write_text, describe_os_error

if TYPE_CHECKING:
    from engine.jobs.registry import JobContext
    from engine.services import Services

MARKER = "hearth-torch-cache.json"


def torch_folder_for(model: dict[str, Any], *, root: Path | str | None = None) -> Path:
    """Where the torch weights of ``model`` live: the folder itself (hf) or its cache (gguf)."""
    if model["format"] == "hf":
        return Path(model["path"])
    if root is None:
        from engine.core.paths import data_root

        root = data_root()
    return Path(root) / "cache" / "torch" / model["id"]


def cache_is_valid(folder: Path, gguf_path: Path) -> bool:
    """True if ``folder`` holds a finished conversion of ``gguf_path`` as it is now."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        st = gguf_path.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("gguf_size") == st.st_size
        and marker.get("gguf_mtime_ns") == st.st_mtime_ns
        and (folder / "config.json").is_file()
    )


def check_convertible(model: dict[str, Any]) -> None:
    """Raise ``UserError`` saying why ``model`` cannot be converted to torch, if it cannot."""
    if model["format"] != "gguf":
        raise UserError(
            f"{model['name']} is already a Hugging Face (torch) model; it needs no conversion."
        )
    if model["role"] == "adapter":
        raise UserError(
            f"{model['name']} is a LoRA adapter; it runs in llama.cpp on its base model and is "
            "not converted on its own."
        )
    if model["role"] != "llm":
        raise UserError(
            f"{model['name']} is an embedding model; only chat models can be converted."
        )
    if not model["capabilities"]["convert"]:
        raise UserError(
            f"transformers cannot load GGUF models of architecture {model['arch']!r}; chat with "
            f"{model['name']} in the llama.cpp runtime, or import its original Hugging Face folder "
            "to train or prune it."
        )
    if model["missing"]:
        raise UserError(
            f"The file of {model['name']} is missing ({model['path']}); relink it "
            "(Models > Locate…) or import it again."
        )


def load_torch_model(
    model_id_or_model: str | dict[str, Any],
    *,
    services: Services,
    device: str = "cpu",
    dtype: Any = None,
    ctx: JobContext | None = None,
    tokenizer: bool = True,
) -> tuple[Any, Any]:
    """(model, tokenizer) as transformers objects on ``device``; a GGUF is converted once and cached.
    With ``tokenizer=False`` the tokenizer is not loaded (None; unless a conversion made one)."""
    model = _model(model_id_or_model, services)
    if model["format"] == "peft":  # virtual tokens learned on a base model: peft puts them first
        from engine.models import prompt_tuning

        base = prompt_tuning.base_of(services, model)
        lm, tok = load_torch_model(base, services=services, device=device, dtype=dtype, ctx=ctx,
                                   tokenizer=tokenizer)  # fmt: skip
        return prompt_tuning.wrap(lm, model), tok
    if model["format"] == "hf":
        if model["role"] != "llm":
            raise UserError(f"{model['name']} is an embedding model, not a chat model.")
        if model["missing"]:
            raise UserError(
                f"The folder of {model['name']} is missing ({model['path']}); relink it "
                "(Models > Locate…) or import it again."
            )
        lm, tok = _load_folder(Path(model["path"]), dtype, tokenizer)
    else:
        check_convertible(model)
        folder = torch_folder_for(model, root=services.root)
        lm = tok = None
        if cache_is_valid(folder, Path(model["path"])):
            try:
                lm, tok = _load_folder(folder, dtype, tokenizer)
                if model["torch_path"] != str(folder):
                    services.library.set_torch_path(model["id"], folder)
            except (OSError, ValueError) as exc:  # a damaged cache: convert again
                if ctx is not None:
                    ctx.log(f"Cached torch model unreadable ({exc}); converting again.", "warning")
        if lm is None:
            lm, tok = _convert_gguf(model, folder, ctx)
            services.library.set_torch_path(model["id"], folder)
            if dtype is not None:
                lm = lm.to(_torch_dtype(dtype))
    return lm.to(_device(device)), tok


def convert(model_id: str, services: Services, ctx: JobContext | None = None) -> dict[str, Any]:
    """Make sure the torch cache of a GGUF model exists; returns where and whether it already did."""
    start = time.monotonic()
    model = services.library.get(model_id)
    check_convertible(model)
    folder = torch_folder_for(model, root=services.root)
    cached = cache_is_valid(folder, Path(model["path"]))
    if cached:
        if ctx is not None:
            ctx.progress(1.0, f"{model['name']} is already converted")
    else:
        lm, _tok = _convert_gguf(model, folder, ctx)
        del lm
    if model["torch_path"] != str(folder):
        services.library.set_torch_path(model_id, folder)
    seconds = round(time.monotonic() - start, 2)
    if ctx is not None and not cached:
        ctx.progress(1.0, f"Converted {model['name']} in {seconds:.0f} s")
    return {"model_id": model_id, "torch_path": str(folder), "cached": cached, "seconds": seconds}


# ---- internals ---------------------------------------------------------------------------
def _model(model_id_or_model: str | dict[str, Any], services: Services) -> dict[str, Any]:
    if isinstance(model_id_or_model, dict):
        return model_id_or_model
    return services.library.get(model_id_or_model)


def _offline() -> None:
    # Must be set before transformers/huggingface_hub are imported: nothing may reach a hub.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _torch_dtype(dtype: Any) -> Any:
    import torch

    if isinstance(dtype, str):
        value = getattr(torch, dtype, None)
        if not isinstance(value, torch.dtype):
            raise UserError(f"Unknown dtype {dtype!r}; use float32, bfloat16 or float16.")
        return value
    return dtype


def _device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _dtype_kwargs(dtype: Any) -> dict[str, Any]:
    if dtype is None:
        return {}
    import transformers

    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"  # renamed in 4.56
    return {key: _torch_dtype(dtype)}


def _load_folder(folder: Path, dtype: Any, tokenizer: bool = True) -> tuple[Any, Any]:
    _offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, **_dtype_kwargs(dtype))
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True) if tokenizer else None
    return lm, tok


def _strip_gguf_quantization(lm: Any) -> None:
    """Drop the 'quantized by gguf' state so the model saves and trains as a plain dense model."""
    quantizer = getattr(lm, "hf_quantizer", None)
    if quantizer is not None and hasattr(quantizer, "remove_quantization_config"):
        quantizer.remove_quantization_config(lm)
    for attr in ("hf_quantizer", "quantization_method"):
        if getattr(lm, attr, None) is not None:
            setattr(lm, attr, None)
    if getattr(lm.config, "quantization_config", None) is not None:
        del lm.config.quantization_config
    if getattr(lm, "is_quantized", False):
        lm.is_quantized = False


def _convert_gguf(model: dict[str, Any], dest: Path, ctx: JobContext | None) -> tuple[Any, Any]:
    """Dequantize the GGUF with transformers and save it into ``dest`` atomically."""
    gguf_path = Path(model["path"])
    name = model["name"]
    tmp = dest.parent / f".{dest.name}.partial-{os.getpid()}"

    def step(fraction: float, message: str) -> None:
        if ctx is not None:
            ctx.check_cancelled()
            ctx.progress(fraction, message)
            ctx.log(message)

    step(
        0.0, f"Dequantizing {name} with transformers (about a minute per 300M parameters on a CPU)"
    )
    _offline()
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"gguf_file": gguf_path.name, "local_files_only": True}
    if hasattr(transformers, "GgufConfig"):  # transformers >= 5: dequantize fully, no kernels
        kwargs["quantization_config"] = transformers.GgufConfig(dequantize=True)
    try:
        lm = AutoModelForCausalLM.from_pretrained(gguf_path.parent, **kwargs)
        step(0.6, f"Reading the tokenizer of {name}")
        tok = AutoTokenizer.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, local_files_only=True
        )
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise UserError(f"transformers could not load {gguf_path.name}: {exc}") from exc
    _strip_gguf_quantization(lm)

    step(0.85, f"Saving {name} as safetensors in the torch cache")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        # transformers 4.x takes safe_serialization (default True since 4.35); 5.x always writes
        # safetensors and has no such parameter. _check_saved verifies either way.
        params = inspect.signature(lm.save_pretrained).parameters
        lm.save_pretrained(
            tmp, **({"safe_serialization": True} if "safe_serialization" in params else {})
        )
        tok.save_pretrained(tmp)
        _check_saved(tmp)
        if ctx is not None and ctx.cancelled():
            raise Cancelled(None)
        st = gguf_path.stat()
        marker = {
            "gguf": str(gguf_path),
            "gguf_size": st.st_size,
            "gguf_mtime_ns": st.st_mtime_ns,
            "transformers": transformers.__version__,
            "created_at": time.time(),
        }
        atomic_write_text(tmp / MARKER, json.dumps(marker, indent=1))  # written last
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(
            describe_os_error(exc, f"saving the converted {name} to {dest.parent}")
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return lm, tok


def _check_saved(folder: Path) -> None:
    """The saved folder holds safetensors weights and a config without a quantization flag."""
    if not list(folder.glob("*.safetensors")) or list(folder.glob("*.bin")):
        raise RuntimeError(f"save_pretrained did not write safetensors weights into {folder}")
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if "quantization_config" in config:
        del config["quantization_config"]
        atomic_write_text(config_file, json.dumps(config, indent=2))
