"""Hearth engine: everything that touches models, data and jobs. Never imports Qt.

The engine runs as its own process (``hearth-engine serve``) and speaks JSON-RPC 2.0
on stdio with the desktop app; the same code paths back the ``hearth-engine`` CLI.
"""

from __future__ import annotations

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
