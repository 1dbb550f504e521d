"""The mouse wheel scrolls forms; it changes a spin box or a combo box only once the user has
clicked into it (or reached it with Tab).

Qt gives spin boxes and combo boxes the wheel as soon as the pointer is over them, and even gives
them focus on the wheel: scrolling down a long training form with the pointer passing over the
learning rate set it from 0.0002 to 0. One application-wide filter: every spin box and combo box
takes focus only by click or Tab, and a wheel turned over one without focus scrolls the form
around it instead.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QComboBox, QWidget

GUARDED = (QAbstractSpinBox, QComboBox)


class WheelGuard(QObject):
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Polish and isinstance(obj, GUARDED):
            obj.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        elif kind == QEvent.Type.Wheel and isinstance(obj, GUARDED) and not obj.hasFocus():
            area = scroll_area_of(obj)
            if area is not None:
                QCoreApplication.sendEvent(area.viewport(), event)
            return True
        return False


def scroll_area_of(widget: QWidget) -> QAbstractScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea):
            return parent
        parent = parent.parentWidget()
    return None


def install(owner: QObject) -> WheelGuard:
    """Filter the application's events for as long as ``owner`` (the main window) lives."""
    guard = WheelGuard(owner)
    app = QCoreApplication.instance()
    if app is not None:
        app.installEventFilter(guard)
    return guard
