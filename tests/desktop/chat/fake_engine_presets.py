"""The fake engine (tests/desktop/fake_engine.py) with ``chat.presets.*`` and ``api.*`` in front,
answered by fake_presets.py; every other line goes on to the fake engine unchanged."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/desktop

import fake_engine
from chat import fake_presets

_OURS = ("chat.presets.", "api.")


class _Filter:
    """stdin for the fake engine, minus the requests this script answers itself."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def __iter__(self):
        for line in self.stream:
            message = json.loads(line)
            method = message.get("method") or ""
            if method.startswith(_OURS):
                fake_presets.handle(
                    method,
                    message.get("id"),
                    message.get("params") or {},
                    fake_engine.send,
                    fake_engine.cancelled,
                )
                continue
            yield line


if __name__ == "__main__":
    sys.stdin = _Filter(sys.stdin)
    sys.exit(fake_engine.main())
