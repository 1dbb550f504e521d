"""The engine's long-lived objects, created once per process and shared by RPC methods and the CLI.

``Services`` owns the data root, one SQLite connection per thread, and every engine-wide object:
the job manager, the model library, the loaded runtimes, the documents manager and the chat store
(each built on first use, under one lock, and closed by ``close()`` in one fixed order), and the
local API server while it runs. ``notify`` fans notifications out to whoever listens: the
JSON-RPC writer when serving, a stderr printer in the CLI, nothing in tests that don't care.

The modules that define those objects never import this one at run time (they name ``Services``
for type checkers only), so building them here cannot form an import cycle; a test holds that.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from engine.core import db
from engine.core.paths import data_root

if TYPE_CHECKING:
    from engine.api.server import ApiServer
    from engine.chat.store import ChatStore
    from engine.documents.manager import DocsManager
    from engine.jobs.manager import JobManager
    from engine.models.library import ModelLibrary
    from engine.runtimes.manager import RuntimeManager

Listener = Callable[[str, dict[str, Any]], None]
T = TypeVar("T")


class _BuiltOnce(Generic[T]):
    """An attribute built by ``build(services)`` on first access, once even when threads race."""

    def __init__(self, build: Callable[[Services], T]) -> None:
        self.build = build
        self.name = build.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _BuiltOnce[T]: ...
    @overload
    def __get__(self, obj: Services, owner: type | None = None) -> T: ...
    def __get__(self, obj: Services | None, owner: type | None = None) -> T | _BuiltOnce[T]:
        if obj is None:
            return self
        with obj._build_lock:  # only the first access per name gets here; later ones hit __dict__
            if self.name not in obj.__dict__:
                obj.__dict__[self.name] = self.build(obj)
            return obj.__dict__[self.name]


def _jobs(services: Services) -> JobManager:
    from engine.jobs.manager import JobManager

    return JobManager(services)


def _library(services: Services) -> ModelLibrary:
    from engine.models.library import ModelLibrary

    return ModelLibrary(services)


def _runtimes(services: Services) -> RuntimeManager:
    from engine.runtimes.manager import RuntimeManager

    return RuntimeManager(services)


def _docs(services: Services) -> DocsManager:
    from engine.documents.manager import DocsManager

    return DocsManager(services)


def _chats(services: Services) -> ChatStore:
    from engine.chat.store import ChatStore

    store = ChatStore(services)
    store.ensure_search_index()
    store.recover()  # replies a killed engine left half-written
    return store


class Services:
    jobs = _BuiltOnce(_jobs)
    library = _BuiltOnce(_library)
    runtimes = _BuiltOnce(_runtimes)
    docs = _BuiltOnce(_docs)
    chats = _BuiltOnce(_chats)

    # close() stops what was built, in this order: the API first, so no request starts generating
    # while models unload; then jobs (they may hold models); then the models (frees llama.cpp
    # contexts and GPU memory); then the embedded Qdrant shards, flushed and released.
    CLOSE_ORDER = ("api", "jobs", "runtimes", "docs")

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else data_root()
        self.api: ApiServer | None = None  # the local OpenAI-compatible API while it runs
        self._build_lock = threading.RLock()  # reentrant: building one service may use another
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

    def built(self, name: str) -> Any | None:
        """The service ``name`` if it exists already (never builds it)."""
        return self.api if name == "api" else self.__dict__.get(name)

    def close(self) -> None:
        for name in self.CLOSE_ORDER:
            service = self.built(name)
            if service is not None:
                service.close()
        self.api = None
