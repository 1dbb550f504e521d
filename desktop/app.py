"""``hearth``: start the window and the engine.

hearth                      open Hearth
hearth --smoke-test         open the window, start the engine, wait for its handshake, print
                            one JSON line ({"ok", "initialize", "window_visible", "elapsed_s"})
                            and exit 0 (1 on failure); used by installers and tests
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time

T0 = time.perf_counter()  # as early as possible: the smoke test reports time since launch

from PySide6.QtCore import QElapsedTimer, QObject, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop.engine_client import EngineClient  # noqa: E402
from desktop.main_window import MainWindow  # noqa: E402

log = logging.getLogger("desktop")
SMOKE_TIMEOUT_MS = 90_000


class StallWatchdog(QObject):
    """Logs a warning when the GUI thread was blocked longer than ``threshold_ms``."""

    def __init__(self, threshold_ms: int = 200, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.threshold_ms = threshold_ms
        self.worst_ms = 0
        self._interval = 50
        self._clock = QElapsedTimer()
        self._clock.start()
        self._timer = QTimer(self)
        self._timer.setInterval(self._interval)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        late = self._clock.restart() - self._interval
        self.worst_ms = max(self.worst_ms, late)
        if late > self.threshold_ms:
            log.warning("the GUI thread was blocked for %d ms", late)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hearth", description="Hearth: an offline workbench for local LLMs."
    )
    parser.add_argument(
        "--smoke-test",
        action="store_true",
        help="start, wait for the engine handshake, print one JSON line, exit",
    )
    parser.add_argument(
        "--engine-command",
        help="command that starts the engine (default: hearth-engine serve, the bundle's own or this Python's)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Hearth")
    app.setOrganizationName("Hearth")
    app.setApplicationDisplayName("Hearth")
    command = shlex.split(args.engine_command) if args.engine_command else None
    client = EngineClient(app, command=command)
    window = MainWindow(client)
    StallWatchdog(parent=app)
    outcome = {"code": 0}

    if args.smoke_test:

        def report(payload: dict) -> None:
            print(json.dumps(payload, default=str), flush=True)

        def ready(reply: dict) -> None:
            report(
                {
                    "ok": True,
                    "initialize": reply,
                    "window_visible": window.isVisible(),
                    "elapsed_s": round(time.perf_counter() - T0, 3),
                }
            )
            app.quit()

        def failed(reason: str) -> None:
            report({"ok": False, "error": reason, "log_tail": client.log_tail(10)})
            outcome["code"] = 1
            app.quit()

        client.sig_ready.connect(ready)
        client.sig_failed.connect(failed)
        QTimer.singleShot(
            SMOKE_TIMEOUT_MS,
            lambda: failed(f"no engine handshake within {SMOKE_TIMEOUT_MS // 1000} s"),
        )

    window.show()
    client.start()
    app.exec()
    window.save_state()
    client.stop()
    return outcome["code"]


if __name__ == "__main__":
    raise SystemExit(main())
