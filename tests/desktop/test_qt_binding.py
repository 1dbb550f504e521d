"""Guards against a Qt binding that corrupts Python's reference counts (PySide6 6.12.0 dropped a
reference to True on every signal delivered to a Python slot, so a long session crashed)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    sig_value = Signal(object)
    """Carries any Python object."""


def test_signal_delivery_keeps_reference_counts(qapp):
    emitter = _Emitter()
    received = []
    emitter.sig_value.connect(received.append)
    before = sys.getrefcount(True)
    for i in range(2000):
        emitter.sig_value.emit({"ok": True, "i": i})
    received.clear()
    assert abs(sys.getrefcount(True) - before) < 50
