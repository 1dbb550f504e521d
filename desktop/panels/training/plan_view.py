"""``PlanView``: the engine's memory plan for a run (``train.plan``) and its data check
(``train.check``): the verdict, a bar of what the memory goes to against what is free, the
message, the suggested changes as buttons that apply themselves to the form, and the data report.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from desktop.format import binary_bytes

PARTS = (
    ("weights", "Weights", "#4a7ab5"),
    ("trainable_state", "Trainable + optimizer", "#d9822b"),
    ("activations", "Activations", "#6aa84f"),
    ("logits", "Logits", "#a64d79"),
    ("runtime", "Runtime", "#888888"),
)
VERDICTS = {
    "ok": ("Fits in memory", "#1d7a34"),
    "warn": ("Tight: close to the free memory", "#b06d00"),
    "refuse": ("Will not fit in memory", "#b3261e"),
}


def change_text(change: str | dict[str, Any]) -> str:
    if isinstance(change, dict):
        return ", ".join(f"{k} = {v}" for k, v in change.items())
    return str(change)


def parse_change(change: str | dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """A plan suggestion as option values. The engine words them like "batch_size 2 with
    gradient_accumulation 8", "turn on gradient_checkpointing" or "method lora"; ``types`` maps
    option names to their field type. Names it does not know are left out."""
    if isinstance(change, dict):
        return dict(change)
    out: dict[str, Any] = {}
    for part in str(change).split(" with "):
        words = part.strip().removeprefix("turn on ").split()
        if not words or words[0] not in types:
            continue
        name, kind = words[0], types[words[0]]
        if len(words) == 1:
            if kind == "bool":
                out[name] = True
            continue
        try:
            out[name] = {"int": int, "float": float}.get(kind, str)(words[1])
        except ValueError:
            continue
    return out


class MemoryBar(QWidget):
    """One horizontal bar: each part of the plan as a coloured segment, scaled so that the free
    memory (the dark tick) and the total both fit."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parts: dict[str, float] = {}
        self.available = 0.0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(300, 22)

    def set_plan(self, parts: dict[str, float], available: float) -> None:
        self.parts = {k: float(parts.get(k) or 0) for k, _l, _c in PARTS}
        self.available = float(available or 0)
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        rect = QRectF(self.rect()).adjusted(1, 3, -1, -3)
        painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid)))
        painter.drawRect(rect)
        total = sum(self.parts.values())
        scale = max(total, self.available)
        if scale > 0:
            x = rect.left()
            for key, _label, colour in PARTS:
                width = rect.width() * self.parts.get(key, 0) / scale
                painter.fillRect(QRectF(x, rect.top(), width, rect.height()), QColor(colour))
                x += width
            if self.available:
                ax = rect.left() + rect.width() * self.available / scale
                painter.setPen(QPen(self.palette().color(QPalette.ColorRole.WindowText), 3))
                painter.drawLine(int(ax), int(rect.top()) - 3, int(ax), int(rect.bottom()) + 3)
        painter.end()


class PlanView(QWidget):
    sig_apply = Signal(object)
    """The user chose a suggested change: the plan's ``change`` (its wording, or a dict)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plan: dict[str, Any] | None = None
        self.verdict_label = QLabel("Pick a model to see how much memory the run needs.")
        self.verdict_label.setWordWrap(True)
        self.bar = MemoryBar()
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.suggestions_box = QWidget()
        self._suggestions = QVBoxLayout(self.suggestions_box)
        self._suggestions.setContentsMargins(0, 0, 0, 0)
        self.suggestion_buttons: list[QPushButton] = []
        self.data_label = QLabel()
        self.data_label.setWordWrap(True)
        self.data_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.verdict_label, self.bar, self.legend, self.message_label):
            layout.addWidget(w)
        layout.addWidget(self.suggestions_box)
        layout.addWidget(self.data_label)
        self.bar.hide()

    def verdict(self) -> str:
        return (self.plan or {}).get("verdict") or ""

    def show_pending(self) -> None:
        self.verdict_label.setText(
            self.verdict_label.text().split(" (updating")[0] + " (updating…)"
        )

    def show_error(self, text: str) -> None:
        self.plan = None
        self.verdict_label.setText(f"<b>Cannot plan this run:</b> {text}")
        self.verdict_label.setStyleSheet("color: #b3261e;")
        self.bar.hide()
        self.legend.clear()
        self.message_label.clear()
        self._set_suggestions([])

    def show_plan(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        title, colour = VERDICTS.get(plan.get("verdict") or "", ("Memory plan", ""))
        total, free = plan.get("total_bytes"), plan.get("available_bytes")
        device = plan.get("device") or "?"
        self.verdict_label.setText(
            f"<b>{title}</b>: {binary_bytes(total)} needed, {binary_bytes(free)} free on "
            f"{device} ({plan.get('precision') or 'auto'})"
        )
        self.verdict_label.setStyleSheet(f"color: {colour};" if colour else "")
        parts = plan.get("parts") or {}
        self.bar.set_plan(parts, free or 0)
        self.bar.show()
        self.legend.setText(
            " ".join(
                f"<span style='color:{c}'>■</span>&nbsp;{label.replace(' ', '&nbsp;')}"
                f"&nbsp;{binary_bytes(parts.get(k)).replace(' ', '&nbsp;')}"
                for k, label, c in PARTS
                if parts.get(k)
            )
            + " &nbsp;<b>|</b> free memory"
        )
        self.message_label.setText(plan.get("message") or "")
        self._set_suggestions(plan.get("suggestions") or [])

    def _set_suggestions(self, suggestions: list[dict[str, Any]]) -> None:
        for button in self.suggestion_buttons:
            button.deleteLater()
        self.suggestion_buttons = []
        for s in suggestions:
            change = s.get("change")
            if not change:
                continue
            fits = "fits" if s.get("fits") else "still too much"
            button = QPushButton(
                f"Apply {change_text(change)} → {binary_bytes(s.get('total_bytes'))} ({fits})"
            )
            button.setToolTip("Change the form to this and plan again")
            chosen = s.get("values") or change  # the option values, when the engine gives them
            button.clicked.connect(lambda _c=False, ch=chosen: self.sig_apply.emit(ch))
            self._suggestions.addWidget(button)
            self.suggestion_buttons.append(button)

    def show_data(self, data: dict[str, Any]) -> None:
        report = data.get("report") or {}
        template = data.get("template") or {}
        template_name = template.get("name") if isinstance(template, dict) else template
        lines = [
            f"<b>Data: {data.get('name') or '?'}</b> ({data.get('format') or '?'}, "
            f"{_source_words(data.get('source'))})",
            f"{data.get('train_rows', '–')} training rows, "
            f"{data.get('validation_rows', '–')} validation rows, "
            f"{data.get('checked_rows', '–')} checked",
        ]
        if report:
            kept = report.get("kept", "–")
            lines.append(
                f"kept {kept} of {report.get('rows', '–')}; truncated {report.get('truncated', 0)}, "
                f"too long {report.get('too_long', 0)}, empty {report.get('empty', 0)}, "
                f"template failed {report.get('template_failed', 0)}"
            )
            if report.get("tokens"):
                lines.append(
                    f"{report.get('tokens')} tokens, {report.get('learned_tokens', '–')} learned, "
                    f"longest row {report.get('longest', '–')}"
                )
        if template_name:
            lines.append(f"chat template: {template_name}")
        self.data_label.setStyleSheet("")
        self.data_label.setText("<br>".join(lines))

    def show_data_error(self, text: str) -> None:
        self.data_label.setStyleSheet("color: #b3261e;")
        self.data_label.setText(f"<b>Data check failed:</b> {text}")


def _source_words(source: Any) -> str:
    """Where the rows come from, in words: "version 2, split train" (the engine sends a dict)."""
    if isinstance(source, str) and source:
        return source
    if not isinstance(source, dict):
        return "dataset"
    parts = []
    if source.get("path") and not source.get("dataset_id"):
        parts.append(f"file {str(source['path']).rsplit('/', 1)[-1]}")
    if source.get("version") is not None:
        parts.append(f"version {source['version']}")
    if source.get("split"):
        parts.append(f"split {source['split']}")
    if source.get("validation_split"):
        parts.append(f"validation from split {source['validation_split']}")
    return ", ".join(parts) or "dataset"
