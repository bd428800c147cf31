"""The overfitting remedies panel: the baseline and one variant per remedy, trained as a batch and overlaid.

The variants come from :func:`core.lab.remedies.remedy_variants` (baseline,
dropout, batch norm, augmentation, an L2 grid, early stopping, and optionally
the design as it is); :func:`~core.lab.remedies.train_variants` trains the
checked ones one after another, in a child process
(:func:`~core.lab.remedies.remedies_job`), each in its own run folder under
``RUNS_ROOT/<design>-remedies/<time>/``. The left plot overlays every variant's
training (dashed) and validation (solid) curve with the gap between them
shaded; the right plot draws the generalisation gap itself. Curves grow as
epochs end.
"""

from __future__ import annotations

import functools

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QSpinBox, QTableWidgetItem, QVBoxLayout,
)

from convstudio.core.lab.remedies import VariantCurves, remedies_job, remedy_variants
from convstudio.core.training.records import EpochRecord
from convstudio.core.training.run_index import new_run_dir
from convstudio.gui.lab.panel import LabPanel, fit_rows, results_table
from convstudio.gui.lab.plots import clear_plot, colour, lab_plot, legend_html, pen, reference_pen

COLUMNS = ("Variant", "Epochs", "Train acc.", "Val. acc.", "Acc. gap", "Loss gap", "Test acc.", "Ended", "Run folder")
METRICS = ("loss", "accuracy")


class RemediesPanel(LabPanel):
    """Train the lecture's overfitting remedies side by side and compare their generalisation gaps."""

    title = "Overfitting remedies"
    object_name = "remediesPanel"
    run_text = "Train variants"
    backend = "process"

    def __init__(self, document, runs_root=None, parent=None):
        super().__init__(document, runs_root, parent)
        self.series: dict[str, dict[str, list]] = {}  # label -> epochs and the four curves, as they arrive
        self.final: list[VariantCurves] = []
        self._curves: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem, pg.PlotDataItem]] = {}
        self._labels: list[str] = []
        self._current = 0
        self.epochs = QSpinBox(self)
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(8)
        self.limit = QSpinBox(self)
        self.limit.setRange(0, 10_000_000)
        self.limit.setSingleStep(500)
        self.limit.setValue(2000)
        self.limit.setSpecialValueText("all")
        self.limit.setToolTip("Few training images overfit sooner: the remedies have something to act on")
        self.variants = QListWidget(self)
        self.variants.setObjectName("remediesVariants")
        self.metric_choice = QComboBox(self)
        for key in METRICS:
            self.metric_choice.addItem(key, key)
        self.metric_choice.setToolTip("The curves to overlay; the gap is validation − training loss, "
                                      "or training − validation accuracy")
        self.metric_choice.currentIndexChanged.connect(self._on_metric_changed)
        self.add_option("Epochs", self.epochs)
        self.add_option("Training images", self.limit)
        self.options.addRow(QLabel("Variants (each one run)"))
        self.options.addRow(self.variants)
        self.add_option("Plot", self.metric_choice)

        self.curves_plot = lab_plot("Training (dashed) and validation (solid), gap shaded", "epoch", "loss",
                                    object_name="remediesCurves", legend=None)
        self.gap_plot = lab_plot("Generalisation gap", "epoch", "validation − training loss",
                                 object_name="remediesGap", legend=None)
        self.legend = QLabel(self)  # one legend for both plots: a colour per variant
        self.legend.setObjectName("remediesLegend")
        self.legend.setWordWrap(True)
        plots = QHBoxLayout()
        plots.addWidget(self.curves_plot)
        plots.addWidget(self.gap_plot)
        self.table = results_table(self, "remediesTable", COLUMNS)
        layout = QVBoxLayout(self.results)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.legend)
        layout.addLayout(plots, 1)
        layout.addWidget(self.table)
        fit_rows(self.table)
        self.design_changed()

    # -- the variants ------------------------------------------------------------------------
    def design_changed(self) -> None:
        """List the variants of the current design, keeping what the user unchecked."""
        unchecked = {self.variants.item(row).text() for row in range(self.variants.count())
                     if self.variants.item(row).checkState() != Qt.CheckState.Checked}
        if not self.variants.count():
            unchecked = {"as designed"}
        try:
            variants = remedy_variants(self.design, self.training_settings(), include_current=True)
        except ValueError:  # a design being edited may not take a variant's edit; keep the last list
            return
        self.variants.clear()
        for variant in variants:
            item = QListWidgetItem(variant.label, self.variants)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if variant.label in unchecked else Qt.CheckState.Checked)
            item.setToolTip(variant.design.name)
        self.variants.setMaximumHeight(self.variants.sizeHintForRow(0) * (self.variants.count() + 1))

    def chosen_labels(self) -> list[str]:
        return [self.variants.item(row).text() for row in range(self.variants.count())
                if self.variants.item(row).checkState() == Qt.CheckState.Checked]

    def set_chosen(self, labels) -> None:
        """Check exactly the variants named in ``labels`` (tests and scripts)."""
        for row in range(self.variants.count()):
            item = self.variants.item(row)
            item.setCheckState(Qt.CheckState.Checked if item.text() in labels else Qt.CheckState.Unchecked)

    # -- running -----------------------------------------------------------------------------
    def make_job(self):
        design = self.valid_design()
        if design is None:
            return None
        chosen = self.chosen_labels()
        if not chosen:
            self.show_message("Check at least one variant.", error=True)
            return None
        settings = self.training_settings().model_copy(update={
            "epochs": self.epochs.value(), "data_limit": self.limit.value() or None})
        variants = [v for v in remedy_variants(design, settings, include_current=True) if v.label in chosen]
        root = new_run_dir(self.runs_root(), f"{design.name} remedies")
        labels = [v.label for v in variants]
        self._labels, self._current = list(labels), 0
        self._reset_plots()
        self.legend.setText(legend_html([(colour(i), label, "solid") for i, label in enumerate(labels)]))
        return functools.partial(remedies_job, variants=variants, runs_root=root)

    def progress_text(self, done: int, total: int) -> str:
        label = self._labels[self._current] if self._current < len(self._labels) else ""
        return f"{label}: variant {self._current + 1} of {len(self._labels)}"

    @Slot(object)
    def on_posted(self, item) -> None:
        label, record = item
        self._current = self._labels.index(label)
        if isinstance(record, EpochRecord):
            series = self.series.setdefault(label, {key: [] for key in
                                                   ("epochs", "train_loss", "val_loss", "train_accuracy",
                                                    "val_accuracy")})
            series["epochs"].append(record.epoch + 1)
            for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
                series[key].append(getattr(record, key))
            self._update_curves(label)

    # -- drawing -----------------------------------------------------------------------------
    def _reset_plots(self) -> None:
        self.series, self.final, self._curves = {}, [], {}
        for plot in (self.curves_plot, self.gap_plot):
            clear_plot(plot)
        self.gap_plot.getPlotItem().addItem(pg.InfiniteLine(pos=0, angle=0, pen=reference_pen()))

    def _curve_items(self, label: str):
        """The training, validation and gap curves of ``label``, created once (then only setData)."""
        if label not in self._curves:
            number = self._labels.index(label) if label in self._labels else len(self._curves)
            name = colour(number)
            plot, gap = self.curves_plot.getPlotItem(), self.gap_plot.getPlotItem()
            train = plot.plot([], [], pen=pen(name, dashed=True))
            val = plot.plot([], [], pen=pen(name, width=2), symbol="o", symbolSize=5, symbolBrush=name,
                            symbolPen=None, name=label)
            shade = QColor(name)
            shade.setAlpha(40)
            plot.addItem(pg.FillBetweenItem(train, val, brush=pg.mkBrush(shade)))
            gap_curve = gap.plot([], [], pen=pen(name, width=2), symbol="o", symbolSize=5, symbolBrush=name,
                                 symbolPen=None, name=label)
            self._curves[label] = (train, val, gap_curve)
        return self._curves[label]

    def _update_curves(self, label: str) -> None:
        series = self.series[label]
        metric = self.metric_choice.currentData()
        epochs = np.asarray(series["epochs"], dtype=float)
        train, val = np.asarray(series[f"train_{metric}"]), np.asarray(series[f"val_{metric}"])
        gap = val - train if metric == "loss" else train - val
        train_item, val_item, gap_item = self._curve_items(label)
        train_item.setData(epochs, train)
        val_item.setData(epochs, val)
        gap_item.setData(epochs, gap)

    @Slot(int)
    def _on_metric_changed(self, _index: int) -> None:
        metric = self.metric_choice.currentData()
        self.curves_plot.getPlotItem().setLabel("left", metric)
        self.gap_plot.getPlotItem().setLabel(
            "left", "validation − training loss" if metric == "loss" else "training − validation accuracy")
        for label in self.series:
            self._update_curves(label)

    def show_result(self, curves: list[VariantCurves]) -> None:
        self.final = list(curves)
        for c in curves:
            self.series[c.label] = {"epochs": list(c.epochs), "train_loss": list(c.train_loss),
                                    "val_loss": list(c.val_loss), "train_accuracy": list(c.train_accuracy),
                                    "val_accuracy": list(c.val_accuracy)}
            self._update_curves(c.label)
        self.table.setRowCount(len(curves))
        for number, c in enumerate(curves):
            last = (lambda values: f"{values[-1]:.3f}" if values else "")
            test = f"{c.test_accuracy:.3f}" if c.test_accuracy is not None else ""
            cells = (c.label, str(len(c.epochs)), last(c.train_accuracy), last(c.val_accuracy), last(c.accuracy_gap),
                     last(c.loss_gap), test, c.end_reason.replace("_", " "), c.run_dir or "")
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if column == 0:
                    cell.setForeground(QColor(colour(self._labels.index(c.label) if c.label in self._labels
                                                     else number)))
                elif 1 <= column <= 6:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(number, column, cell)
        fit_rows(self.table)
