"""What this machine can run on: CPU, CUDA GPUs, Apple MPS, and which runtimes are installed.

Detection avoids importing torch (a second or more) so ``initialize`` stays fast: CUDA is
probed through the driver library (``libcuda``) with ctypes, MPS from the platform. Runtimes are
found with ``importlib`` metadata without importing them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.metadata
import importlib.util
import os
import platform
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import psutil


def ram() -> dict[str, int]:
    vm = psutil.virtual_memory()
    return {"total_bytes": int(vm.total), "available_bytes": int(vm.available)}


def _cpu_name() -> str:
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.lower().startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
    return platform.processor() or platform.machine() or "CPU"


def physical_cores() -> int:
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def _cuda_devices() -> list[dict[str, Any]]:
    """CUDA GPUs via the driver API; empty when there is no driver or no GPU."""
    names = (
        ["nvcuda.dll"]
        if os.name == "nt"
        else ["libcuda.so.1", "libcuda.so", ctypes.util.find_library("cuda")]
    )
    lib = None
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None or lib.cuInit(0) != 0:
        return []
    count = ctypes.c_int()
    if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return []
    devices = []
    for index in range(count.value):
        handle = ctypes.c_int()
        if lib.cuDeviceGet(ctypes.byref(handle), index) != 0:
            continue
        raw = ctypes.create_string_buffer(256)
        lib.cuDeviceGetName(raw, 256, handle)
        total = ctypes.c_size_t()
        get_mem = getattr(lib, "cuDeviceTotalMem_v2", None) or lib.cuDeviceTotalMem
        get_mem(ctypes.byref(total), handle)
        devices.append(
            {
                "type": "cuda",
                "index": index,
                "name": raw.value.decode(errors="replace"),
                "memory_total_bytes": int(total.value),
                "memory_free_bytes": None,
            }
        )
    return devices


@lru_cache(maxsize=1)
def _static_devices() -> tuple[dict[str, Any], ...]:
    found: list[dict[str, Any]] = []
    try:
        found.extend(_cuda_devices())
    except Exception:  # a broken driver must never stop the engine from starting
        pass
    if sys.platform == "darwin" and platform.machine() == "arm64":
        found.append(
            {
                "type": "mps",
                "index": 0,
                "name": "Apple GPU (Metal)",
                "memory_total_bytes": None,
                "memory_free_bytes": None,
            }
        )
    return tuple(found)


def devices() -> list[dict[str, Any]]:
    """All devices, accelerators first, the CPU last (with system RAM as its memory)."""
    mem = ram()
    cpu = {
        "type": "cpu",
        "index": 0,
        "name": f"{_cpu_name()} ({physical_cores()} cores)",
        "memory_total_bytes": mem["total_bytes"],
        "memory_free_bytes": mem["available_bytes"],
    }
    return [dict(d) for d in _static_devices()] + [cpu]


def best_device() -> str:
    """The device heavy torch work defaults to: cuda, then mps, then cpu."""
    kinds = [d["type"] for d in _static_devices()]
    return "cuda" if "cuda" in kinds else "mps" if "mps" in kinds else "cpu"


def torch_has_cuda() -> bool | None:
    """Whether the installed torch was built with CUDA, from its library files (torch is not
    imported); None when torch is not installed."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        return None
    lib = Path(spec.origin).parent / "lib"
    return any(lib.glob("libtorch_cuda*")) or any(lib.glob("torch_cuda*.dll"))


def gpu_notice() -> str | None:
    """What to say when an NVIDIA GPU is here but this install's torch cannot use it."""
    gpus = [d for d in _static_devices() if d["type"] == "cuda"]
    if not gpus or torch_has_cuda() is not False:
        return None
    return (
        f"{gpus[0]['name']} is present, but this Hearth's torch is the CPU build: training, "
        "pruning and the transformers runtime use the CPU (llama.cpp chat too). For the GPU, "
        "install Hearth from source with HEARTH_TORCH_SPEC=torch (README: GPU)."
    )


_RUNTIME_PACKAGES = {
    "llama_cpp": ("llama_cpp", "llama-cpp-python"),
    "transformers": ("transformers", "transformers"),
    "torch": ("torch", "torch"),
    "peft": ("peft", "peft"),
    "qdrant_edge": ("qdrant_edge", "qdrant-edge-py"),
    "qdrant_client": ("qdrant_client", "qdrant-client"),
    "bitsandbytes": ("bitsandbytes", "bitsandbytes"),
}


def runtimes() -> dict[str, dict[str, Any]]:
    """Which runtimes are installed and their versions, without importing them."""
    out: dict[str, dict[str, Any]] = {}
    for key, (module, dist) in _RUNTIME_PACKAGES.items():
        available = importlib.util.find_spec(module) is not None
        version = None
        if available:
            try:
                version = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                pass
        out[key] = {"available": available, "version": version}
    return out
