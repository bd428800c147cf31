"""The summary: validity, total parameters, multiply-accumulates, activation memory, output size."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from convstudio.core.shape_records import format_shape
from convstudio.gui import theme
from convstudio.gui.designer.document import DesignDocument
from convstudio.gui.designer.layer_text import human_bytes, human_count


class SummaryValue(QLabel):
    """A value of the summary, selectable with the mouse as a label can be, but only while the mouse is on it.

    A selectable QLabel keeps its text in a text document that it lays out again
    on every new text: the summary's values change with almost every edit, and
    that costs more than the rest of the summary's update. The label becomes
    selectable as the mouse enters it (a press, a drag or the context menu
    then work as ever) and plain again when it leaves with nothing selected.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._plain = self.textInteractionFlags()  # a QLabel's own: no text document for plain text

    def enterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        super().enterEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().leaveEvent(event)
        if not self.hasSelectedText():
            self.setTextInteractionFlags(self._plain)


class ShapeSummary(QWidget):
    """Totals of the design, updated after every recheck; only labels whose text changed repaint."""

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.setObjectName("shapeSummary")
        self.document = document
        layout = QFormLayout(self)
        layout.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self.values: dict[str, QLabel] = {}
        rows = (
            ("status", "Design", "Whether every layer works on what it receives."),
            ("params", "Parameters", "Learned weights and biases in total."),
            ("macs", "Multiply-accumulates", "Per sample, forward pass (convolutions and linear layers)."),
            ("memory", "Activation memory", "Per sample: the input and every layer's output, float32."),
            ("output", "Output", "The network's per-sample output shape."),
        )
        for key, title, tip in rows:
            label = QLabel(title, self)
            label.setToolTip(tip)
            value = SummaryValue(self)
            value.setObjectName(f"summary_{key}")
            value.setToolTip(tip)
            value.setAutoFillBackground(True)  # opaque: a new text repaints the label, not the dock under it
            layout.addRow(label, value)
            self.values[key] = value
        self._colored_valid: bool | None = None  # the validity the status colour was set for
        document.events.rechecked.connect(self._on_rechecked)
        self._on_rechecked(())

    def _on_rechecked(self, _indices) -> None:
        report = self.document.report
        status = self.values["status"]
        if report.valid:
            self._set_text("status", "valid")
        else:
            count = len(report.problems)
            self._set_text("status", f"{count} problem{'s' if count > 1 else ''}: layer {report.problems[0].index + 1}")
        if report.valid != self._colored_valid:
            # A palette colour, not a style sheet: re-polishing on every edit costs milliseconds.
            palette = self.palette()
            if not report.valid:
                palette.setColor(QPalette.ColorRole.WindowText, theme.error_color(palette))
            status.setPalette(palette)
            self._colored_valid = report.valid
        status.setToolTip(report.first_error() or "Every layer works on what it receives.")
        self._set_text("params", f"{report.total_params:,}")
        self._set_text("macs", f"{human_count(report.total_macs)}  ({report.total_macs:,})")
        self._set_text("memory", human_bytes(report.activation_bytes))
        self._set_text("output", format_shape(report.output_shape))

    def _set_text(self, key: str, text: str) -> None:
        label = self.values[key]
        if label.text() == text:  # an equal text would still lay the label out again
            return
        label.setText(text)
        # A label of fixed size does not ask the dock and the window to lay themselves out again
        # when its text changes (that costs more than the edit's recheck); it grows when it must.
        fixed = label.minimumSize() == label.maximumSize()
        hint = label.sizeHint()
        size = QSize(max(hint.width(), label.minimumWidth() if fixed else 0), hint.height())
        if not fixed or size != label.minimumSize():
            label.setFixedSize(size)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # the system switched theme
            self._colored_valid = None
            self._on_rechecked(())
