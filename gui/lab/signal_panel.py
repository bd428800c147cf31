"""The initialisation and signal propagation panel (eq. 27-31): Var[Z], Var[H] and gradients per layer.

Runs :func:`core.lab.signal_propagation.compare_schemes` on the window's
design for the chosen schemes (the lecture's C / sqrt(d) with normal or
uniform draws, PyTorch's default, He, Glorot), with the design's batch
normalisation kept, removed, or both, on standard-normal or real images. One
curve per scheme in each plot (dashed: batch norm removed), a dotted line at
Var = 1 (eq. 29), and a table saying layer by layer where the lecture's claim
holds or fails.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QGridLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QSpinBox,
    QSplitter, QTableWidgetItem, QVBoxLayout, QWidget,
)

from convstudio.core.data import DATASET_NAMES
from convstudio.core.initialisation import INIT_DESCRIPTIONS, INIT_SCHEMES
from convstudio.core.lab.data_access import normalised_images
from convstudio.core.lab.signal_propagation import VARIANCE_BAND, PropagationReport, compare_schemes
from convstudio.gui import theme
from convstudio.gui.lab.datasets import cached_dataset
from convstudio.gui.lab.panel import LabPanel, results_table
from convstudio.gui.lab.plots import (
    category_ticks, clear_plot, colour, floored, lab_plot, legend_html, pass_color, pen, reference_pen, text_color,
    wash,
)

SCHEME_TITLES = {"lecture_normal": "lecture normal C/√d", "lecture_uniform": "lecture uniform C/√d",
                 "pytorch_default": "PyTorch default", "he": "He", "glorot": "Glorot"}
BATCH_NORM_CHOICES = (("kept", (True,)), ("removed", (False,)), ("both (dashed: removed)", (True, False)))
COLUMNS = ("Layer", "Module", "Kind", "Mean", "Variance", "Eq. 28 predicts", "Grad. variance", "Lecture's claim")
# (title, y label, row kind, value of a row, log y, reference line at 1)
PLOTS = (("Var[Z] per layer", "Var[Z]", "Z", lambda r: r.variance, True, True),
         ("Var[H] per layer", "Var[H]", "H", lambda r: r.variance, True, True),
         ("Mean of H per layer", "E[H]", "H", lambda r: r.mean, False, False),
         ("Gradient flowing back: Var[∂L/∂Z]", "Var[∂L/∂Z]", "Z", lambda r: r.grad_variance, True, False))


def report_title(report: PropagationReport, both: bool) -> str:
    """A curve's legend entry: the scheme, C if not 1, and "no BN" when batch norm was removed for comparison."""
    title = SCHEME_TITLES.get(report.scheme, report.scheme)
    if report.scheme.startswith("lecture") and report.gain != 1:
        title += f", C={report.gain:g}"
    return title + (", no BN" if both and not report.batch_norm else "")


class SignalPanel(LabPanel):
    """Push a batch through the freshly initialised design and watch the variance layer by layer."""

    title = "Initialisation and signal propagation"
    object_name = "signalPanel"
    run_text = "Propagate"

    def __init__(self, document, runs_root=None, parent=None):
        super().__init__(document, runs_root, parent)
        self.reports: tuple[PropagationReport, ...] = ()
        self.schemes = QListWidget(self)
        self.schemes.setObjectName("signalSchemes")
        for scheme in INIT_SCHEMES:
            item = QListWidgetItem(SCHEME_TITLES.get(scheme, scheme), self.schemes)
            item.setData(Qt.ItemDataRole.UserRole, scheme)
            item.setToolTip(INIT_DESCRIPTIONS.get(scheme, ""))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
        self.schemes.setMaximumHeight(self.schemes.sizeHintForRow(0) * (len(INIT_SCHEMES) + 1))
        self.gain = QDoubleSpinBox(self)
        self.gain.setRange(0.05, 10.0)
        self.gain.setSingleStep(0.1)
        self.gain.setValue(1.0)
        self.gain.setToolTip("C in eq. (27), for the lecture's schemes")
        self.batch_norm = QComboBox(self)
        for text, flags in BATCH_NORM_CHOICES:
            self.batch_norm.addItem(text, flags)
        self.batch_norm.setToolTip("Keep the design's batch-normalisation layers, remove them, or compare both")
        self.inputs = QComboBox(self)
        self.inputs.addItem("standard normal", None)
        for name in DATASET_NAMES:
            self.inputs.addItem(f"real images: {name}", name)
        self.inputs.setToolTip("The lecture assumes inputs of mean 0 and variance 1; "
                               "real images are normalised as in training")
        self.batch_size = QSpinBox(self)
        self.batch_size.setRange(2, 4096)
        self.batch_size.setValue(64)
        self.seed = QSpinBox(self)
        self.seed.setRange(0, 1_000_000)
        self.options.addRow(QLabel("Initialisation schemes"))
        self.options.addRow(self.schemes)
        self.add_option("C (lecture)", self.gain)
        self.add_option("Batch norm", self.batch_norm)
        self.add_option("Inputs", self.inputs)
        self.add_option("Batch size", self.batch_size)
        self.add_option("Seed", self.seed)

        self.plots = [lab_plot(title, "layer", y_label, log_y=log_y, object_name=f"signalPlot{index}", legend=None)
                      for index, (title, y_label, _, _, log_y, _) in enumerate(PLOTS)]
        self.legend = QLabel(self)  # one legend for the four plots: the same curves in each
        self.legend.setObjectName("signalLegend")
        self.legend.setWordWrap(True)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.legend, 0, 0, 1, 2)
        for index, plot in enumerate(self.plots):
            grid.addWidget(plot, 1 + index // 2, index % 2)
        plots_box = QWidget(self)
        plots_box.setLayout(grid)
        self.table_choice = QComboBox(self)
        self.table_choice.setObjectName("signalTableChoice")
        self.table_choice.currentIndexChanged.connect(self._on_table_choice)
        self.table = results_table(self, "signalTable", COLUMNS)
        table_box = QWidget(self)
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        choice_row = QHBoxLayout()
        choice_row.addWidget(QLabel("Layer by layer for"))
        choice_row.addWidget(self.table_choice, 1)
        table_layout.addLayout(choice_row)
        table_layout.addWidget(self.table, 1)
        splitter = QSplitter(Qt.Orientation.Vertical, self.results)
        splitter.addWidget(plots_box)
        splitter.addWidget(table_box)
        splitter.setSizes([520, 240])
        layout = QVBoxLayout(self.results)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    # -- running -----------------------------------------------------------------------------
    def chosen_schemes(self) -> tuple[str, ...]:
        items = (self.schemes.item(row) for row in range(self.schemes.count()))
        return tuple(item.data(Qt.ItemDataRole.UserRole) for item in items
                     if item.checkState() == Qt.CheckState.Checked)

    def set_schemes(self, schemes) -> None:
        """Check exactly ``schemes`` (tests and scripts)."""
        for row in range(self.schemes.count()):
            item = self.schemes.item(row)
            wanted = item.data(Qt.ItemDataRole.UserRole) in schemes
            item.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)

    def make_job(self):
        design = self.valid_design()
        schemes = self.chosen_schemes()
        if design is None:
            return None
        if not schemes:
            self.show_message("Choose at least one initialisation scheme.", error=True)
            return None
        gain, batch, seed = self.gain.value(), self.batch_size.value(), self.seed.value()
        variants, dataset = self.batch_norm.currentData(), self.inputs.currentData()

        def propagate(job) -> tuple[PropagationReport, ...]:
            inputs = labels = None
            if dataset is not None:
                # twice the batch: the validation share is set aside before the training images are taken
                data = cached_dataset(dataset, seed=seed, limit=max(2 * batch, 20))
                if tuple(data.image_shape) != tuple(design.input.shape):
                    raise ValueError(f"{data.name} images are {data.image_shape}; the design expects "
                                     f"{tuple(design.input.shape)}")
                inputs, labels = normalised_images(data, "train", limit=batch)
            reports: list[PropagationReport] = []
            total = len(variants) * len(schemes)
            for number, batch_norm in enumerate(variants):
                def progress(done, _total, offset=number * len(schemes)):
                    job.progress(offset + done, total)
                reports += compare_schemes(design, schemes, gain, batch_norm, inputs, labels, batch, seed,
                                           progress=progress, should_stop=job.should_stop)
            return tuple(reports)
        return propagate

    def progress_text(self, done: int, total: int) -> str:
        return f"scheme {min(done + 1, total)} of {total}" if done < total else "Done"

    # -- drawing -----------------------------------------------------------------------------
    def show_result(self, reports: tuple[PropagationReport, ...]) -> None:
        self.reports = reports
        both = len({report.batch_norm for report in reports}) > 1
        for plot, (_, _, kind, value, log_y, reference) in zip(self.plots, PLOTS):
            clear_plot(plot)
            item = plot.getPlotItem()
            layers = list(dict.fromkeys(row.layer for row in reports[0].of_kind(kind)))  # fc1 may have no H
            category_ticks(plot, layers)
            for report in reports:
                y = np.full(len(layers), np.nan)
                for row in report.of_kind(kind):
                    if row.layer in layers:
                        y[layers.index(row.layer)] = value(row)
                scheme_index = INIT_SCHEMES.index(report.scheme) if report.scheme in INIT_SCHEMES else 0
                item.plot(np.arange(len(layers)), floored(y, 1e-30) if log_y else y, connect="finite",
                          pen=pen(colour(scheme_index), dashed=not report.batch_norm and both),
                          symbol="o", symbolSize=5, symbolBrush=colour(scheme_index), symbolPen=None,
                          name=report_title(report, both))
            if reference:
                backdrop = QColor(self.palette().color(QPalette.ColorRole.Base))
                backdrop.setAlpha(200)  # the label stays readable where curves cross it
                line = pg.InfiniteLine(pos=0.0, angle=0, pen=reference_pen(), label="Var = 1 (eq. 29)",
                                       labelOpts={"position": 0.98, "color": text_color(), "fill": backdrop,
                                                  "anchors": [(1, 0), (1, 0)]})
                item.addItem(line)
        shown = list(dict.fromkeys(report.scheme for report in reports))
        entries = [(colour(INIT_SCHEMES.index(scheme)), report_title(next(r for r in reports if r.scheme == scheme),
                                                                     False), "solid") for scheme in shown]
        if both:
            entries.append((theme.hex_color(text_color()), "batch norm removed", "dashed"))
        self.legend.setText(legend_html(entries))
        self.table_choice.blockSignals(True)
        self.table_choice.clear()
        for report in reports:
            holds = sum(bool(row.claim_holds) for row in report.of_kind("Z"))
            self.table_choice.addItem(f"{report_title(report, both)} (batch norm "
                                      f"{'kept' if report.batch_norm else 'removed'}): Var[Z] = 1 holds in "
                                      f"{holds} of {len(report.of_kind('Z'))} layers")
        self.table_choice.blockSignals(False)
        self.show_table(0)

    @Slot(int)
    def _on_table_choice(self, index: int) -> None:
        self.show_table(index)

    def show_table(self, index: int) -> None:
        """Fill the table with report ``index``: every module's statistics and the lecture's claim."""
        if not 0 <= index < len(self.reports):
            return
        rows = self.reports[index].rows
        holds, fails = pass_color(), theme.error_color()
        self.table.setRowCount(len(rows))
        low, high = VARIANCE_BAND
        for number, row in enumerate(rows):
            predicted = f"{row.predicted_variance:.3f}" if row.predicted_variance is not None else ""
            note, verdict = "", None
            if row.kind == "Z":
                verdict = bool(row.claim_holds)
                note = f"Var[Z] = 1 {'holds' if verdict else 'fails'} ({low:g}–{high:g})"
                note += "" if row.assumption_holds else "; its input is not mean 0, variance 1"
            elif row.kind == "H" and row.linearisation_error is not None:
                note = f"H ≈ Z (eq. 30) off by {100 * row.linearisation_error:.0f} %"
            cells = (row.layer, row.module, row.kind, f"{row.mean:.3f}", f"{row.variance:.3f}", predicted,
                     f"{row.grad_variance:.2e}", note)
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if 3 <= column <= 6:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if verdict is not None:
                    cell.setBackground(wash(holds if verdict else fails))
                    if column == len(cells) - 1:
                        cell.setForeground(holds if verdict else fails)
                self.table.setItem(number, column, cell)
