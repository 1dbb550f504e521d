"""Worker subprocess for torch-heavy jobs: ``python -m engine.jobs.worker``.

Reads one JSON line (``{"job_id", "kind", "params", "attempt"}``) from stdin, runs the job kind,
and reports on a private copy of fd 1 (fd 1 itself goes to stderr, so native prints cannot
corrupt the channel). Later stdin lines may say ``{"type": "cancel"}``; stdin closing means the
engine is gone, which cancels the job and, if it does not stop, ends the process.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import threading
import traceback
from typing import Any

ORPHAN_GRACE_S = 30.0


class _Channel:
    """The report pipe to the engine. Once the engine is gone (the pipe broke) reports are
    dropped, and ``lost`` is set: the job is told to stop as the engine's death would."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self.lost = threading.Event()

    def send(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg, default=str) + "\n").encode()
        with self._lock:
            if self.lost.is_set():
                return
            view = memoryview(data)
            try:
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
            except (BrokenPipeError, ConnectionResetError):
                self.lost.set()


class WorkerContext:
    def __init__(self, channel: _Channel, spec: dict[str, Any]) -> None:
        self.channel = channel
        self.job_id = spec["job_id"]
        self.params = spec.get("params") or {}
        self.attempt = spec.get("attempt", 1)
        self.cancel_event = threading.Event()

    @functools.cached_property
    def services(self) -> Any:
        from engine.services import Services

        return Services()

    def progress(self, fraction: float | None, message: str | None = None) -> None:
        self.channel.send({"type": "progress", "fraction": fraction, "message": message})

    def metrics(self, step: int, values: dict[str, float]) -> None:
        self.channel.send(
            {
                "type": "metrics",
                "step": int(step),
                "values": {k: float(v) for k, v in values.items()},
            }
        )

    def log(self, message: str, level: str = "info") -> None:
        self.channel.send({"type": "log", "message": message, "level": level})

    def cancelled(self) -> bool:
        if self.channel.lost.is_set():
            self.cancel_event.set()
        return self.cancel_event.is_set()

    def check_cancelled(self, partial: Any = None) -> None:
        from engine.core.errors import Cancelled

        if self.cancelled():
            raise Cancelled(partial)

    def engine_gone(self) -> bool:
        """True when the job stops because the engine died (not because a user cancelled): the
        engine's next start marks the job interrupted, so the job's own records should too."""
        return self.channel.lost.is_set()


def _listen(ctx: WorkerContext) -> None:
    for raw in sys.stdin.buffer:
        try:
            if json.loads(raw).get("type") == "cancel":
                ctx.cancel_event.set()
        except ValueError:
            continue
    # stdin closed: the engine is gone. Stop the job; if it ignores that, leave anyway.
    ctx.channel.lost.set()
    ctx.cancel_event.set()
    timer = threading.Timer(ORPHAN_GRACE_S, lambda: os._exit(3))
    timer.daemon = True
    timer.start()


def _warnings_to_file() -> None:
    """Python warnings raised by libraries in a job go to ``logs/worker.log``, not to the job."""
    from engine.core.paths import data_root_path

    logging.captureWarnings(True)
    captured = logging.getLogger("py.warnings")
    captured.propagate = False
    try:
        folder = data_root_path() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(folder / "worker.log", encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(message)s"))
    captured.addHandler(handler)


def main() -> int:
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    channel = _Channel(proto_fd)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # The job's log is what the job says; libraries' progress bars and warnings are not (they
    # go to logs/worker.log). The worker's stderr stays for what explains a crash.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    _warnings_to_file()
    import faulthandler

    faulthandler.enable(file=sys.stderr)

    line = sys.stdin.buffer.readline()
    if not line:
        return 2
    spec = json.loads(line)
    ctx = WorkerContext(channel, spec)
    threading.Thread(target=_listen, args=(ctx,), name="worker-stdin", daemon=True).start()

    from engine.core.errors import Cancelled, UserError
    from engine.jobs.registry import get_kind

    try:
        result = get_kind(spec["kind"]).run(ctx)
    except Cancelled as exc:
        channel.send({"type": "cancelled", "partial": exc.partial})
    except UserError as exc:
        channel.send({"type": "error", "message": exc.message, "user": True})
    except MemoryError:
        channel.send(
            {
                "type": "error",
                "message": "Ran out of memory; choose a smaller model, batch or sequence length.",
                "user": True,
            }
        )
    except Exception as exc:
        from engine.core.space import as_user_error, is_disk_full

        if is_disk_full(exc):
            channel.send({"type": "error", "message": as_user_error(exc).message, "user": True})
            return 0
        traceback.print_exc()
        channel.send(
            {
                "type": "error",
                "message": f"Internal error: {type(exc).__name__}: {exc}",
                "user": False,
            }
        )
    else:
        channel.send({"type": "result", "value": result})
    return 0


if __name__ == "__main__":
    code = main()
    # The outcome is sent and every file the job wrote is closed. Skip the interpreter's teardown
    # (freeing a loaded model's tensors one by one takes seconds, and the engine waits for this
    # process to end before it reports the job done), as multiprocessing's children do.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
