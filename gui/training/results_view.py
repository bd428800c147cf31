"""A run's results: confusion matrix, per-class accuracy, test images with predictions, dropout rules.

Shown when a run ends (from its RunEnded record and the example predictions
the worker sends) and when a run is reopened (from its folder's results).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QImage, QPalette, QPixmap, QTransform
from PySide6.QtWidgets import (
    QGraphicsItem, QGraphicsSimpleTextItem, QGridLayout, QGroupBox, QHeaderView, QLabel, QScrollArea, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from convstudio.core.training.predictions import ExamplePredictions, RunResults
from convstudio.core.training.records import RunEnded
from convstudio.gui import theme
from convstudio.gui.training.augmentation_preview import mosaic
from convstudio.gui.training.progress import sentence

EXAMPLE_CELL_WIDTH = 104  # pixels per example column: a 64-pixel image and its caption
_REASON_TITLES = {"finished": "Finished", "stopped": "Stopped", "early_stopping": "Stopped early",
                  "non_finite_loss": "Diverged", "out_of_memory": "Out of memory", "error": "Failed"}


def results_from_record(ended: RunEnded, classes: tuple[str, ...], examples: ExamplePredictions | None) -> RunResults:
    """The results of a run that just ended, as a reopened run's folder would give them."""
    return RunResults(ended.reason.value, ended.message, classes, ended.confusion, ended.test_accuracy,
                      ended.test_loss, ended.dropout, examples)


def _plot(object_name: str, parent: QWidget) -> pg.PlotWidget:
    palette = parent.palette()
    widget = pg.PlotWidget(background=palette.color(QPalette.ColorRole.Base))
    widget.setObjectName(object_name)
    text = palette.color(QPalette.ColorRole.WindowText)
    for axis in ("left", "bottom"):
        widget.getPlotItem().getAxis(axis).setTextPen(text)
    widget.setMenuEnabled(False)
    widget.setMouseEnabled(x=False, y=False)
    widget.hideButtons()
    return widget


def _cell_label(text: str, dark: bool, x: float, y: float) -> QGraphicsSimpleTextItem:
    """A count centred on a confusion-matrix cell, drawn at screen size whatever the zoom.

    A plain QGraphicsSimpleTextItem costs a fraction of pyqtgraph's TextItem,
    which matters for a 10 x 10 matrix built when a run ends.
    """
    label = QGraphicsSimpleTextItem(text)
    label.setBrush(QColor("black" if dark else "white"))
    label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
    bounds = label.boundingRect()
    label.setTransform(QTransform.fromTranslate(-bounds.width() / 2, -bounds.height() / 2))
    label.setPos(x, y)
    return label


class ResultsView(QWidget):
    """Everything a finished (or stopped) run measured on its test images."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("resultsView")
        self.summary = QLabel("No results yet: start a run, or reopen one from the Runs tab.", self)
        self.summary.setObjectName("resultsSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.confusion_plot = _plot("confusionPlot", self)
        self.confusion_plot.setLabel("bottom", "predicted class")
        self.confusion_plot.setLabel("left", "true class")
        self.confusion_plot.getPlotItem().invertY(True)  # row 0 on top, as the matrix is written
        self.per_class_plot = _plot("perClassPlot", self)
        self.per_class_plot.setLabel("bottom", "test accuracy")
        self.per_class_plot.getPlotItem().invertY(True)
        self.dropout_table = QTableWidget(2, 2, self)
        self.dropout_table.setObjectName("dropoutTable")
        self.dropout_table.setHorizontalHeaderLabels(["Accuracy", "NLL"])
        self.dropout_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.dropout_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.dropout_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.dropout_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.dropout_note = QLabel(self)
        self.dropout_note.setObjectName("dropoutNote")
        self.dropout_note.setWordWrap(True)
        self.examples_widget = QWidget(self)
        self.examples_widget.setObjectName("exampleGrid")
        self.examples_layout = QGridLayout(self.examples_widget)
        self.examples_layout.setSpacing(4)
        self.example_cells: list[QLabel] = []
        self._example_pairs: list[tuple[QLabel, QLabel]] = []
        self._columns = 0
        self.examples_scroll = examples_scroll = QScrollArea(self)
        examples_scroll.setWidgetResizable(True)
        examples_scroll.setWidget(self.examples_widget)
        examples_scroll.viewport().installEventFilter(self)  # re-flow the examples when their box resizes

        confusion_box = self._box("Confusion matrix (rows: true class)", self.confusion_plot)
        per_class_box = self._box("Accuracy per class", self.per_class_plot)
        dropout_box = self._box("Dropout: weight scaling vs Monte Carlo (eq. 22-24)", self.dropout_table, self.dropout_note)
        examples_box = self._box("Test images: predicted (probability) / true", examples_scroll)
        grid = QGridLayout(self)
        grid.addWidget(self.summary, 0, 0, 1, 3)
        grid.addWidget(confusion_box, 1, 0, 2, 1)
        grid.addWidget(per_class_box, 1, 1)
        grid.addWidget(dropout_box, 2, 1)
        grid.addWidget(examples_box, 1, 2, 2, 1)
        grid.setColumnStretch(0, 4)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 4)
        grid.setRowStretch(1, 3)
        self.results: RunResults | None = None

    def _box(self, title: str, *widgets: QWidget) -> QGroupBox:
        box = QGroupBox(title, self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(4, 4, 4, 4)
        for widget in widgets:
            layout.addWidget(widget)
        return box

    # -- showing -----------------------------------------------------------------------
    def show_results(self, results: RunResults | None, run_name: str = "") -> None:
        """Show a run's results (None: the run left none, e.g. it failed before its first epoch)."""
        self.results = results
        self.confusion_plot.clear()
        self.per_class_plot.clear()
        if results is None:
            self.summary.setText(f"{run_name}: this run has no test results (it ended before finishing an epoch)."
                                 if run_name else "No results.")
            self._show_dropout(None)
            self._show_examples(None)
            return
        title = f"Run {run_name}" if run_name else _REASON_TITLES.get(results.reason, results.reason)
        text = f"<b>{title}</b>: {sentence(results.message)}"
        if results.test_accuracy is not None:
            text += (f" Test accuracy <b>{100 * results.test_accuracy:.1f} %</b>,"
                     f" test loss {results.test_loss:.4f}.")
        else:
            text += " The run has no test results: it ended before it had finished an epoch with usable weights."
        self.summary.setText(text)
        if results.confusion:
            self._show_confusion(results.confusion, results.classes)
            self._show_per_class(results.per_class_accuracy, results.classes)
        self._show_dropout(results)
        self._show_examples(results.examples)

    def _show_confusion(self, confusion, classes) -> None:
        matrix = np.array(confusion, dtype=float)
        image = pg.ImageItem(matrix.T)  # ImageItem's first axis is x: predicted class
        image.setColorMap(pg.colormap.get("viridis"))
        image.setLevels((0, max(matrix.max(), 1)))
        plot = self.confusion_plot.getPlotItem()
        plot.addItem(image)
        plot.getAxis("left").setTicks([[(index + 0.5, name) for index, name in enumerate(classes)]])
        # Full names side by side under the columns run into each other: abbreviate when crowded.
        width = 12 if len(classes) <= 4 else 4
        short = [name if len(name) <= width else name[: width - 1] + "." for name in classes]
        plot.getAxis("bottom").setTicks([[(index + 0.5, name) for index, name in enumerate(short)]])
        high = matrix.max() or 1
        for row in range(matrix.shape[0]):
            for column in range(matrix.shape[1]):
                count = int(matrix[row, column])
                if count == 0:
                    continue
                plot.addItem(_cell_label(str(count), dark=matrix[row, column] > 0.6 * high,
                                         x=column + 0.5, y=row + 0.5))
        plot.setRange(xRange=(0, len(classes)), yRange=(0, len(classes)), padding=0)

    def _show_per_class(self, accuracies, classes) -> None:
        values = [value if value is not None else 0.0 for value in accuracies]
        bars = pg.BarGraphItem(x0=0, y=np.arange(len(values)), height=0.7, width=values,
                               brush=pg.mkBrush("#1f77b4"), pen=None)
        plot = self.per_class_plot.getPlotItem()
        plot.addItem(bars)
        plot.getAxis("left").setTicks([[(index, name) for index, name in enumerate(classes)]])
        for index, value in enumerate(accuracies):
            text = pg.TextItem("–" if value is None else f"{100 * value:.0f}%",
                               color=self.palette().color(QPalette.ColorRole.WindowText), anchor=(0, 0.5))
            text.setPos(values[index], index)
            plot.addItem(text)
        plot.setRange(xRange=(0, 1.15), yRange=(-0.5, len(values) - 0.5), padding=0)

    def _show_dropout(self, results: RunResults | None) -> None:
        dropout = results.dropout if results is not None else None
        self.dropout_table.setVisible(dropout is not None)
        if dropout is None:
            no_dropout = results is not None and results.test_accuracy is not None
            self.dropout_note.setText("The design has no dropout layer (or T = 1): nothing to compare."
                                      if no_dropout else "")
            return
        rows = (("Weight scaling (eq. 22)", dropout.weight_scaling_accuracy, dropout.weight_scaling_nll),
                (f"Monte Carlo, T = {dropout.samples}", dropout.monte_carlo_accuracy, dropout.monte_carlo_nll))
        self.dropout_table.setVerticalHeaderLabels([row[0] for row in rows])
        for index, (_, accuracy, nll) in enumerate(rows):
            self.dropout_table.setItem(index, 0, QTableWidgetItem(f"{100 * accuracy:.2f} %"))
            self.dropout_table.setItem(index, 1, QTableWidgetItem(f"{nll:.4f}"))
        table = self.dropout_table  # exactly as tall as its two rows
        table.setFixedHeight(table.horizontalHeader().height() + table.verticalHeader().length()
                             + 2 * table.frameWidth())
        better = "Monte Carlo" if dropout.monte_carlo_nll < dropout.weight_scaling_nll else "weight scaling"
        self.dropout_note.setText(f"Lower NLL is better calibrated: {better} here.")

    def _show_examples(self, examples: ExamplePredictions | None) -> None:
        for cell in self.example_cells:
            cell.deleteLater()
        self.example_cells = []
        self._example_pairs = []
        if examples is None:
            return
        error = theme.hex_color(theme.error_color())
        for index, image in enumerate(examples.images):
            predicted, true = examples.predicted[index], examples.labels[index]
            wrong = predicted != true
            pixels = mosaic([image[None]], scale=2, gap=0)
            qimage = QImage(pixels.data, pixels.shape[1], pixels.shape[0], 3 * pixels.shape[1],
                            QImage.Format.Format_RGB888).copy()
            cell = QLabel(self.examples_widget)
            cell.setObjectName("exampleMistake" if wrong else "exampleCorrect")
            cell.setPixmap(QPixmap.fromImage(qimage))
            caption = (f"{'✗ ' if wrong else ''}{examples.classes[predicted]} {100 * examples.confidence[index]:.0f}%"
                       f"\ntrue: {examples.classes[true]}")
            cell.setToolTip(caption)
            cell.setStyleSheet(f"border: 2px solid {error};" if wrong else "border: 2px solid transparent;")
            holder = QLabel(caption, self.examples_widget)
            holder.setAlignment(Qt.AlignmentFlag.AlignHCenter)
            holder.setStyleSheet(f"color: {error}; font-size: 8pt;" if wrong else "font-size: 8pt;")
            self.example_cells += [cell, holder]
            self._example_pairs.append((cell, holder))
        self._columns = 0
        self._place_examples()

    def _place_examples(self) -> None:
        """Lay the examples out in as many columns as the box has room for."""
        columns = max(2, self.examples_scroll.viewport().width() // EXAMPLE_CELL_WIDTH)
        if columns == self._columns:
            return
        self._columns = columns
        for cell, caption in self._example_pairs:
            self.examples_layout.removeWidget(cell)
            self.examples_layout.removeWidget(caption)
        for index, (cell, caption) in enumerate(self._example_pairs):
            row, column = divmod(index, columns)
            self.examples_layout.addWidget(cell, 2 * row, column, Qt.AlignmentFlag.AlignHCenter)
            self.examples_layout.addWidget(caption, 2 * row + 1, column)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if watched is self.examples_scroll.viewport() and event.type() == QEvent.Type.Resize:
            self._place_examples()
        return super().eventFilter(watched, event)

    @property
    def mistakes_marked(self) -> int:
        """How many example images carry the mistake mark."""
        return sum(cell.objectName() == "exampleMistake" for cell in self.example_cells)
