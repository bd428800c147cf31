"""The learning-rate finder: the range test on the open design, its curve, and "Use this rate".

Runs :func:`core.experiments.lr_finder.lr_finder_job` in a worker process with
the design's saved training settings (optimizer, batch size, ...), drawing the
curve as its points arrive. The smoothed loss is plotted against the learning
rate on a log axis with the raw mini-batch losses faint behind it; the steepest
descent and a tenth of the minimum's rate are marked. "Use this rate" writes
the chosen rate into the design's training settings as one undoable edit.
"""

from __future__ import annotations

import functools

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout

from convstudio.core.experiments.lr_finder import DEFAULT_END, DEFAULT_START, DEFAULT_STEPS, LrFinderResult, lr_finder_job
from convstudio.core.training.design_settings import with_training
from convstudio.gui.lab.panel import LabPanel
from convstudio.gui.lab.plots import colour, lab_plot, pen


def _exponent_box(value: float, minimum: int, maximum: int, tip: str) -> QComboBox:
    """A choice of powers of ten (1e-7 ... 10): the test's ends are orders of magnitude."""
    box = QComboBox()
    for exponent in range(minimum, maximum + 1):
        box.addItem(f"1e{exponent}" if exponent else "1", 10.0 ** exponent)
    box.setCurrentIndex(int(round(np.log10(value))) - minimum)
    box.setToolTip(tip)
    return box


class LrFinderPanel(LabPanel):
    """Find a learning rate for the open design; apply it to the training settings."""

    title = "Learning-rate finder"
    object_name = "lrFinderPanel"
    run_text = "Find learning rate"
    backend = "process"

    def __init__(self, document, runs_root=None, parent=None):
        super().__init__(document, runs_root, parent)
        self._points: list[tuple[float, float, float]] = []
        self.start_rate = _exponent_box(DEFAULT_START, -9, 0, "The first learning rate")
        self.end_rate = _exponent_box(DEFAULT_END, -4, 1, "The last learning rate (the test stops earlier when "
                                                          "the loss diverges)")
        self.steps = QSpinBox(self)
        self.steps.setRange(20, 5000)
        self.steps.setValue(DEFAULT_STEPS)
        self.steps.setToolTip("Mini-batches in the test, one learning rate each")
        self.limit = QSpinBox(self)
        self.limit.setRange(0, 10_000_000)
        self.limit.setSingleStep(1000)
        self.limit.setSpecialValueText("as the settings say")
        self.limit.setToolTip("Use at most this many training images (0: what the training settings say)")
        self.settings_label = QLabel(self)
        self.settings_label.setWordWrap(True)
        self.add_option("Start rate", self.start_rate)
        self.add_option("End rate", self.end_rate)
        self.add_option("Steps", self.steps)
        self.add_option("Training images", self.limit)
        self.add_option("Trains with", self.settings_label)

        self.plot = lab_plot("Loss against the learning rate (range test)", "learning rate η (log scale)", "loss",
                             log_x=True, object_name="lrFinderPlot", legend="top-left")
        item = self.plot.getPlotItem()
        self.raw_curve = item.plot([], [], pen=pen(colour(0), width=1), name="mini-batch loss")
        self.raw_curve.setOpacity(0.35)
        self.smooth_curve = item.plot([], [], pen=pen(colour(0), width=2.5), name="smoothed loss")
        # Labels beside their lines, the steepest to the left and min / 10 to the right: the two are often close.
        self.steepest_line = pg.InfiniteLine(angle=90, pen=pen(colour(3), dashed=True, width=2), label="steepest",
                                             labelOpts={"position": 0.92, "color": colour(3),
                                                        "anchors": [(1, 0.5), (1, 0.5)]})
        self.tenth_line = pg.InfiniteLine(angle=90, pen=pen(colour(2), dashed=True, width=2), label="minimum / 10",
                                          labelOpts={"position": 0.84, "color": colour(2),
                                                     "anchors": [(0, 0.5), (0, 0.5)]})
        for line in (self.steepest_line, self.tenth_line):
            line.setVisible(False)
            item.addItem(line)
        self.summary = QLabel(self)
        self.summary.setObjectName("lrFinderSummary")
        self.summary.setWordWrap(True)
        self.use_steepest = QPushButton("Use this rate", self)
        self.use_steepest.setObjectName("lrFinderUseRate")
        self.use_steepest.setToolTip("Set the training settings' learning rate to the steepest descent (undoable)")
        self.use_steepest.clicked.connect(lambda: self.apply_rate(self._rate("steepest")))
        self.use_tenth = QPushButton("Use minimum / 10", self)
        self.use_tenth.setObjectName("lrFinderUseTenth")
        self.use_tenth.setToolTip("Set the learning rate to a tenth of the rate at the loss's minimum (undoable)")
        self.use_tenth.clicked.connect(lambda: self.apply_rate(self._rate("tenth_of_minimum")))
        buttons = QHBoxLayout()
        buttons.addWidget(self.use_steepest)
        buttons.addWidget(self.use_tenth)
        buttons.addStretch(1)
        layout = QVBoxLayout(self.results)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.plot, 1)
        layout.addLayout(buttons)
        self._show_buttons(None)
        self.design_changed()

    def design_changed(self) -> None:
        s = self.training_settings()
        self.settings_label.setText(f"{s.optimizer}, batch size {s.batch_size}, {s.dataset}; now η = "
                                    f"{s.learning_rate:g}")

    # -- running -----------------------------------------------------------------------------
    def make_job(self):
        design = self.valid_design()
        if design is None:
            return None
        start, end = self.start_rate.currentData(), self.end_rate.currentData()
        if start >= end:
            self.show_message(f"The start rate ({start:g}) must be below the end rate ({end:g}).", error=True)
            return None
        settings = self.training_settings()
        if self.limit.value():
            settings = settings.model_copy(update={"data_limit": self.limit.value()})
        self._points = []
        self.raw_curve.setData([], [])
        self.smooth_curve.setData([], [])
        self._show_buttons(None)
        return functools.partial(lr_finder_job, design=design, settings=settings, start=start, end=end,
                                 steps=self.steps.value())

    @Slot(object)
    def on_posted(self, item) -> None:
        self._points.extend(item)
        rates, raw, smooth = (np.array(column) for column in zip(*self._points))
        finite = np.isfinite(raw) & np.isfinite(smooth)
        self.raw_curve.setData(rates[finite], raw[finite])
        self.smooth_curve.setData(rates[finite], smooth[finite])

    def progress_text(self, done: int, total: int) -> str:
        return f"step {done} of {total}"

    def show_result(self, result: LrFinderResult) -> None:
        self.raw_curve.setData(result.learning_rates, result.losses)
        self.smooth_curve.setData(result.learning_rates, result.smoothed)
        if result.smoothed:
            low, high = min(result.smoothed), max(result.smoothed)
            top = min(max(result.losses), high + (high - low) * 0.5 + 1e-6)
            self.plot.getPlotItem().setYRange(min(min(result.losses), low), top, padding=0.05)
        summary = result.summary()
        self.summary.setText(summary[:1].upper() + summary[1:] + f" ({result.seconds:.1f} s).")
        self._show_buttons(result)

    def _show_buttons(self, result: LrFinderResult | None) -> None:
        suggestion = result.suggestion if result is not None else None
        for line, button, value, text in (
            (self.steepest_line, self.use_steepest, suggestion and suggestion.steepest, "Use this rate"),
            (self.tenth_line, self.use_tenth, suggestion and suggestion.tenth_of_minimum, "Use minimum / 10"),
        ):
            line.setVisible(value is not None)
            button.setEnabled(value is not None)
            if value is not None:
                line.setValue(float(np.log10(value)))  # the plot's x axis is log10(eta)
                line.label.setFormat(("steepest " if line is self.steepest_line else "min / 10 ") + f"{value:.2g}")
                button.setText(f"{text}: {value:.2g}")
            else:
                button.setText(text)
        if suggestion is not None and suggestion.steepest is None and suggestion.tenth_of_minimum is not None:
            self.use_tenth.setDefault(True)

    def _rate(self, which: str) -> float | None:
        return getattr(self.result.suggestion, which) if isinstance(self.result, LrFinderResult) else None

    def apply_rate(self, rate: float | None) -> bool:
        """Set the design's training learning rate to ``rate`` (two significant digits) as one undoable edit."""
        if rate is None:
            return False
        rounded = float(f"{rate:.2g}")
        settings = self.training_settings().model_copy(update={"learning_rate": rounded})
        problem = self.document.push_edit(f"Set learning rate {rounded:g} (finder)", with_training, settings)
        if problem:
            self.show_message(problem, error=True)
            return False
        self.show_message(f"Training settings: learning rate {rounded:g} (Edit > Undo puts it back).")
        return True
