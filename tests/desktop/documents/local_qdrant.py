"""Loaded into a real engine by a test (HEARTH_EXTRA_JOB_MODULES): Qdrant "servers" at
``http://qdrant.test:<port>`` become qdrant-client's local mode on disk under
``HEARTH_TEST_QDRANT_DIR`` -- the client calls a server gets, with no server running here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.documents.store.server import ServerStore

_clients: dict[str, Any] = {}
_real_client = ServerStore.client


def _client(self: ServerStore) -> Any:
    if not self.url.startswith("http://qdrant.test:"):
        return _real_client(self)
    if self._client is None:
        from qdrant_client import QdrantClient

        folder = Path(os.environ["HEARTH_TEST_QDRANT_DIR"]) / self.url.rsplit(":", 1)[1]
        if self.url not in _clients:
            _clients[self.url] = QdrantClient(path=str(folder))
        self._client = _clients[self.url]
    return self._client


ServerStore.client = _client  # type: ignore[method-assign]
ServerStore.close = lambda self: setattr(self, "_client", None)  # type: ignore[method-assign]
