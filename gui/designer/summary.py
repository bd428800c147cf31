"""The summary: validity, total parameters, multiply-accumulates, activation memory, output size."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from convstudio.core.shape_records import format_shape
from convstudio.gui import theme
from convstudio.gui.designer.document import DesignDocument
from convstudio.gui.designer.layer_text import human_bytes, human_count


class ShapeSummary(QWidget):
    """Totals of the design, redrawn whenever the document changes."""

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
            value = QLabel(self)
            value.setObjectName(f"summary_{key}")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setToolTip(tip)
            layout.addRow(label, value)
            self.values[key] = value
        document.changed.connect(self._on_document_changed)
        self._on_document_changed()

    def _on_document_changed(self) -> None:
        report = self.document.report
        status = self.values["status"]
        if report.valid:
            status.setText("valid")
        else:
            count = len(report.problems)
            status.setText(f"{count} problem{'s' if count > 1 else ''}: layer {report.problems[0].index + 1}")
        # A palette colour, not a style sheet: re-polishing on every edit costs milliseconds.
        palette = self.palette()
        if not report.valid:
            palette.setColor(QPalette.ColorRole.WindowText, theme.error_color(palette))
        status.setPalette(palette)
        self.values["status"].setToolTip(report.first_error() or "Every layer works on what it receives.")
        self.values["params"].setText(f"{report.total_params:,}")
        self.values["macs"].setText(f"{human_count(report.total_macs)}  ({report.total_macs:,})")
        self.values["memory"].setText(human_bytes(report.activation_bytes))
        self.values["output"].setText(format_shape(report.output_shape))

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # the system switched theme
            self._on_document_changed()
