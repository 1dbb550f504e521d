"""``ElidedCombo``: a combo box that shows a long choice whole at both ends -- "Gemma 3 270M
(base) … (q8_0)" rather than "Gemma 3 270M (base) − wid" -- with the full text as its tooltip,
above what ``setToolTip`` says the box is for.

Model, template and dataset names share long prefixes and differ at the end (a quantization,
a pruning ratio, a version), so eliding in the middle keeps what tells them apart.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter, QWidget


class ElidedCombo(QComboBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._purpose = ""
        self.currentIndexChanged.connect(self._update_tip)

    def setToolTip(self, text: str) -> None:
        """What the box is for; the tooltip shows it under the current choice."""
        self._purpose = text
        self._update_tip(self.currentIndex())

    def _update_tip(self, _index: int) -> None:
        own = self.itemData(self.currentIndex(), Qt.ItemDataRole.ToolTipRole)
        parts = [self.currentText(), own, self._purpose]
        super().setToolTip("\n".join(str(p) for p in parts if p))

    def shown_text(self) -> str:
        """The current text as painted: elided in the middle to the room the frame leaves."""
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        room = (
            self.style()
            .subControlRect(
                QStyle.ComplexControl.CC_ComboBox,
                option,
                QStyle.SubControl.SC_ComboBoxEditField,
                self,
            )
            .width()
        )
        return self.fontMetrics().elidedText(self.currentText(), Qt.TextElideMode.ElideMiddle, room)

    def paintEvent(self, _event) -> None:
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        option.currentText = self.shown_text()
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)
