"""Keeps loaded models warm and evicts them under memory pressure.

``services.runtimes`` returns the process's ``RuntimeManager`` (one per ``Services``).
``with manager.use(model_id) as runtime:`` loads the model on first use with the runtime its
settings pick, marks it busy for the block (a busy model is never evicted), and makes it the most
recently used. Before a load, and after each use, the least recently used idle models are unloaded
until at most ``max_loaded`` remain and available RAM stays above ``ram_margin_bytes``.

Defaults: 2 loaded models, 1 GiB RAM margin; ``HEARTH_MAX_LOADED_MODELS`` and
``HEARTH_RAM_MARGIN_MB`` override them, and both are plain attributes that can be changed live.

A LoRA adapter is loaded under its own id -- its base GGUF with the adapter applied, in its own
llama.cpp context -- so the plain base and base + adapter are two entries of the LRU, each
evicted on its own; relinking the adapter or changing its scale reloads it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psutil

from engine.core.errors import UserError
from engine.runtimes.base import Runtime
from engine.runtimes.settings import ModelSettings

if TYPE_CHECKING:
    from engine.services import Services

log = logging.getLogger(__name__)

DEFAULT_MAX_LOADED = 2
DEFAULT_RAM_MARGIN = 1 << 30


def choose_runtime(model: dict[str, Any], settings: dict[str, Any]) -> str:
    """``llama_cpp``, ``transformers`` or ``remote`` for this model, per its settings and
    capabilities."""
    caps = model.get("capabilities") or {}
    wanted = settings.get("runtime") or "auto"
    if model.get("format") == "remote":
        if wanted not in ("auto", "remote"):
            raise UserError(f"{model['name']} is served by {model['path']}; set its runtime to auto.")  # fmt: skip
        return "remote"
    if model.get("role") == "adapter" and model.get("format") == "peft":
        from engine.models.prompt_tuning import LLAMA_CPP_CANNOT

        if wanted == "llama_cpp":
            raise UserError(f"{LLAMA_CPP_CANNOT}: set the runtime of {model['name']} to auto or transformers.")  # fmt: skip
        if model.get("missing"):
            raise UserError(f"{model['name']} cannot be used: {model.get('missing_reason')}.")
        return "transformers"
    if model.get("role") == "adapter":
        if wanted == "transformers":
            raise UserError(
                f"{model['name']} is a LoRA adapter for GGUF models and runs in llama.cpp; set its "
                "runtime to auto or llama_cpp."
            )
        if model.get("missing"):
            raise UserError(
                f"{model['name']} cannot be used: {model.get('missing_reason') or 'its file is missing'}."
            )
        if not caps.get("chat_llama_cpp"):
            raise UserError(
                "llama-cpp-python is not installed; reinstall Hearth to chat with LoRA adapters."
            )
        return "llama_cpp"
    if model.get("role") != "llm":
        raise UserError(f"{model['name']} is an embedding model; pick a chat model.")
    if wanted == "auto":
        if model["format"] == "gguf":
            wanted = "llama_cpp" if caps.get("chat_llama_cpp") else "transformers"
        else:
            wanted = "transformers"
    if wanted == "llama_cpp":
        if model["format"] != "gguf":
            raise UserError(
                f"{model['name']} is a Hugging Face folder; llama.cpp runs GGUF files. Set its "
                "runtime to transformers, or export it to GGUF."
            )
        if not caps.get("chat_llama_cpp"):
            raise UserError(
                "llama-cpp-python is not installed; reinstall Hearth to chat with GGUF models."
            )
    elif wanted == "transformers" and not caps.get("chat_transformers"):
        raise UserError(
            f"transformers cannot load {model['name']} (architecture {model.get('arch')!r}); "
            "chat with it in the llama.cpp runtime instead."
        )
    return wanted


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


class RuntimeManager:
    def __init__(
        self,
        services: Services,
        *,
        max_loaded: int | None = None,
        ram_margin_bytes: int | None = None,
        available_ram: Callable[[], int] | None = None,
    ) -> None:
        self.services = services
        self.settings = ModelSettings(services)
        self.max_loaded = max_loaded or max(
            1, _env_int("HEARTH_MAX_LOADED_MODELS", DEFAULT_MAX_LOADED)
        )
        margin_mb = _env_int("HEARTH_RAM_MARGIN_MB", DEFAULT_RAM_MARGIN >> 20)
        self.ram_margin_bytes = (
            ram_margin_bytes if ram_margin_bytes is not None else margin_mb << 20
        )
        self.available_ram = available_ram or (lambda: int(psutil.virtual_memory().available))
        self._lock = threading.RLock()  # guards the maps below
        self._load_lock = threading.Lock()  # one load at a time: loads are heavy
        self._loaded: OrderedDict[str, Runtime] = OrderedDict()  # LRU first
        self._busy: dict[str, int] = {}
        self._last_used: dict[str, float] = {}
        self._unload_requested: set[str] = set()
        self._remotes: dict[str, Runtime] = {}  # models on servers: connection pools, no weights

    def settings_of(self, model_id: str) -> dict[str, Any]:
        """The model's own settings over the user's preferences (threads)."""
        from engine.core.preferences import Preferences

        threads = Preferences(self.services).get()["threads"]
        return {**({"n_threads": threads} if threads else {}), **self.settings.get(model_id)}

    # ---- use -----------------------------------------------------------------------------
    @contextmanager
    def use(self, model_id: str) -> Iterator[Runtime]:
        runtime = self.acquire(model_id)
        try:
            yield runtime
        finally:
            self.release(runtime)

    def acquire(self, model_id: str) -> Runtime:
        """The loaded runtime of ``model_id`` (loading it if needed), marked busy until ``release``."""
        model = self.services.library.get(model_id)
        settings = self.settings_of(model_id)
        kind = choose_runtime(model, settings)
        if kind == "remote":
            return self._remote(model, settings)
        wanted = self._build(model, settings, kind)
        runtime = self._take_loaded(model_id, wanted)
        if runtime is not None:
            return runtime
        with self._load_lock:
            runtime = self._take_loaded(model_id, wanted)
            if runtime is not None:
                return runtime
            self._make_room(model, kind)
            wanted.load()
            with self._lock:
                self._loaded[model_id] = wanted
                self._busy[model_id] = self._busy.get(model_id, 0) + 1
                self._last_used[model_id] = time.time()
        self._enforce()
        self._changed()
        return wanted

    def _remote(self, model: dict[str, Any], settings: dict[str, Any]) -> Runtime:
        """A model on a server: no memory here, so outside the LRU (it never evicts a local
        model); one connection pool per model, rebuilt when its server, key or settings change."""
        from engine.models import remote
        from engine.runtimes.remote import RemoteRuntime

        key = remote.api_key(self.services, model["remote"]["base"])
        consent = lambda: remote.require_confirmed(self.services, model)  # noqa: E731
        wanted = RemoteRuntime(model, settings=settings, api_key=key, before_sending=consent)
        with self._lock:
            runtime = self._remotes.get(model["id"])
            if runtime is None or runtime.config_key() != wanted.config_key():
                if runtime is not None and not self._busy.get(model["id"]):
                    runtime.unload()  # one in use keeps its connections until garbage-collected
                wanted.load()
                self._remotes[model["id"]] = runtime = wanted
            self._busy[model["id"]] = self._busy.get(model["id"], 0) + 1
        return runtime

    def release(self, runtime: Runtime) -> None:
        model_id = runtime.model_id
        if runtime.name == "remote":
            with self._lock:
                self._busy[model_id] = max(0, self._busy.get(model_id, 1) - 1)
            return
        with self._lock:
            self._busy[model_id] = max(0, self._busy.get(model_id, 1) - 1)
            self._last_used[model_id] = time.time()
            pending = model_id in self._unload_requested and not self._busy[model_id]
        if pending:
            self.unload(model_id)
        else:
            self._enforce()

    # ---- inspect and unload ----------------------------------------------------------------
    def loaded(self) -> list[dict[str, Any]]:
        """What is loaded where, most recently used first."""
        with self._lock:
            items = list(self._loaded.items())[::-1]
            busy = dict(self._busy)
            last = dict(self._last_used)
        out = []
        for model_id, runtime in items:
            info = runtime.info()
            info.update(busy=bool(busy.get(model_id)), last_used=last.get(model_id))
            if runtime.name == "llama_cpp":
                info["n_gpu_layers"] = getattr(runtime, "n_gpu_layers", 0)
            out.append(info)
        return out

    def unload(self, model_id: str | None = None) -> dict[str, list[str]]:
        """Unload one model (or all); a model in use is unloaded when its generation ends."""
        with self._lock:
            ids = [model_id] if model_id else list(self._loaded)
            done, pending = [], []
            for mid in ids:
                if mid not in self._loaded:
                    continue
                if self._busy.get(mid):
                    self._unload_requested.add(mid)
                    pending.append(mid)
                else:
                    self._evict(mid, reason="asked")
                    done.append(mid)
        if done:
            self._changed()
        return {"unloaded": done, "pending": pending}

    def close(self) -> None:
        with self._lock:
            for model_id in list(self._loaded):
                self._evict(model_id, reason="shutdown")
            for runtime in self._remotes.values():
                runtime.unload()
            self._remotes.clear()

    # ---- internals -------------------------------------------------------------------------
    def _build(self, model: dict[str, Any], settings: dict[str, Any], kind: str) -> Runtime:
        if kind == "llama_cpp":
            from engine.runtimes.llama_cpp_runtime import LlamaCppRuntime

            return LlamaCppRuntime(model, settings=settings)
        from engine.runtimes.transformers_runtime import TransformersRuntime

        return TransformersRuntime(model, settings=settings, services=self.services)

    def _take_loaded(self, model_id: str, wanted: Runtime) -> Runtime | None:
        """The loaded runtime if it matches the wanted settings (marked busy); None to (re)load."""
        stale = False
        with self._lock:
            runtime = self._loaded.get(model_id)
            if runtime is None:
                return None
            if runtime.config_key() != wanted.config_key() and not self._busy.get(model_id):
                self._evict(model_id, reason="settings changed")
                stale = True
            else:
                self._loaded.move_to_end(model_id)
                self._busy[model_id] = self._busy.get(model_id, 0) + 1
                self._last_used[model_id] = time.time()
                self._unload_requested.discard(model_id)
        if stale:
            self._changed()
            return None
        return runtime

    def _estimate(self, model: dict[str, Any], kind: str) -> int:
        size = int(model.get("size_bytes") or 0) + int(model.get("base_size_bytes") or 0)
        if kind == "llama_cpp":
            return int(size * 1.1)
        params = int(model.get("params") or 0)
        return params * 4 if params else size * 2

    def _make_room(self, model: dict[str, Any], kind: str) -> None:
        needed = self._estimate(model, kind)
        evicted = False
        with self._lock:
            while len(self._loaded) >= self.max_loaded and self._evict_lru("model cap"):
                evicted = True
            while self.available_ram() - needed < self.ram_margin_bytes and self._evict_lru(
                "low memory"
            ):
                evicted = True
        if evicted:
            self._changed()
        on_gpu = (kind == "llama_cpp" and _gpu_offload()) or (kind == "transformers" and _has_gpu())
        free = self.available_ram()
        if not on_gpu and needed > free:
            raise UserError(
                f"{model['name']} needs about {needed / 1e9:.1f} GB of RAM but only "
                f"{free / 1e9:.1f} GB is free; close other programs or models, or pick a smaller "
                "quantization."
            )

    def _enforce(self) -> None:
        evicted = False
        with self._lock:
            while len(self._loaded) > self.max_loaded and self._evict_lru("model cap"):
                evicted = True
            while (
                len(self._loaded) > 1
                and self.available_ram() < self.ram_margin_bytes
                and self._evict_lru("low memory", keep_newest=True)
            ):
                evicted = True
        if evicted:
            self._changed()

    def _evict_lru(self, reason: str, *, keep_newest: bool = False) -> bool:
        candidates = list(self._loaded)
        if keep_newest:
            candidates = candidates[:-1]
        for model_id in candidates:
            if not self._busy.get(model_id):
                self._evict(model_id, reason=reason)
                return True
        return False

    def _evict(self, model_id: str, *, reason: str) -> None:
        runtime = self._loaded.pop(model_id, None)
        self._busy.pop(model_id, None)
        self._unload_requested.discard(model_id)
        if runtime is not None:
            log.info("unloading %s (%s)", model_id, reason)
            runtime.unload()

    def _changed(self) -> None:
        try:
            self.services.notify("chat.loaded_changed", {"loaded": self.loaded()})
        except Exception:  # a dead client must not break generation
            log.exception("chat.loaded_changed notification failed")


def _gpu_offload() -> bool:
    from engine.runtimes.llama_cpp_runtime import gpu_offload_supported

    return gpu_offload_supported()


def _has_gpu() -> bool:
    from engine.core.devices import best_device

    return best_device() != "cpu"
