"""A request context for running RPC method handlers from the command line.

The CLI calls the very handlers the desktop app reaches over JSON-RPC, with this context in
place of a live request, so both paths share validation, errors and results.
"""

from __future__ import annotations

import threading
from typing import Any

from engine.cli.output import ProgressPrinter
from engine.core.errors import Cancelled
from engine.services import Services


class LocalContext:
    request_id = "cli"

    def __init__(self, services: Services | None = None, *, progress: bool = True) -> None:
        self.services = services or Services()
        self._cancel = threading.Event()
        if progress:
            self.services.add_listener(ProgressPrinter())

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.services.notify(method, params)

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait_cancelled(self, timeout: float) -> bool:
        return self._cancel.wait(timeout)

    def run_job(self, job: dict[str, Any]) -> dict[str, Any]:
        """Wait for a job this process started; Ctrl+C cancels it and waits for it to stop."""
        jobs = self.services.jobs
        try:
            return jobs.wait(job["id"])
        except KeyboardInterrupt:
            jobs.cancel(job["id"])
            jobs.wait(job["id"], 30)
            raise Cancelled(jobs.get(job["id"])) from None
