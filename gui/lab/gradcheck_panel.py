"""The gradient check panel (eq. 1-2): autograd against finite differences, per layer and against Delta.

Runs :func:`core.lab.gradcheck.gradient_check` on the window's design (a
table of the worst relative errors per layer, green for pass, red for fail)
and :func:`~core.lab.gradcheck.error_vs_delta` for one entry: a log-log plot
of the forward and central differences' errors against Delta, truncation
falling and round-off rising, with the best Delta marked. Selecting a layer in
the table draws the curve for that layer's first parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHeaderView, QLabel, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from convstudio.core.lab.gradcheck import DeltaCurve, GradCheckReport, error_vs_delta, gradient_check
from convstudio.gui import theme
from convstudio.gui.lab.panel import LabPanel
from convstudio.gui.lab.plots import clear_plot, colour, floored, lab_plot, pass_color, pen, reference_pen, wash

COLUMNS = ("Layer", "Kind", "Entries", "Kinks", "Max forward error", "Max central error", "Verdict")
DELTAS = (1e-4, 1e-5, 1e-6, 1e-7, 1e-8)


@dataclass(frozen=True)
class GradCheckResult:
    """What one run of the panel computes: the per-layer check and one entry's curve."""

    report: GradCheckReport
    curve: DeltaCurve


class GradCheckPanel(LabPanel):
    """Check the design's gradients by finite differences; see the error against Delta."""

    title = "Gradient check"
    object_name = "gradcheckPanel"
    run_text = "Check gradients"

    def __init__(self, document, runs_root=None, parent=None):
        super().__init__(document, runs_root, parent)
        self.report: GradCheckReport | None = None
        self.curve: DeltaCurve | None = None
        self.batch_size = QSpinBox(self)
        self.batch_size.setRange(1, 64)
        self.batch_size.setValue(4)
        self.batch_size.setToolTip("Random images in the frozen batch (float64, dropout masks held fixed)")
        self.entries = QSpinBox(self)
        self.entries.setRange(1, 200)
        self.entries.setValue(8)
        self.entries.setToolTip("Sampled entries per parameter tensor")
        self.delta = QComboBox(self)
        for value in DELTAS:
            self.delta.addItem(f"{value:.0e}", value)
        self.delta.setCurrentIndex(DELTAS.index(1e-6))
        self.delta.setToolTip("The step Delta of eq. (1-2) used for the table")
        self.seed = QSpinBox(self)
        self.seed.setRange(0, 1_000_000)
        self.add_option("Batch size", self.batch_size)
        self.add_option("Entries per tensor", self.entries)
        self.add_option("Delta", self.delta)
        self.add_option("Seed", self.seed)

        self.summary = QLabel(self)
        self.summary.setObjectName("gradcheckSummary")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("gradcheckTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Select a layer to draw the error against Delta for its first parameter")
        self.table.itemSelectionChanged.connect(self._on_layer_selected)
        self.plot = lab_plot("Relative error against Delta", "Delta", "relative error", log_x=True, log_y=True,
                             object_name="gradcheckPlot", legend="bottom-left")
        self.curve_label = QLabel(self)
        self.curve_label.setObjectName("gradcheckCurveLabel")
        self.curve_label.setWordWrap(True)
        curve_box = QWidget(self)
        curve_layout = QVBoxLayout(curve_box)
        curve_layout.setContentsMargins(0, 0, 0, 0)
        curve_layout.addWidget(self.curve_label)
        curve_layout.addWidget(self.plot, 1)
        splitter = QSplitter(Qt.Orientation.Vertical, self.results)
        splitter.addWidget(self.table)
        splitter.addWidget(curve_box)
        splitter.setSizes([240, 440])
        layout = QVBoxLayout(self.results)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)

    # -- running -----------------------------------------------------------------------------
    def make_job(self):
        design = self.valid_design()
        if design is None:
            return None
        batch, entries, seed = self.batch_size.value(), self.entries.value(), self.seed.value()
        delta = float(self.delta.currentData())

        def check(job) -> GradCheckResult:
            report = gradient_check(design, batch, entries, delta, seed, progress=job.progress,
                                    should_stop=job.should_stop)
            return GradCheckResult(report, error_vs_delta(design, batch_size=batch, seed=seed))
        return check

    def progress_text(self, done: int, total: int) -> str:
        return f"entry {done} of {total}"

    def draw_curve_for(self, row: int) -> bool:
        """Compute and draw the error-against-Delta curve for the first parameter of table row ``row``."""
        if self.report is None or self.worker.running or not 0 <= row < len(self.report.layers):
            return False
        design, parameter = self.document.design, self.report.layers[row].parameters[0]
        batch, seed = self.report.batch_size, self.seed.value()
        self.show_message("")
        self.progress.setFormat(f"Curve for {parameter}…")
        self.worker.start(lambda job: error_vs_delta(design, parameter=parameter, batch_size=batch, seed=seed))
        self._update_buttons()
        return True

    @Slot()
    def _on_layer_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows and self.report is not None and self.curve is not None:
            layer = self.report.layers[rows[0].row()]
            if self.curve.parameter not in layer.parameters:
                self.draw_curve_for(rows[0].row())

    # -- drawing -----------------------------------------------------------------------------
    def show_result(self, result) -> None:
        if isinstance(result, DeltaCurve):
            self.show_curve(result)
            return
        self.show_report(result.report)
        self.show_curve(result.curve)

    def show_report(self, report: GradCheckReport) -> None:
        """Fill the table, one row per layer with parameters, coloured by verdict."""
        self.report = report
        passed, failed = pass_color(), theme.error_color()
        self.table.blockSignals(True)
        self.table.setRowCount(len(report.layers))
        for row, layer in enumerate(report.layers):
            verdict = "pass" if layer.passed else ("FAIL" if layer.entries else "FAIL (every step crossed a kink)")
            cells = (layer.layer, layer.kind, str(layer.entries), str(layer.kinks),
                     f"{layer.max_forward_error:.1e}", f"{layer.max_central_error:.1e}", verdict)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setBackground(wash(passed if layer.passed else failed))
                if 2 <= column <= 5:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if column == len(cells) - 1:
                    item.setForeground(passed if layer.passed else failed)
                item.setToolTip(", ".join(layer.parameters))
                self.table.setItem(row, column, item)
        self.table.blockSignals(False)
        verdict = ("All layers pass" if report.passed
                   else f"<span style='color:{theme.hex_color(failed)}'><b>FAILED:</b> "
                        f"{', '.join(report.failed_layers)}</span>")
        self.summary.setText(
            f"<b>{verdict}</b> — Delta = {report.delta:g}, batch of {report.batch_size}, loss {report.loss:.4f}, "
            f"{report.seconds:.1f} s. Pass: central error &lt; {report.central_tolerance:g} and forward "
            f"&lt; {report.forward_tolerance:g}; error |a − b| / max(|a|, |b|, {report.error_floor:.1e}).")

    def show_curve(self, curve: DeltaCurve) -> None:
        """Draw forward and central errors against Delta, the best Delta of each marked."""
        self.curve = curve
        clear_plot(self.plot)
        plot = self.plot.getPlotItem()
        deltas = np.asarray(curve.deltas)
        for index, (name, errors, best) in enumerate((
                ("forward (g(v+Δ) − g(v)) / Δ", curve.forward_errors, curve.best_forward_delta),
                ("central (g(v+Δ) − g(v−Δ)) / 2Δ", curve.central_errors, curve.best_central_delta))):
            errors = floored(errors)
            plot.plot(deltas, errors, pen=pen(colour(index)), symbol="o", symbolSize=5,
                      symbolBrush=colour(index), symbolPen=None, name=name)
            at = int(np.argmin(np.abs(deltas - best)))
            plot.plot([best], [errors[at]], pen=None, symbol="star", symbolSize=16, symbolBrush=colour(index),
                      symbolPen=pg.mkPen(theme.hex_color(self.palette().color(self.foregroundRole()))),
                      name=f"best Δ = {best:.0e}")
        kinked = np.asarray(curve.kinks, dtype=bool)
        if kinked.any():
            plot.plot(deltas[kinked], floored(curve.central_errors)[kinked], pen=None, symbol="x", symbolSize=9,
                      symbolBrush=None, symbolPen=pg.mkPen(colour(7), width=1.5), name="step crossed a kink")
        line = pg.InfiniteLine(pos=math.log10(curve.best_central_delta), angle=90, pen=reference_pen())
        plot.addItem(line, ignoreBounds=True)
        self.curve_label.setText(
            f"Entry {curve.parameter}{list(curve.index)} of layer <b>{curve.layer}</b>, autograd "
            f"{curve.autograd:.6g}. Large Δ: truncation error (forward ∝ Δ, central ∝ Δ²); small Δ: round-off "
            f"(∝ ε/Δ). Best Δ: forward {curve.best_forward_delta:.0e} ({curve.best_forward_error:.1e}), central "
            f"{curve.best_central_delta:.0e} ({curve.best_central_error:.1e}).")
