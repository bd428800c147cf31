"""The dropout inference panel (eq. 22-24): weight scaling against Monte Carlo dropout for a trained run.

Loads a run folder's design, settings and weights (:mod:`core.lab.data_access`),
its dataset's test split, and runs :func:`core.lab.dropout_lab.dropout_inference_curve`.
Plots accuracy, NLL and expected calibration error against T (log axis) with
weight scaling as a dashed line, a reliability diagram of both rules, and the
test images where the rules disagree most, with Monte Carlo's predictive entropy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QScrollArea, QSpinBox,
    QSplitter, QVBoxLayout, QWidget,
)

from convstudio.core.lab.data_access import load_trained_run, normalised_images
from convstudio.core.lab.dropout_lab import DropoutLabReport, dropout_inference_curve
from convstudio.core.training.run_index import design_runs_folder
from convstudio.gui.lab.datasets import run_data
from convstudio.gui.lab.panel import LabPanel
from convstudio.gui import theme
from convstudio.gui.lab.plots import (
    clear_plot, colour, image_pixmap, lab_plot, legend_html, log_ticks, pen, reference_pen, text_color,
)

DEFAULT_SAMPLES = "1, 2, 5, 10, 20, 50"
# (title, y label, attribute of a RuleScore)
METRICS = (("Accuracy against T", "accuracy", "accuracy"), ("NLL against T", "NLL (nats)", "nll"),
           ("Calibration error against T", "ECE", "ece"))
GRID_COLUMNS = 7
IMAGE_SIZE = 64  # pixels of each disagreement image (32 x 32 images are shown blocky, magnified)


@dataclass(frozen=True)
class DropoutResult:
    """The core's report, with what the panel needs to show the images it names."""

    report: DropoutLabReport
    run_dir: str
    design_name: str
    dataset: str
    classes: tuple[str, ...]
    images: tuple[torch.Tensor, ...]  # uint8 C x H x W test images, one per disagreement


def parse_samples(text: str) -> tuple[int, ...]:
    """"1, 2, 5" -> (1, 2, 5); ValueError unless every entry is a whole number of at least 1."""
    samples = tuple(int(part) for part in text.replace(";", ",").split(",") if part.strip())
    if not samples or min(samples) < 1:
        raise ValueError(text)
    return samples


class DropoutPanel(LabPanel):
    """Weight scaling against Monte Carlo dropout on a trained run's test images."""

    title = "Dropout inference"
    object_name = "dropoutPanel"
    run_text = "Compare rules"

    def __init__(self, document, runs_root=None, parent=None):
        super().__init__(document, runs_root, parent)
        self._suggested = ""
        self.run_dir = QLineEdit(self)
        self.run_dir.setObjectName("dropoutRunDir")
        self.run_dir.setPlaceholderText("a run folder (with best.pt)")
        browse = QPushButton("Browse…", self)
        browse.setObjectName("dropoutBrowse")
        browse.clicked.connect(self._on_browse)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_dir, 1)
        run_row.addWidget(browse)
        self.samples = QLineEdit(DEFAULT_SAMPLES, self)
        self.samples.setObjectName("dropoutSamples")
        self.samples.setToolTip("Values of T: how many dropout masks Monte Carlo averages over")
        self.limit = QSpinBox(self)
        self.limit.setRange(0, 1_000_000)
        self.limit.setValue(2000)
        self.limit.setSpecialValueText("all")
        self.limit.setToolTip("Use the first this many test images (0: all)")
        self.weights = QComboBox(self)
        self.weights.addItem("best (lowest validation loss)", "best")
        self.weights.addItem("last epoch", "last")
        self.seed = QSpinBox(self)
        self.seed.setRange(0, 1_000_000)
        self.options.addRow(QLabel("Run folder"))
        self.options.addRow(run_row)
        self.add_option("T values", self.samples)
        self.add_option("Test images", self.limit)
        self.add_option("Weights", self.weights)
        self.add_option("Seed", self.seed)

        self.summary = QLabel(self)
        self.summary.setObjectName("dropoutSummary")
        self.summary.setWordWrap(True)
        self.metric_plots = [lab_plot(title, "T (masks averaged)", y_label, log_x=True, object_name=f"dropout_{key}",
                                      legend=None) for title, y_label, key in METRICS]
        self.reliability = lab_plot("Reliability diagram", "confidence (largest probability)",
                                    "accuracy in the bin", object_name="dropoutReliability", legend=None)
        legend = QLabel(legend_html([(colour(0), "Monte Carlo: softmax averaged over T masks", "solid"),
                                     (colour(1), "weight scaling (eq. 22)", "dashed"),
                                     (theme.hex_color(text_color()), "perfectly calibrated", "dotted")]), self)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(legend, 0, 0, 1, 2)
        for index, plot in enumerate([*self.metric_plots, self.reliability]):
            grid.addWidget(plot, 1 + index // 2, index % 2)
        plots_box = QWidget(self)
        plots_box.setLayout(grid)
        self.images_box = QWidget(self)
        self.images_box.setObjectName("dropoutDisagreements")
        self.images_grid = QGridLayout(self.images_box)
        self.images_grid.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        images_scroll = QScrollArea(self)
        images_scroll.setWidgetResizable(True)
        images_scroll.setWidget(self.images_box)
        self.images_title = QLabel("<b>Where the rules disagree most</b>", self)
        lower = QWidget(self)
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.images_title)
        lower_layout.addWidget(images_scroll, 1)
        splitter = QSplitter(Qt.Orientation.Vertical, self.results)
        splitter.addWidget(plots_box)
        splitter.addWidget(lower)
        splitter.setSizes([440, 320])
        layout = QVBoxLayout(self.results)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)
        self.design_changed()

    # -- the run folder ----------------------------------------------------------------------
    def design_changed(self) -> None:
        """Suggest the design's newest run (unless the user typed another folder)."""
        if self.run_dir.text() not in ("", self._suggested):
            return
        folder = design_runs_folder(self.runs_root(), self.design.name)
        runs = sorted((path for path in folder.iterdir() if (path / "best.pt").is_file()),
                      key=lambda path: (path / "best.pt").stat().st_mtime, reverse=True) if folder.is_dir() else []
        self._suggested = str(runs[0]) if runs else ""
        self.run_dir.setText(self._suggested)

    def choose_run_folder(self) -> str:
        """The folder the user picks ("" when cancelled); tests replace it."""
        start = self.run_dir.text() or str(design_runs_folder(self.runs_root(), self.design.name))
        return QFileDialog.getExistingDirectory(self, "Run folder", start)

    @Slot()
    def _on_browse(self) -> None:
        chosen = self.choose_run_folder()
        if chosen:
            self.run_dir.setText(chosen)

    # -- running -----------------------------------------------------------------------------
    def make_job(self):
        run_dir = self.run_dir.text().strip()
        if not run_dir:
            self.show_message("Choose a run folder: train the design first, or browse to a run.", error=True)
            return None
        try:
            samples = parse_samples(self.samples.text())
        except ValueError:
            self.show_message(f"T values must be whole numbers of at least 1, such as {DEFAULT_SAMPLES}.",
                              error=True)
            return None
        weights, seed, limit = self.weights.currentData(), self.seed.value(), self.limit.value() or None

        def infer(job) -> DropoutResult:
            trained = load_trained_run(Path(run_dir), weights)
            data = run_data(trained.settings)
            images, labels = normalised_images(data, "test", limit=limit)
            if len(labels) == 0:
                raise ValueError(f"{data.name} has no test images to compare the rules on")
            report = dropout_inference_curve(trained.model, images, labels, samples, seed=seed,
                                             progress=job.progress, should_stop=job.should_stop)
            pictures = tuple(data.test_images[d.index].clone() for d in report.disagreements)
            return DropoutResult(report, run_dir, trained.design.name, data.name, data.classes, pictures)
        return infer

    def progress_text(self, done: int, total: int) -> str:
        return f"Monte Carlo sample {done} of {total}"

    # -- drawing -----------------------------------------------------------------------------
    def show_result(self, result: DropoutResult) -> None:
        report = result.report
        note = ("" if report.has_dropout
                else " <b>The design has no dropout: both rules give the same prediction.</b>")
        self.summary.setText(f"{result.run_dir} — {result.design_name}, {report.image_count} {result.dataset} "
                             f"test images, {report.seconds:.1f} s.{note}")
        samples = np.asarray(report.samples, dtype=float)
        span = np.array([samples.min(), samples.max()]) if len(samples) else np.array([1.0, 1.0])
        for plot, (_, _, key) in zip(self.metric_plots, METRICS):
            clear_plot(plot)
            item = plot.getPlotItem()
            item.plot(samples, [getattr(score, key) for score in report.monte_carlo], pen=pen(colour(0)),
                      symbol="o", symbolSize=6, symbolBrush=colour(0), symbolPen=None, name="Monte Carlo")
            log_ticks(plot, report.samples)
            level = getattr(report.weight_scaling, key)
            item.plot(span, [level, level], pen=pen(colour(1), dashed=True), name="weight scaling")
        self.draw_reliability(report)
        self.show_disagreements(result)

    def draw_reliability(self, report: DropoutLabReport) -> None:
        """Accuracy against confidence per bin, both rules side by side, and the calibrated diagonal."""
        clear_plot(self.reliability)
        item = self.reliability.getPlotItem()
        item.plot([0, 1], [0, 1], pen=reference_pen(), name="perfectly calibrated")
        rules = [(report.weight_scaling, "WS", colour(1))]
        if report.monte_carlo:
            largest = report.monte_carlo[-1]
            rules.append((largest, f"MC (T = {largest.samples})", colour(0)))
        eces = ", ".join(f"{name} {score.ece:.3f}" for score, name, _ in rules)
        item.setTitle(f"Reliability diagram — ECE: {eces}", color=theme.hex_color(text_color()), size="10pt")
        for number, (score, _, colour_name) in enumerate(rules):
            edges = np.asarray(score.reliability.bin_edges)
            accuracy = np.asarray(score.reliability.accuracy, dtype=float)
            width = np.diff(edges) / len(rules)
            filled = np.asarray(score.reliability.counts) > 0
            bars = pg.BarGraphItem(x0=(edges[:-1] + number * width)[filled], width=width[filled] * 0.95,
                                   height=accuracy[filled], brush=pg.mkBrush(colour_name), pen=pg.mkPen(None))
            item.addItem(bars)
        item.setXRange(0, 1, padding=0.02)
        item.setYRange(0, 1, padding=0.02)

    def show_disagreements(self, result: DropoutResult) -> None:
        """A grid of the images where the rules differ most: label, both predictions, MC's entropy."""
        while self.images_grid.count():
            widget = self.images_grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        classes = result.classes
        name = (lambda k: classes[k] if k < len(classes) else str(k))
        report = result.report
        self.images_title.setText(
            f"<b>Where the rules disagree most</b> (total variation between weight scaling (WS) and Monte Carlo "
            f"(MC) with T = {report.samples[-1] if report.samples else 0}; H: MC's predictive entropy in nats, at "
            f"most {math.log(max(len(classes), 2)):.2f})")
        for number, (found, image) in enumerate(zip(report.disagreements, result.images)):
            card = QWidget(self.images_box)
            card.setObjectName("dropoutDisagreement")
            layout = QVBoxLayout(card)
            layout.setContentsMargins(2, 2, 2, 2)
            picture = QLabel(card)
            picture.setPixmap(image_pixmap(image, IMAGE_SIZE))
            picture.setAlignment(Qt.AlignmentFlag.AlignHCenter)
            ws, mc = int(np.argmax(found.weight_scaling)), int(np.argmax(found.monte_carlo))
            text = QLabel(f"#{found.index} <b>{name(found.label)}</b><br>H = {found.monte_carlo_entropy:.2f}<br>"
                          f"WS {name(ws)} {max(found.weight_scaling):.2f}<br>"
                          f"MC {name(mc)} {max(found.monte_carlo):.2f}", card)
            text.setToolTip(f"total variation between the two distributions: {found.distance:.3f}")
            text.setAlignment(Qt.AlignmentFlag.AlignHCenter)
            layout.addWidget(picture)
            layout.addWidget(text)
            self.images_grid.addWidget(card, number // GRID_COLUMNS, number % GRID_COLUMNS)
