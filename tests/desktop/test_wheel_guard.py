"""The wheel over a spin box or combo box the user has not clicked into scrolls the form around
it and leaves its value alone (it once set a learning rate from 0.0002 to 0 while scrolling);
once focused, the wheel changes it as before."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QScrollArea,
    QWidget,
)

from desktop.wheel_guard import install


def _wheel(widget, steps: int = -1) -> None:
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                        QPoint(0, 120 * steps), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    QApplication.sendEvent(widget, event)


def test_wheel_scrolls_the_form_not_the_field(qtbot):
    owner = QWidget()
    qtbot.addWidget(owner)
    install(owner)
    form_widget = QWidget()
    form = QFormLayout(form_widget)
    rate = QDoubleSpinBox()
    rate.setDecimals(4)
    rate.setRange(0.0, 1.0)
    rate.setSingleStep(0.0001)
    rate.setValue(0.0002)
    schedule = QComboBox()
    schedule.addItems(["cosine", "linear", "constant"])
    form.addRow("Learning rate", rate)
    form.addRow("Schedule", schedule)
    for i in range(40):
        form.addRow(f"Field {i}", QDoubleSpinBox())
    area = QScrollArea()
    area.setWidget(form_widget)
    area.setWidgetResizable(True)
    area.resize(300, 200)
    qtbot.addWidget(area)
    area.show()
    qtbot.waitExposed(area)
    assert rate.focusPolicy() == Qt.FocusPolicy.StrongFocus  # no focus from the wheel
    before = area.verticalScrollBar().value()
    _wheel(rate)
    _wheel(schedule)
    assert rate.value() == 0.0002 and schedule.currentIndex() == 0
    assert area.verticalScrollBar().value() > before  # the form scrolled instead

    area.activateWindow()
    rate.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(rate.hasFocus, timeout=2000)
    _wheel(rate, steps=1)
    assert abs(rate.value() - 0.0003) < 1e-9  # clicked into: the wheel changes it
