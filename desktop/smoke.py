"""``hearth --smoke-test``: the steps a new install must get through, timed, as one JSON line.

Open the window; complete the engine handshake; stream a few tokens from the default model (the
bundled Gemma on a fresh data folder); ingest a small text into a new document collection (the
bundled embedder, in a job worker process) and find it by searching; delete the collection again.
Prints ``{"ok": true, "window_s", "handshake_s", "first_token_s", "ingest_s", "search_s",
"tokens", "hits", "frozen", "engine_version", "initialize", "window_visible"}`` -- ``window_s``
and ``handshake_s`` since the
program started, the others per step -- and exits 0; on any failure ``{"ok": false, "step",
"error", "log_tail"}`` and exit 1. Installers and CI run it on the unpacked bundle with an empty
data folder and no network.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from desktop.engine_client import EngineClient
from hearth_common.frozen import is_frozen

TIMEOUT_MS = 600_000  # a cold first start unpacks the bundled model before it can answer
TEXT = (
    "Hearth keeps everything on this computer.\n\n"
    "The lighthouse keeper of Skerryvore logged the storm of 1844 in a green ledger: waves broke "
    "over the lantern gallery and the lamp stayed lit all night.\n\n"
    "Sourdough bread needs flour, water, salt and a starter; it rises slowly overnight.\n"
)
QUERY = "who wrote down the storm at the lighthouse"


def emit(report: dict[str, Any], report_file: str | None = None) -> None:
    """The smoke test's one JSON line: on stdout and, when asked, in ``report_file`` (a windowed
    program has no stdout); a report file that cannot be written is said on stderr."""
    line = json.dumps(report, default=str)
    print(line, flush=True)
    if report_file:
        try:
            Path(report_file).write_text(line + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"hearth: could not write {report_file}: {exc}", file=sys.stderr)


class SmokeTest(QObject):
    """Runs the steps one after the other; ``outcome["code"]`` is the exit code when done."""

    def __init__(self, app: QApplication, client: EngineClient, window: QWidget, started: float, *, report_file: str | None = None) -> None:  # fmt: skip
        super().__init__(app)
        self.report_file = report_file
        self.app, self.client, self.window, self.t0 = app, client, window, started
        self.report: dict[str, Any] = {"ok": False, "frozen": is_frozen()}
        self.outcome = {"code": 1}
        self.step = "window"
        self.folder = Path(tempfile.mkdtemp(prefix="hearth-smoke-"))
        self.collection: str | None = None
        client.sig_ready.connect(self._ready)
        client.sig_failed.connect(lambda reason: self._fail(f"the engine failed: {reason}"))
        QTimer.singleShot(TIMEOUT_MS, lambda: self._fail(f"not done within {TIMEOUT_MS // 1000} s"))  # fmt: skip

    def window_shown(self) -> None:
        self.report["window_s"] = self._since_start()
        self.step = "handshake"

    # -- steps ---------------------------------------------------------------------------------
    def _ready(self, reply: dict[str, Any]) -> None:
        if "handshake_s" in self.report:
            return  # a restarted engine: the steps are already under way
        self.report["handshake_s"] = self._since_start()
        self.report["engine_version"] = reply.get("engine_version")
        self.report["initialize"] = reply
        self._generate()

    def _generate(self) -> None:
        self.step = "first token"
        started, tokens = time.perf_counter(), {"n": 0}

        def delta(_params: dict[str, Any]) -> None:
            tokens["n"] += 1
            self.report.setdefault("first_token_s", round(time.perf_counter() - started, 3))

        def done(result: dict[str, Any]) -> None:
            self.report["tokens"] = (result.get("usage") or {}).get("completion_tokens")
            if not result.get("text") or "first_token_s" not in self.report:
                self._fail(f"the model answered nothing ({result.get('finish_reason')})")
                return
            self._ingest()

        params = {"max_tokens": 8, "temperature": 0.0}
        call = self.client.call("chat.generate", {"messages": [{"role": "user", "content": "Say hello."}], "params": params})  # fmt: skip
        self._follow(call.on_progress(delta), done)

    def _ingest(self) -> None:
        self.step = "ingest"
        text = self.folder / "lighthouse.txt"
        text.write_text(TEXT, encoding="utf-8")
        started = time.perf_counter()

        def created(collection: dict[str, Any]) -> None:
            self.collection = collection["id"]
            job = self.client.start_job("docs.ingest", {"id": self.collection, "paths": [str(text)]})  # fmt: skip
            job.sig_finished.connect(lambda _r: self._search(started))
            job.sig_failed.connect(lambda error: self._fail(f"ingest failed: {error}"))

        name = f"smoke test {int(time.time())}"
        self._follow(self.client.call("docs.create", {"name": name}), created)

    def _search(self, ingest_started: float) -> None:
        self.report["ingest_s"] = round(time.perf_counter() - ingest_started, 3)
        self.step = "search"
        started = time.perf_counter()

        def found(result: dict[str, Any]) -> None:
            self.report["search_s"] = round(time.perf_counter() - started, 3)
            hits = result.get("results") or []
            self.report["hits"] = len(hits)
            if not hits or "Skerryvore" not in (hits[0].get("text") or ""):
                self._fail(f"the search did not find the ingested text first ({len(hits)} hits)")
                return
            self._clean_up()

        self._follow(self.client.call("docs.search", {"id": self.collection, "query": QUERY, "k": 2}), found)  # fmt: skip

    def _clean_up(self) -> None:
        self.step = "clean up"

        def deleted(_result: Any) -> None:
            self.collection = None
            self.report["ok"] = True
            self.outcome["code"] = 0
            self._finish()

        self._follow(self.client.call("docs.delete", {"id": self.collection}), deleted)

    # -- plumbing ------------------------------------------------------------------------------
    def _follow(self, call: Any, then: Callable[[Any], None]) -> None:
        call.on_success(then)
        call.on_failure(lambda error: self._fail(str(error)))

    def _since_start(self) -> float:
        return round(time.perf_counter() - self.t0, 3)

    def _fail(self, error: str) -> None:
        if self.report.get("ok") or "error" in self.report:
            return
        self.report.update(step=self.step, error=error, log_tail=self.client.log_tail(10))
        if self.collection:  # leave no collection behind in the user's data folder
            self.client.call("docs.delete", {"id": self.collection})
        self._finish()

    def _finish(self) -> None:
        emit(self.report, self.report_file)
        shutil.rmtree(self.folder, ignore_errors=True)  # the small text it ingested
        QTimer.singleShot(200, self.app.quit)
