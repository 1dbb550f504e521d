"""``hearth``: start the window and the engine.

hearth                      open Hearth
hearth --smoke-test         open the window, complete the engine handshake, stream a few tokens,
                            ingest and search a small text, print one JSON line with the timings
                            (``desktop.smoke``) and exit 0 (1 on failure); used by installers,
                            CI and tests

An unwritable data folder is said before anything starts: the app offers to choose another one
(Preferences remembers it), else exits with code 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from pathlib import Path

T0 = time.perf_counter()  # as early as possible: the smoke test reports time since launch

from PySide6.QtCore import QElapsedTimer, QObject, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from desktop.engine_client import EngineClient  # noqa: E402
from desktop.main_window import MainWindow  # noqa: E402
from desktop.single_instance import SingleInstance  # noqa: E402
from desktop.smoke import SmokeTest, emit  # noqa: E402
from hearth_common import location  # noqa: E402

log = logging.getLogger("desktop")
EXIT_DATA_FOLDER = 2  # the data folder cannot be written (and no other was chosen)


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
        help="check this install: window, engine handshake, a few tokens from the bundled model, "
        "ingest and search a small text; print one JSON line with the timings and exit",
    )
    parser.add_argument(
        "--smoke-report",
        metavar="FILE",
        help="also write the smoke test's JSON line to FILE (a windowed program has no stdout)",
    )
    parser.add_argument(
        "--engine-command",
        help="command that starts the engine (default: hearth-engine serve, the bundle's own or this Python's)",
    )
    return parser.parse_args(argv)


def check_data_folder(smoke: bool, report_file: str | None = None) -> int | None:
    """None when the data folder can be written; else the message shown (a dialog that offers
    to choose another folder, or the smoke test's JSON line) and exit code 2 unless one is
    chosen."""
    while (problem := location.unwritable(location.current_folder())) is not None:
        if smoke or os.environ.get("HEARTH_HOME"):  # nothing to choose: HEARTH_HOME decides
            hint = "set HEARTH_HOME to a folder you can write to" if os.environ.get("HEARTH_HOME") else "choose another data folder"  # fmt: skip
            if smoke:
                emit({"ok": False, "step": "data folder", "error": f"{problem}; {hint}."}, report_file)  # fmt: skip
            else:
                print(f"hearth: {problem}; {hint}.", file=sys.stderr)
                QMessageBox.critical(None, "Hearth", f"{problem}; {hint}.")
            return EXIT_DATA_FOLDER
        from PySide6.QtWidgets import QFileDialog

        QMessageBox.warning(None, "Hearth", f"{problem}. Choose a folder Hearth can write to.")
        chosen = QFileDialog.getExistingDirectory(None, "Hearth's data folder", str(Path.home()))
        if not chosen:
            return EXIT_DATA_FOLDER
        location.choose_folder(location.os_config_dir(), Path(chosen))
    return None


def ensure_stdio() -> None:
    """A windowed program (the Windows and macOS bundles) starts without stdout and stderr:
    prints and logging then go to ``logs/app-console.log`` in the data folder."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    try:
        logs = location.current_folder() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stream = open(logs / "app-console.log", "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    except OSError:
        stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    sys.stdout = sys.stdout or stream
    sys.stderr = sys.stderr or stream


def already_running(single: SingleInstance, smoke: bool, report_file: str | None = None) -> int:
    """A second start on the same data folder: bring the first window forward, or say why not."""
    folder = location.current_folder()
    if smoke:
        message = f"Hearth is already running with the data folder {folder} ({single.holder()})."
        emit({"ok": False, "step": "single instance", "error": message}, report_file)
        return 1
    if single.ask_first_to_show():
        log.info("Hearth is already open on %s; brought its window to the front", folder)
        return 0
    QMessageBox.information(
        None,
        "Hearth",
        f"Hearth is already running with the data folder {folder} ({single.holder()}). Switch "
        "to its window, or close it before starting Hearth again.",
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    ensure_stdio()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Hearth")
    app.setOrganizationName("Hearth")
    app.setApplicationDisplayName("Hearth")
    refused = check_data_folder(args.smoke_test, args.smoke_report)
    if refused is not None:
        return refused
    single = SingleInstance(location.current_folder())
    if not single.acquire():
        return already_running(single, args.smoke_test, args.smoke_report)
    command = shlex.split(args.engine_command) if args.engine_command else None
    client = EngineClient(app, command=command)
    window = MainWindow(client)
    StallWatchdog(parent=app)
    smoke = (
        SmokeTest(app, client, window, T0, report_file=args.smoke_report)
        if args.smoke_test
        else None
    )
    window.show()
    if smoke is None:  # a first start: the one-page welcome
        from desktop.welcome import show_once

        show_once(window.settings, window.specs, window.panel_icon, window)
    if smoke is not None:
        smoke.report["window_visible"] = window.isVisible()
        QTimer.singleShot(0, smoke.window_shown)  # once the event loop has painted it
    single.listen(lambda: (window.showNormal(), window.raise_(), window.activateWindow()))
    client.start()
    app.exec()
    window.save_state()
    client.stop()
    single.release()
    return smoke.outcome["code"] if smoke is not None else 0


if __name__ == "__main__":
    raise SystemExit(main())
