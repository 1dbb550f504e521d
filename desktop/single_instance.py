"""One Hearth window per data folder.

The first start holds ``<data folder>/app.lock`` (Qt's ``QLockFile``: a crashed app's lock is
recognised as stale by its process id) and listens on a local socket named after the folder. A
second start finds the lock held, asks the first through the socket to bring its window to the
front, and exits; if the first does not answer, the second says so and exits. (The engine holds
its own lock, ``engine.core.serve_lock``, so two engines never share a folder either.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

LOCK_NAME = "app.lock"
SHOW = b"show\n"


def server_name(folder: Path) -> str:
    digest = hashlib.sha1(str(Path(folder).absolute()).encode("utf-8")).hexdigest()[:16]
    return f"hearth-{digest}"


class SingleInstance(QObject):
    def __init__(self, folder: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(folder)
        self.lock = QLockFile(str(Path(folder) / LOCK_NAME))
        self.server: QLocalServer | None = None

    def acquire(self) -> bool:
        """True when this is the only Hearth on the folder (a stale lock is taken over)."""
        return self.lock.tryLock(200)

    def holder(self) -> str:
        info = self.lock.getLockInfo()  # (pid, host, app); PySide6 drops the C++ bool
        return f"process {info[-3]} on {info[-2]}" if info and len(info) >= 3 and info[-3] else "another Hearth"  # fmt: skip

    def ask_first_to_show(self) -> bool:
        """Ask the running Hearth to bring its window to the front; False if it did not listen."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(1500):
            return False
        socket.write(SHOW)
        done = socket.waitForBytesWritten(1500)
        socket.disconnectFromServer()
        return done

    def listen(self, on_show: Callable[[], None]) -> None:
        """Answer later starts: ``on_show`` when one asks for the window."""
        QLocalServer.removeServer(self.name)  # a crashed first instance's leftover socket
        self.server = QLocalServer(self)
        self.server.newConnection.connect(lambda: self._accept(on_show))
        self.server.listen(self.name)

    def _accept(self, on_show: Callable[[], None]) -> None:
        while self.server is not None and self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s, on_show))

    @staticmethod
    def _read(socket: QLocalSocket, on_show: Callable[[], None]) -> None:
        if bytes(socket.readAll()).startswith(SHOW.strip()):
            on_show()
        socket.disconnectFromServer()

    def release(self) -> None:
        if self.server is not None:
            self.server.close()
        self.lock.unlock()
