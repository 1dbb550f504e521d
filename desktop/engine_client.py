"""``EngineClient``: the one choke point between the GUI and the engine process.

It starts ``python -m engine serve`` with ``QProcess``, speaks JSON-RPC over its stdio (see
docs/PROTOCOL.md), and turns the process's life into signals: ready, notifications, crashed,
restarting, failed. ``call()`` never blocks; it returns a ``Call`` whose signals fire later on
the GUI thread. A dead engine fails its pending calls with ``EngineCrashedError``, a silent one
(no answer to pings) is killed and fails them with ``EngineHungError``; either way the client
restarts the engine with exponential backoff until too many restarts in a short window, then
stays ``failed`` until ``restart()`` is asked for.
"""

from __future__ import annotations

import collections
import json
import logging
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from desktop.errors import (
    EngineCrashedError,
    EngineError,
    EngineHungError,
    EngineUnavailableError,
    RemoteError,
    from_response,
)
from hearth_common.frozen import engine_command, hide_console

PROTOCOL_VERSION = 1
CONSENT_NEEDED = -32010  # text would go to a model server the user has not confirmed
log = logging.getLogger(__name__)


class EngineState(str, Enum):
    STARTING = "starting"
    READY = "ready"
    CRASHED = "crashed"
    RESTARTING = "restarting"
    STOPPED = "stopped"
    FAILED = "failed"


class Call(QObject):
    """One pending request. Connect to its signals, or use the fluent helpers."""

    sig_progress = Signal(object)
    """A notification tagged with this request's id (e.g. ``chat.delta``)."""
    sig_partial = Signal(object)
    """Partial data delivered when the call was cancelled."""
    sig_finished = Signal(object)
    """The call succeeded; the argument is the result."""
    sig_failed = Signal(object)
    """The call failed; the argument is an ``EngineError``."""

    def __init__(self, client: EngineClient, request_id: int, method: str) -> None:
        # No Qt parent: a Call lives as long as Python holds it (the client's pending table,
        # then whoever connected to it), so nothing is deleted under a queued signal.
        super().__init__()
        self._client = client
        self.id = request_id
        self.method = method
        self.done = False
        self.result: Any = None
        self.error: EngineError | None = None
        self.params: dict[str, Any] = {}

    def cancel(self) -> None:
        """Ask the engine to stop this request; it then fails with ``CancelledError``."""
        if not self.done:
            self._client.notify("$/cancel", {"id": self.id})

    def on_success(self, callback: Callable[[Any], None]) -> Call:
        self.sig_finished.connect(callback)
        return self

    def on_failure(self, callback: Callable[[EngineError], None]) -> Call:
        self.sig_failed.connect(callback)
        return self

    def on_progress(self, callback: Callable[[dict], None]) -> Call:
        self.sig_progress.connect(callback)
        return self

    def _finish(self, result: Any) -> None:
        if self.done:
            return
        self.done, self.result = True, result
        self.sig_finished.emit(result)

    def _fail(self, error: EngineError) -> None:
        if self.done:
            return
        self.done, self.error = True, error
        if error.data is not None and error.code == -32800:
            self.sig_partial.emit(error.data)
        self.sig_failed.emit(error)


_ENDED = ("succeeded", "failed", "cancelled", "interrupted")


class JobHandle(QObject):
    """A job started with ``EngineClient.start_job``: its progress, metrics and log as signals,
    and its outcome from the end notification (no ``jobs.get`` afterwards).

    Notifications of the job that arrive before the start call has answered (a quick job can end
    first) are kept and replayed once the job id is known, so none is lost.
    """

    sig_started = Signal(object)
    """The start call answered; the argument is its whole result (``{"job": Job, ...}``, or the
    Job itself for ``jobs.resume``)."""
    sig_progress = Signal(object)
    """``job.progress`` begin/report params of this job."""
    sig_metrics = Signal(object)
    sig_log = Signal(object)
    sig_finished = Signal(object)
    """The job succeeded; the argument is its result."""
    sig_failed = Signal(object)
    """The start call was refused (an ``EngineError``) or the job failed, was cancelled or was
    interrupted (a ``JobFailure``)."""

    def __init__(self, client: EngineClient, method: str) -> None:
        super().__init__()
        self._client = client
        self.method = method
        self.job_id: str | None = None
        self.started: dict[str, Any] | None = None
        self.job: dict[str, Any] = {}
        self.done = False
        self.state: str | None = None
        self.result: Any = None
        self._early: list[tuple[str, dict[str, Any]]] = []

    def cancel(self) -> Call | None:
        if self.job_id is None or self.done:
            return None
        return self._client.call("jobs.cancel", {"id": self.job_id})

    # -- fed by the client ---------------------------------------------------------------------
    def _on_started(self, reply: dict[str, Any]) -> None:
        self.started = reply
        self.job = reply.get("job") or reply  # a start method's {"job": Job}; jobs.resume's Job
        self.job_id = self.job.get("id")
        self.sig_started.emit(reply)
        early, self._early = self._early, []
        for method, params in early:
            if params.get("job_id") == self.job_id:
                self._route(method, params)
        if not self.done and self.job.get("state") in _ENDED:
            # followed with jobs.get after it had ended: no end notification is coming
            self._route("job.progress", {"job_id": self.job_id, "kind": "end", "state": self.job["state"],
                                         "result": self.job.get("result"), "error": self.job.get("error")})  # fmt: skip

    def _on_refused(self, error: EngineError) -> None:
        self.done = True
        self._client._forget_job(self)
        self.sig_failed.emit(error)

    def _feed(self, method: str, params: dict[str, Any]) -> None:
        if self.done:
            return
        if self.job_id is None:
            self._early.append((method, params))
        elif params.get("job_id") == self.job_id:
            self._route(method, params)

    def _route(self, method: str, params: dict[str, Any]) -> None:
        if method == "job.metrics":
            self.sig_metrics.emit(params)
        elif method == "job.log":
            self.sig_log.emit(params)
        elif params.get("kind") != "end":
            self.sig_progress.emit(params)
        else:
            self.done = True
            self.state = params.get("state")
            self._client._forget_job(self)
            if self.state == "succeeded":
                self.result = params.get("result")
                self.sig_finished.emit(self.result)
            else:
                self.sig_failed.emit(JobFailure(self.state or "failed", params.get("error") or params.get("message")))  # fmt: skip


class JobFailure(Exception):
    """A job that ended other than succeeded: ``state`` (failed, cancelled, interrupted)."""

    def __init__(self, state: str, message: str | None) -> None:
        super().__init__(message or f"The job was {state}.")
        self.state = state
        self.message = message or f"The job was {state}."


class EngineClient(QObject):
    sig_state_changed = Signal(str)
    """The connection state changed (an ``EngineState`` value)."""
    sig_ready = Signal(object)
    """The engine answered ``initialize``; the argument is its reply."""
    sig_notification = Signal(str, object)
    """Any notification from the engine: method, params."""
    sig_job_progress = Signal(object)
    """A ``job.progress`` notification."""
    sig_job_metrics = Signal(object)
    """A ``job.metrics`` notification."""
    sig_job_log = Signal(object)
    """A ``job.log`` notification."""
    sig_models_changed = Signal()
    """The model library changed."""
    sig_crashed = Signal(str, str)
    """The engine died or hung: log tail, native crash text (may be empty)."""
    sig_failed = Signal(str)
    """The engine could not be (re)started; the argument says why."""

    def __init__(self, parent: QObject | None = None, *, command: list[str] | None = None,
                 env: dict[str, str] | None = None, heartbeat_interval_ms: int = 3000,
                 heartbeat_timeout_ms: int = 15000, max_restarts: int = 5,
                 restart_window_s: float = 120.0,
                 backoff_s: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)) -> None:  # fmt: skip
        super().__init__(parent)
        self._command = command or engine_command("serve")  # the bundle's hearth-engine
        self._env = env or {}
        self._heartbeat_timeout = heartbeat_timeout_ms / 1000
        self._max_restarts = max_restarts
        self._restart_window = restart_window_s
        self._backoff = backoff_s
        self._restarts: collections.deque[float] = collections.deque()
        self._process: QProcess | None = None
        self._retired: list[QProcess] = []
        self._buffer = b""
        self._err_buffer = b""
        self._next_id = 1
        self._pending: dict[int, Call] = {}
        self._jobs: list[JobHandle] = []
        self._queued: list[bytes] = []  # requests made before the handshake finished
        self._ping_id: int | None = None
        self._ping_sent = 0.0
        self._init_id: int | None = None
        self._stopping = False
        self._hung = False
        self.state = EngineState.STOPPED
        self.init_reply: dict[str, Any] | None = None
        self.failure_reason = ""
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self.garbage_lines = 0
        # a call needing the user's consent to reach a model server: see desktop.remote_consent
        self.on_consent_needed: Callable[[Call, EngineError], None] | None = None
        self._heartbeat = QTimer(self)
        self._heartbeat.setInterval(heartbeat_interval_ms)
        self._heartbeat.timeout.connect(self._beat)
        self._restart_timer = QTimer(self)
        self._restart_timer.setSingleShot(True)
        self._restart_timer.timeout.connect(self._spawn)

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._restarts.clear()
        self._spawn()

    def restart(self) -> None:
        """Start again after a failure (user action); resets the restart budget."""
        self._kill()
        self.start()

    def stop(self, timeout_ms: int = 5000) -> None:
        """Ask the engine to shut down, then make sure it is gone. Blocks up to ``timeout_ms``."""
        self._stopping = True
        self._heartbeat.stop()
        self._restart_timer.stop()
        proc = self._process
        if proc is not None and proc.state() != QProcess.ProcessState.NotRunning:
            self._write(
                {"jsonrpc": "2.0", "id": self._take_id(), "method": "shutdown", "params": {}}
            )
            proc.closeWriteChannel()
            if not proc.waitForFinished(timeout_ms):
                proc.kill()
                proc.waitForFinished(1000)
        self._fail_pending(EngineUnavailableError("The engine was stopped."))
        self._set_state(EngineState.STOPPED)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(list(self.stderr_tail)[-lines:])

    def _spawn(self) -> None:
        self._kill()
        self._buffer = self._err_buffer = b""
        self._hung = False
        self._ping_id = None
        self.init_reply = None
        self._set_state(EngineState.STARTING)
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        for key, value in self._env.items():
            env.insert(key, value)
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(lambda code, status, p=proc: self._on_exit(p, code))
        proc.errorOccurred.connect(lambda err, p=proc: self._on_error(p, err))
        hide_console(proc)  # Windows: the engine is a console program, opened without a window
        self._process = proc
        proc.start(self._command[0], self._command[1:])
        self._init_id = self._take_id()
        self._write(
            {
                "jsonrpc": "2.0",
                "id": self._init_id,
                "method": "initialize",
                "params": {"protocol_version": PROTOCOL_VERSION, "client": "hearth-desktop"},
            }
        )

    def _kill(self) -> None:
        proc, self._process = self._process, None
        if proc is not None:
            self._retired.append(proc)
        # Processes are released here, outside their own signal handlers: disconnect, make
        # sure they are gone, and let Python free them. (deleteLater plus a client collected
        # by the GC before the event loop ran crashed PySide.)
        retired, self._retired = self._retired, []
        for old in retired:
            for signal in (
                old.finished,
                old.errorOccurred,
                old.readyReadStandardOutput,
                old.readyReadStandardError,
            ):
                try:
                    signal.disconnect()
                except (RuntimeError, TypeError):
                    pass
            if old.state() != QProcess.ProcessState.NotRunning:
                old.kill()
                old.waitForFinished(2000)
            old.setParent(None)

    def _on_error(self, proc: QProcess, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and proc is self._process:
            self.stderr_tail.append(
                f"Could not start the engine: {' '.join(self._command)} ({proc.errorString()})"
            )
            self._on_exit(proc, -1)

    def _on_exit(self, proc: QProcess, code: int) -> None:
        if proc is not self._process:
            return
        self._read_stdout()
        self._read_stderr()
        self._heartbeat.stop()
        self._process = None
        self._retired.append(proc)  # deleted with the client or at the next start, never mid-signal
        if self._stopping:
            self._set_state(EngineState.STOPPED)
            return
        if self._hung:
            error: EngineError = EngineHungError("The engine stopped responding and was restarted.")
        else:
            error = EngineCrashedError(f"The engine stopped unexpectedly (exit code {code}).")
        self._fail_pending(error)
        self._set_state(EngineState.CRASHED)
        self.sig_crashed.emit(self.log_tail(), self._crash_text())
        self._schedule_restart()

    def _schedule_restart(self) -> None:
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > self._restart_window:
            self._restarts.popleft()
        if len(self._restarts) >= self._max_restarts:
            self.failure_reason = (
                f"The engine failed {len(self._restarts) + 1} times in a row; Hearth stopped restarting it. "
                "See the log below, then use Restart engine."
            )
            self._set_state(EngineState.FAILED)
            self.sig_failed.emit(self.failure_reason)
            return
        delay = self._backoff[min(len(self._restarts), len(self._backoff) - 1)]
        self._restarts.append(now)
        self._set_state(EngineState.RESTARTING)
        self._restart_timer.start(int(delay * 1000))

    @property
    def restart_attempt(self) -> int:
        return len(self._restarts)

    def _crash_text(self) -> str:
        path = (self.init_reply or {}).get("crash_file")
        if not path:
            return ""
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""

    def _set_state(self, state: EngineState) -> None:
        if state != self.state:
            self.state = state
            self.sig_state_changed.emit(state.value)

    # -- calls ----------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any] | None = None) -> Call:
        """Send a request; the returned ``Call`` reports the outcome."""
        request_id = self._take_id()
        call = Call(self, request_id, method)
        call.params = params or {}
        if self.state in (EngineState.FAILED, EngineState.STOPPED):
            reason = self.failure_reason or "The engine is not running."
            QTimer.singleShot(0, lambda: call._fail(EngineUnavailableError(reason)))
            return call
        self._pending[request_id] = call
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
        if self.state == EngineState.READY:
            self._write(message)
        else:
            self._queued.append(self._encode(message))
        return call

    def start_job(self, method: str, params: dict[str, Any] | None = None) -> JobHandle:
        """Call a method that starts a job (it answers ``{"job": Job, ...}``) and follow it."""
        handle = JobHandle(self, method)
        self._jobs.append(handle)
        self.call(method, params).on_success(handle._on_started).on_failure(handle._on_refused)
        return handle

    def follow_job(self, job_id: str) -> JobHandle:
        """Follow a job started earlier (found in ``jobs.list`` or a collection's record)."""
        return self.start_job("jobs.get", {"id": job_id})

    def resume_job(self, job_id: str) -> JobHandle:
        """Re-queue a stopped resumable job and follow it again."""
        return self.start_job("jobs.resume", {"id": job_id})

    def _forget_job(self, handle: JobHandle) -> None:
        if handle in self._jobs:
            self._jobs.remove(handle)

    def notify(self, method: str, params: dict[str, Any]) -> None:
        if self.state == EngineState.READY:
            self._write({"jsonrpc": "2.0", "method": method, "params": params})

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id

    @staticmethod
    def _encode(message: dict[str, Any]) -> bytes:
        return (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")

    def _write(self, message: dict[str, Any] | bytes) -> None:
        proc = self._process
        if proc is None:
            return
        proc.write(message if isinstance(message, bytes) else self._encode(message))

    def _fail_pending(self, error: EngineError) -> None:
        pending, self._pending = self._pending, {}
        self._queued.clear()
        for call in pending.values():
            call._fail(error)
        # a job whose start was answered: its engine is gone, so no end notification will come
        for handle in [h for h in self._jobs if h.job_id is not None]:
            handle._route("job.progress", {"job_id": handle.job_id, "kind": "end", "state": "interrupted",
                                           "error": f"{error.message} The job was interrupted; see Activity."})  # fmt: skip

    # -- input ----------------------------------------------------------------------------

    def _read_stdout(self) -> None:
        proc = self._process
        if proc is None:
            return
        self._buffer += bytes(proc.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self._handle_line(line)

    def _read_stderr(self) -> None:
        proc = self._process
        if proc is None:
            return
        self._err_buffer += bytes(proc.readAllStandardError())
        *lines, self._err_buffer = self._err_buffer.split(b"\n")
        for line in lines:
            self.stderr_tail.append(line.decode("utf-8", errors="replace").rstrip())

    def _handle_line(self, line: bytes) -> None:
        try:
            message = json.loads(line)
            if not isinstance(message, dict):
                raise ValueError("not an object")
        except ValueError:
            self.garbage_lines += 1
            text = line.decode("utf-8", errors="replace")[:200]
            self.stderr_tail.append(f"[not JSON-RPC on stdout] {text}")
            log.warning("ignored a line from the engine that is not JSON-RPC: %r", text)
            return
        if "method" in message:
            self._on_notification(message["method"], message.get("params") or {})
            return
        request_id = message.get("id")
        if request_id == self._init_id:
            self._on_initialized(message)
            return
        if request_id == self._ping_id:
            self._ping_id = None
            return
        call = self._pending.pop(request_id, None)
        if call is None:
            return
        if "error" in message:
            error = from_response(message["error"] or {})
            if error.code == CONSENT_NEEDED and self.on_consent_needed is not None:
                self.on_consent_needed(call, error)
                return
            call._fail(error)
        else:
            call._finish(message.get("result"))

    def _on_initialized(self, message: dict[str, Any]) -> None:
        self._init_id = None
        if "error" in message:
            error = from_response(message["error"] or {})
            self._stopping = True  # a version mismatch will not fix itself by restarting
            self.failure_reason = error.message
            self._fail_pending(EngineUnavailableError(error.message))
            self._kill()
            self._set_state(EngineState.FAILED)
            self.sig_failed.emit(error.message)
            return
        reply = message.get("result") or {}
        if reply.get("protocol_version") != PROTOCOL_VERSION:
            self._on_initialized(
                {
                    "error": {
                        "code": -32001,
                        "message": (
                            f"The engine speaks protocol {reply.get('protocol_version')} but this app speaks "
                            f"{PROTOCOL_VERSION}; reinstall Hearth so both match."
                        ),
                    }
                }
            )
            return
        self.init_reply = reply
        self._set_state(EngineState.READY)
        queued, self._queued = self._queued, []
        for data in queued:
            self._write(data)
        self._ping_sent = time.monotonic()
        self._heartbeat.start()
        self.sig_ready.emit(reply)

    def _on_notification(self, method: str, params: dict[str, Any]) -> None:
        request_id = params.get("id") if isinstance(params, dict) else None
        if request_id is not None and request_id in self._pending:
            self._pending[request_id].sig_progress.emit(params)
        if method in ("job.progress", "job.metrics", "job.log"):
            for handle in list(self._jobs):
                handle._feed(method, params)
        if method == "job.progress":
            self.sig_job_progress.emit(params)
        elif method == "job.metrics":
            self.sig_job_metrics.emit(params)
        elif method == "job.log":
            self.sig_job_log.emit(params)
        elif method == "models.changed":
            self.sig_models_changed.emit()
        self.sig_notification.emit(method, params)

    # -- heartbeat ------------------------------------------------------------------------

    def _beat(self) -> None:
        if self.state != EngineState.READY or self._process is None:
            return
        now = time.monotonic()
        if self._ping_id is not None:
            if now - self._ping_sent > self._heartbeat_timeout:
                self._hung = True
                self.stderr_tail.append(
                    f"[no answer to ping for {now - self._ping_sent:.0f} s: restarting the engine]"
                )
                self._process.kill()
            return
        self._ping_id = self._take_id()
        self._ping_sent = now
        self._write({"jsonrpc": "2.0", "id": self._ping_id, "method": "ping", "params": {}})


__all__ = ["Call", "EngineClient", "EngineState", "JobFailure", "JobHandle", "RemoteError"]
