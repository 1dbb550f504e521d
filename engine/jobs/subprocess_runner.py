"""The engine's side of a worker subprocess: start it, relay what it reports, stop it.

The worker (``python -m engine.jobs.worker``) gets the job on its stdin as one JSON line and
reports JSON lines on its stdout: progress, metrics, log, and finally exactly one of result,
error or cancelled. Cancelling writes ``{"type": "cancel"}`` to its stdin and, if it has not
stopped after a grace period, kills it. A worker that dies without a final message (segfault,
OOM killer) fails its job with the exit status and the tail of its stderr.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

from engine.core.errors import Cancelled, UserError
from hearth_common.frozen import no_console_flags, worker_command

CANCEL_GRACE_S = 10.0


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if -code == getattr(signal, "SIGKILL", 9):
            return f"was killed ({name}); this usually means the system ran out of memory"
        return f"crashed ({name})"
    return f"exited with code {code}"


def run_in_worker(job: Any, root: Path) -> Any:
    """Run ``job`` (a RunningJob) in a worker subprocess and return its result."""
    from engine.core.errors import JobFailed

    env = dict(os.environ, HEARTH_HOME=str(root), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        worker_command(),  # a bundle runs ``hearth-engine worker``
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        creationflags=no_console_flags(),  # Windows: no console window for a windowed app's worker
    )
    spec = {"job_id": job.job_id, "kind": job.kind, "params": job.params, "attempt": job.attempt}
    proc.stdin.write((json.dumps(spec) + "\n").encode())
    proc.stdin.flush()

    stderr_tail: collections.deque[str] = collections.deque(maxlen=40)

    def pump_stderr() -> None:
        for raw in proc.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip()
            if line:
                stderr_tail.append(line)
                job.log(line, "stderr")

    stderr_thread = threading.Thread(
        target=pump_stderr, name=f"worker-stderr-{job.job_id}", daemon=True
    )
    stderr_thread.start()

    def watch_cancel() -> None:
        job.cancel_event.wait()
        if proc.poll() is not None:
            return
        try:
            proc.stdin.write(b'{"type": "cancel"}\n')
            proc.stdin.flush()
        except OSError:
            pass
        try:
            proc.wait(CANCEL_GRACE_S)
        except subprocess.TimeoutExpired:
            job.log(
                f"Worker did not stop within {CANCEL_GRACE_S:.0f} s of the cancel; killing it.",
                "warning",
            )
            proc.kill()

    threading.Thread(target=watch_cancel, name=f"worker-cancel-{job.job_id}", daemon=True).start()

    final: dict[str, Any] | None = None
    for raw in proc.stdout:
        try:
            msg = json.loads(raw)
        except ValueError:
            job.log(raw.decode("utf-8", errors="replace").rstrip(), "stdout")
            continue
        kind = msg.get("type")
        if kind == "progress":
            job.progress(msg.get("fraction"), msg.get("message"))
        elif kind == "metrics":
            job.metrics(msg["step"], msg["values"])
        elif kind == "log":
            job.log(msg["message"], msg.get("level", "info"))
        elif kind in ("result", "error", "cancelled"):
            final = msg
    code = proc.wait()
    stderr_thread.join(5)
    try:
        proc.stdin.close()
    except OSError:
        pass

    if final is None:
        if job.cancelled():
            raise Cancelled(None)
        tail = "\n".join(stderr_tail)
        raise JobFailed(
            f"The worker process {_describe_exit(code)}."
            + (f" Last output:\n{tail}" if tail else "")
        )
    if final["type"] == "result":
        return final.get("value")
    if final["type"] == "cancelled":
        raise Cancelled(final.get("partial"))
    if final.get("user"):
        raise UserError(final["message"])
    raise JobFailed(final["message"])
