"""One thread for llama.cpp's compute in this process.

llama.cpp's CPU backend parallelises with OpenMP, and libgomp keeps a team of worker threads for
every thread that ever started a parallel region, until that thread exits. A handler thread of
the local API lives as long as its client's keep-alive connection, so a single non-streaming
request from the ``openai`` client left a second team behind, idle; with more OpenMP threads than
cores, libgomp stops spinning at its barriers and sleeps instead, and every later token paid the
wake-ups: streaming ran at 0.68-0.78x raw llama-cpp-python until the idle connection closed.

So every decode of every model in the engine runs here, on one long-lived thread: one team,
whatever thread asked. Work is queued in small units (one token's step, one embedding batch), so a
chat and an ingestion still take turns instead of waiting for each other to finish.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class NativeThread:
    def __init__(self, name: str = "llama-compute") -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], list[Any], threading.Event]] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            fn, box, done = self._queue.get()
            try:
                box.append((True, fn()))
            except BaseException as exc:  # handed back to the caller, raised there
                box.append((False, exc))
            done.set()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` run on the compute thread; its result, or its exception
        raised here. Called from the compute thread itself, it runs at once."""
        if threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        box: list[Any] = []
        done = threading.Event()
        self._queue.put((lambda: fn(*args, **kwargs), box, done))
        done.wait()
        ok, value = box[0]
        if ok:
            return value
        raise value


_shared: NativeThread | None = None
_lock = threading.Lock()


def compute() -> NativeThread:
    """The process's compute thread (started on first use)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = NativeThread()
        return _shared


def step(iterator: Any) -> Any:
    """The next item of ``iterator``, computed on the compute thread; ``None`` at its end
    (llama.cpp's token generators never yield None)."""
    return compute().call(next, iterator, None)
