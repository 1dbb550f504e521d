"""The engine's long-lived objects, created once per process and shared by RPC methods and the CLI.

``Services`` owns the data root, one SQLite connection per thread, the job manager and the
model library. ``notify`` fans notifications out to whoever listens: the JSON-RPC writer when
serving, a stderr printer in the CLI, nothing in tests that don't care.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core import db
from engine.core.paths import data_root

if TYPE_CHECKING:
    from engine.jobs.manager import JobManager
    from engine.models.library import ModelLibrary

Listener = Callable[[str, dict[str, Any]], None]


class Services:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else data_root()
        self._local = threading.local()
        self._listeners: list[Listener] = []
        self._listeners_lock = threading.Lock()
        self.db()  # create/migrate the database up front so errors surface early

    def db(self) -> sqlite3.Connection:
        """This thread's connection to ``hearth.db``."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = db.connect(self.root / "hearth.db")
            self._local.conn = conn
        return conn

    def add_listener(self, listener: Listener) -> None:
        with self._listeners_lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._listeners_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def notify(self, method: str, params: dict[str, Any]) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(method, params)

    @cached_property
    def jobs(self) -> JobManager:
        from engine.jobs.manager import JobManager

        return JobManager(self)

    @cached_property
    def library(self) -> ModelLibrary:
        from engine.models.library import ModelLibrary

        return ModelLibrary(self)

    def close(self) -> None:
        from engine.api.methods import stop as stop_api

        stop_api(self)  # no API request may start generating while models are unloaded
        if "jobs" in self.__dict__:
            self.jobs.shutdown()
        from engine.documents.manager import close_docs
        from engine.runtimes.manager import close_manager

        close_manager(self)  # unload models (frees llama.cpp contexts and GPU memory)
        close_docs(self)  # flush and release the embedded Qdrant shards
