"""The Sweep panel: vary settings and layer fields, train the trials in a worker process, compare them.

Options take the ``--vary`` syntax of ``convstudio sweep`` (the tooltip shows
it). The plan is made (and impossible combinations listed with the shape
engine's reason) before anything trains; the trials run one after another in a
child process (:func:`core.experiments.sweeps.sweep_job`) with a sweep-wide
progress bar and Cancel. Each trial is a run folder under
``<runs>/<design>/sweep-<time>``. The results: a sortable table, a
parallel-coordinates plot (one line per trial across the varied settings and
the objective, coloured by the objective), the objective against each varied
setting, and the trials' validation-loss curves overlaid. "Open this trial's
run" shows it in the training dashboard; "Use these settings" puts the trial's
settings and layer values into the design as one undoable edit.

"Resume sweep…" opens a sweep folder (the one holding ``sweep.json``), shows
its trials in the table at once and trains the rest, as ``convstudio sweep
--resume`` does (the same :func:`core.experiments.sweeps.run_sweep`). A sweep
cancelled here stops its running trial with its checkpoint, so it resumes.
A trial that cannot train on the dataset is listed as impossible before
anything trains; one that fails is marked failed with its message.
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
    QSplitter, QTableWidgetItem, QVBoxLayout, QWidget,
)

from convstudio.core.experiments.sweep_plan import (
    OBJECTIVES, SweepError, SweepPlan, apply_to_design, load_plan, plan_sweep,
)
from convstudio.core.experiments.sweeps import (
    SweepReport, TrialFinished, TrialRecord, TrialsSkipped, TrialStarted, impossible_lines, ranked, sweep_job,
    sweep_results,
)
from convstudio.core.experiments.variations import VariationError, parse_variations
from convstudio.core.training.design_settings import with_training
from convstudio.core.training.records import EpochRecord
from convstudio.core.training.run_index import design_runs_folder
from convstudio.gui.lab.panel import LabPanel, results_table
from convstudio.gui import theme
from convstudio.gui.lab.plots import clear_plot, colour, lab_plot, log_ticks, pen, text_color

SYNTAX = ("NAME=V1|V2|V3, NAME=LOW:HIGH, or NAME=LOW:HIGH:log, comma-separated. NAME is a training setting "
          "(lr, batch_size, optimizer, momentum, beta1, l2, epochs, seed, augmentation.rotate_degrees, ...) or a "
          "layer field layers.N.FIELD with N counted from 1 (layers.5.p, layers.1.out_channels).")
DEFAULT_VARY = "lr=1e-4:1e-1:log"
# Statuses whose run.json message is worth a column: why a trial did not train as planned.
EXPLAINED = ("failed", "impossible", "diverged", "out of memory", "stopped")


class NumericItem(QTableWidgetItem):
    """A cell that sorts by its number (blank cells last), not by its text."""

    def __init__(self, value, text: str):
        super().__init__(text)
        self.value = value

    def __lt__(self, other):  # noqa: D105 - Qt's sort order
        mine, theirs = getattr(self, "value", None), getattr(other, "value", None)
        if isinstance(mine, (int, float)) and isinstance(theirs, (int, float)):
            return mine < theirs
        if isinstance(mine, (int, float)) != isinstance(theirs, (int, float)):
            return isinstance(mine, (int, float))
        return str(mine) < str(theirs)


def objective_colour(fraction: float) -> pg.QtGui.QColor:
    """Viridis-like colour for a position 0 (worst) .. 1 (best) of the objective."""
    return pg.colormap.get("viridis").map(float(min(max(fraction, 0.0), 1.0)), mode="qcolor")


def axis_position(values: list, value) -> float:
    """Where ``value`` sits on its parallel axis, 0..1: numbers by value (log for wide positive ranges), words by order."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == len(values) and numbers:
        low, high = min(numbers), max(numbers)
        if high == low:
            return 0.5
        if low > 0 and high / low >= 20:
            return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
        return (value - low) / (high - low)
    order = sorted({str(v) for v in values})
    return order.index(str(value)) / max(len(order) - 1, 1) if len(order) > 1 else 0.5


def readable_log_ticks(low: float, high: float) -> list[float]:
    """Tick values for a log axis from ``low`` to ``high``: decades, with 2 and 5 between them on a short range."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    steps = (1, 2, 5) if last - first <= 1 else (1,)
    ticks = [step * 10.0 ** k for k in range(first, last + 1) for step in steps]
    return [t for t in ticks if low / 1.5 <= t <= high * 1.5] or [low, high]


class SweepPanel(LabPanel):
    """Plan, train and compare a sweep of the open design."""

    title = "Sweep"
    object_name = "sweepPanel"
    run_text = "Train sweep"
    backend = "process"
    open_run_requested = Signal(Path)

    def __init__(self, document, runs_root=None, parent=None):
        super().__init__(document, runs_root, parent)
        self.plan: SweepPlan | None = None
        self.folder: Path | None = None
        self.vary = QLineEdit(DEFAULT_VARY, self)
        self.vary.setObjectName("sweepVary")
        self.vary.setToolTip(SYNTAX)
        self.vary.setPlaceholderText("lr=1e-4:1e-1:log, layers.5.p=0.1:0.5")
        self.trials = QSpinBox(self)
        self.trials.setRange(1, 1000)
        self.trials.setValue(6)
        self.trials.setToolTip("Random draws (a grid takes every combination)")
        self.grid = QCheckBox("every combination", self)
        self.grid.setToolTip("A grid: every combination of the lists, with 3 values spread over each range")
        self.epochs = QSpinBox(self)
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(3)
        self.limit = QSpinBox(self)
        self.limit.setRange(0, 10_000_000)
        self.limit.setSingleStep(1000)
        self.limit.setValue(2000)
        self.limit.setSpecialValueText("all")
        self.objective = QComboBox(self)
        for key, text in OBJECTIVES.items():
            self.objective.addItem(text, key)
        self.add_option("Vary", self.vary)
        self.add_option("Trials", self.trials)
        self.add_option("Grid", self.grid)
        self.add_option("Epochs", self.epochs)
        self.add_option("Training images", self.limit)
        self.add_option("Objective", self.objective)
        self.resume_button = QPushButton("Resume sweep…", self)
        self.resume_button.setObjectName("sweepResume")
        self.resume_button.setToolTip("Open a sweep folder (it holds sweep.json): show its trials and train the "
                                      "ones not done, as convstudio sweep --resume does")
        self.resume_button.clicked.connect(self.choose_sweep_to_resume)
        self._button_row().addWidget(self.resume_button)
        self._resume: tuple[Path, SweepPlan] | None = None  # the sweep folder the next start continues

        self.summary = QLabel(self)
        self.summary.setObjectName("sweepSummary")
        self.summary.setWordWrap(True)
        self.table = results_table(self, "sweepTable", ())
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(self.table.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(self.table.SelectionMode.SingleSelection)
        self.table.itemSelectionChanged.connect(self._update_trial_buttons)
        self.parallel = lab_plot("Parallel coordinates (colour: objective, yellow is best)", "", "",
                                 object_name="sweepParallel", legend=None)
        self.parallel.getPlotItem().getAxis("left").setTicks([[(0, "low"), (1, "high")], []])
        # One small plot per varied setting (made when a sweep's settings are known): the objective against it.
        self.scatters: list[pg.PlotWidget] = []
        self.scatter_row = QHBoxLayout()
        # A log axis: one diverging trial's loss would otherwise flatten everyone else's curve.
        self.curves = lab_plot("Validation loss per epoch", "epoch", "validation loss (log scale)",
                               object_name="sweepCurves", legend=None, log_y=True)
        self.open_run = QPushButton("Open this trial's run", self)
        self.open_run.setObjectName("sweepOpenRun")
        self.open_run.clicked.connect(self._open_selected_run)
        self.use_settings = QPushButton("Use these settings", self)
        self.use_settings.setObjectName("sweepUseSettings")
        self.use_settings.setToolTip("Put the selected trial's settings and layer values into the design (undoable)")
        self.use_settings.clicked.connect(self.use_selected_settings)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_run)
        buttons.addWidget(self.use_settings)
        buttons.addStretch(1)
        plots = QGridLayout()
        plots.addWidget(self.parallel, 0, 0, 1, 2)
        plots.addLayout(self.scatter_row, 1, 0)
        plots.addWidget(self.curves, 1, 1)
        plots.setColumnStretch(0, 2)
        plots.setColumnStretch(1, 1)
        layout = QVBoxLayout(self.results)
        layout.setContentsMargins(0, 0, 0, 0)
        # The table above, the plots below; the user moves the line between them.
        top, bottom = QWidget(self), QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.table, 1)
        top_layout.addLayout(buttons)
        bottom.setLayout(plots)
        plots.setContentsMargins(0, 0, 0, 0)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(top)
        self.splitter.addWidget(bottom)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 540])
        layout.addWidget(self.summary)
        layout.addWidget(self.splitter, 1)
        self._results: list = []
        self._current = ""  # the trial in progress, for the summary line
        self._update_trial_buttons()

    def _button_row(self) -> QHBoxLayout:
        """The row holding the panel's Run and Cancel buttons (made by LabPanel)."""
        side = self.run_button.parentWidget().layout()
        for index in range(side.count()):
            row = side.itemAt(index).layout()
            if row is not None and row.indexOf(self.run_button) >= 0:
                return row
        raise LookupError("the Run button has no row")

    # -- running -----------------------------------------------------------------------------
    @Slot()
    def choose_sweep_to_resume(self) -> bool:
        """Ask for a sweep folder (starting in the design's runs folder) and resume it."""
        start = design_runs_folder(self.runs_root(), self.document.design.name)
        if not start.is_dir():
            start = self.runs_root()
        folder = QFileDialog.getExistingDirectory(self, "Resume sweep: choose the sweep folder (it holds sweep.json)",
                                                  str(start))
        return bool(folder) and self.resume_sweep(Path(folder))

    def resume_sweep(self, folder: str | Path) -> bool:
        """Show the sweep in ``folder`` and train its trials that are not done; False (with a message) if it cannot."""
        if self.worker.running:
            return False
        try:
            plan = load_plan(folder)
        except SweepError as error:
            self.show_message(str(error), error=True)
            return False
        self._resume = (Path(folder), plan)
        return self.start()

    def make_job(self):
        if self._resume is not None:
            return self._resume_job()
        design = self.valid_design()
        if design is None:
            return None
        settings = self.training_settings().model_copy(update={
            "epochs": self.epochs.value(), "data_limit": self.limit.value() or None})
        try:
            plan = plan_sweep(design, settings, parse_variations(self.vary.text()), grid=self.grid.isChecked(),
                              trials=self.trials.value(), seed=int(time.time()) % 100_000,
                              objective=self.objective.currentData())
        except (VariationError, SweepError) as error:
            self.show_message(str(error).removeprefix("--vary: "), error=True)
            return None
        skipped = impossible_lines(plan)
        if not plan.possible:
            self.show_message("Every combination is impossible:\n" + "\n".join(skipped), error=True)
            return None
        if skipped:
            self.show_message(f"Skipped {len(skipped)} impossible combination(s):\n" + "\n".join(skipped))
        self.plan = plan
        self.folder = design_runs_folder(self.runs_root(), design.name) / time.strftime("sweep-%Y%m%d-%H%M%S")
        self._results = []
        self.summary.setText(f"{len(plan.possible)} trials to train in {self.folder}")
        return functools.partial(sweep_job, folder=str(self.folder), plan=plan)

    def _resume_job(self):
        """The job that continues the sweep chosen by :meth:`resume_sweep`, its trials shown first."""
        (folder, plan), self._resume = self._resume, None
        self.plan, self.folder = plan, folder
        self._show_options_of(plan)
        results = sweep_results(folder, plan)
        self.show_trials(results)
        left = [r for r in results if not r.done]
        self.summary.setText(f"Resuming {folder}: {len(results) - len(left)} of {len(results)} trials done, "
                             f"{len(left)} to train.")
        return functools.partial(sweep_job, folder=str(folder), plan=None)

    def progress_text(self, done: int, total: int) -> str:
        return f"{100 * done / max(total, 1):.0f} % of the sweep"

    def _show_options_of(self, plan: SweepPlan) -> None:
        """Show the resumed sweep's own options (what it varies, its trials, epochs, images, objective)."""
        self.vary.setText(", ".join(variation.text() for variation in plan.variations))
        self.vary.setCursorPosition(0)
        self.grid.setChecked(plan.grid)
        self.trials.setValue(len(plan.trials))
        self.epochs.setValue(plan.settings.epochs)
        self.limit.setValue(plan.settings.data_limit or 0)
        self.objective.setCurrentIndex(max(self.objective.findData(plan.objective), 0))

    @Slot(object)
    def on_posted(self, item) -> None:
        if isinstance(item, TrialsSkipped):
            self.show_message(f"Skipped {len(item.lines)} combination(s) that cannot train on the dataset:\n"
                              + "\n".join(item.lines))
        elif isinstance(item, TrialStarted):
            values = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in item.values.items())
            self._current = f"Trial {item.number} of {item.count} ({item.name}): {values}"
            self.summary.setText(self._current)
        elif isinstance(item, TrialRecord) and isinstance(item.record, EpochRecord):
            record = item.record
            self.summary.setText(f"{self._current}; epoch {record.epoch + 1}: validation accuracy "
                                 f"{record.val_accuracy:.3f}, loss {record.val_loss:.3f}")
        elif isinstance(item, TrialFinished):
            self._results = [r for r in self._results if r.index != item.result.index] + [item.result]
            self.show_trials(self._results)

    def show_result(self, report: SweepReport) -> None:
        self.show_trials(list(report.results))
        best = report.best
        text = f"{len(report.results)} trials in {report.seconds:.0f} s, ranked by {OBJECTIVES[report.objective]}."
        if best is not None:
            text += f" Best: {best.name} ({self._values_text(best.values)}), {best.objective(report.objective):.4g}."
        self.summary.setText(text)

    @Slot(str)
    def _on_cancelled(self, message: str) -> None:
        super()._on_cancelled(message)
        if self.folder is not None:  # the stopped trial kept its checkpoint: say how to go on
            self.show_message(f"Cancelled. Resume sweep… and choose {self.folder} trains the rest (the stopped "
                              "trial continues from its last finished epoch).")

    def _update_buttons(self) -> None:
        super()._update_buttons()
        if hasattr(self, "resume_button"):  # LabPanel's constructor calls this before ours made the button
            self.resume_button.setEnabled(not self.worker.running)

    # -- drawing -----------------------------------------------------------------------------
    @staticmethod
    def _values_text(values: dict) -> str:
        return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())

    def _objective(self) -> str:
        return self.plan.objective if self.plan is not None else self.objective.currentData()

    def show_trials(self, results: list) -> None:
        """Fill the table and the three plots from trial results (a finished sweep, or the trials so far)."""
        names = [v.name for v in self.plan.variations] if self.plan else sorted({k for r in results for k in r.values})
        objective = self._objective()
        self._results = list(results)
        columns = ["trial", *names, "best val acc", "best val loss", "epochs", "time (s)", "status", "message"]
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setRowCount(len(results))
        for row, result in enumerate(ranked(results, objective)):
            cells = [(result.name, result.name), *((result.values.get(n), result.values.get(n)) for n in names),
                     (result.best_val_accuracy, result.best_val_accuracy), (result.best_val_loss, result.best_val_loss),
                     (result.epochs, result.epochs), (result.seconds, result.seconds), (result.status, result.status)]
            message = result.message if result.status in EXPLAINED else ""
            cells.append((message, message))
            for column, (value, shown) in enumerate(cells):
                text = "" if shown is None else (f"{shown:.4g}" if isinstance(shown, float) else str(shown))
                item = NumericItem(value, text)
                if message:
                    item.setToolTip(message)
                item.setData(Qt.ItemDataRole.UserRole, result.index)
                if isinstance(value, (int, float)):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        self._draw_parallel(results, names, objective)
        self._draw_scatter(results, names, objective)
        self._draw_curves(results, objective)
        self._update_trial_buttons()

    def _scored(self, results, objective):
        scored = [r for r in results if r.objective(objective) is not None]
        values = [r.objective(objective) for r in scored]
        low, high = (min(values), max(values)) if values else (0.0, 1.0)

        def fraction(result) -> float:
            value = result.objective(objective)
            share = 0.5 if high == low else (value - low) / (high - low)
            return share if objective == "val_accuracy" else 1 - share  # 1: the best
        return scored, fraction

    def _draw_parallel(self, results, names, objective) -> None:
        clear_plot(self.parallel)
        item = self.parallel.getPlotItem()
        scored, fraction = self._scored(results, objective)
        short = {"val_accuracy": "best val accuracy", "val_loss": "best val loss"}[objective]
        axes = [*names, short]
        item.getAxis("bottom").setTicks([[(i, name) for i, name in enumerate(axes)], []])
        columns = {name: [r.values.get(name) for r in scored] for name in names}
        columns[short] = [r.objective(objective) for r in scored]
        for x, name in enumerate(axes):
            item.addLine(x=x, pen=pg.mkPen(colour(7), width=1))
            numbers = [v for v in columns[name] if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if numbers and len(numbers) == len(columns[name]):  # the axis's ends, in its own units
                labels = [(f"{max(numbers):.3g}", 1.0), (f"{min(numbers):.3g}", 0.0)]
            else:  # words: each at its place
                labels = [(str(v), axis_position(columns[name], v)) for v in dict.fromkeys(columns[name])]
            for text, y in labels:
                label = pg.TextItem(text, color=theme.hex_color(text_color()),
                                    anchor=(0.5, 1.0) if y >= 0.5 else (0.5, 0.0))
                label.setPos(x, y + (0.03 if y >= 0.5 else -0.03))
                item.addItem(label)
        for result in sorted(scored, key=fraction):  # the best drawn last, on top
            ys = [axis_position(columns[name], result.values.get(name)) for name in names]
            ys.append(axis_position(columns[short], result.objective(objective)))
            item.plot(list(range(len(axes))), ys, pen=pen(objective_colour(fraction(result)), width=2.5),
                      symbol="o", symbolSize=6, symbolBrush=objective_colour(fraction(result)), symbolPen=None)
        item.setXRange(-0.35, len(axes) - 0.65, padding=0)
        item.setYRange(-0.15, 1.15, padding=0)

    def _scatter_plots(self, names) -> list[pg.PlotWidget]:
        """One plot per varied setting, made anew when the settings differ from the last sweep's."""
        if [plot.objectName() for plot in self.scatters] != [f"sweepScatter_{name}" for name in names]:
            for plot in self.scatters:
                self.scatter_row.removeWidget(plot)
                plot.deleteLater()
            variations = {v.name: v for v in self.plan.variations} if self.plan else {}
            self.scatters = []
            for name in names:
                log = bool(variations.get(name) and variations[name].log)
                plot = lab_plot(name, f"{name}{' (log scale)' if log else ''}", "", log_x=log,
                                object_name=f"sweepScatter_{name}", legend=None)
                self.scatter_row.addWidget(plot)
                self.scatters.append(plot)
        return self.scatters

    def _draw_scatter(self, results, names, objective) -> None:
        scored, fraction = self._scored(results, objective)
        for plot, name in zip(self._scatter_plots(names), names):
            clear_plot(plot)
            item = plot.getPlotItem()
            item.setLabel("left", OBJECTIVES[objective])
            column = [r.values.get(name) for r in scored]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in column):
                xs = column
                if column and plot.getPlotItem().getAxis("bottom").logMode:
                    log_ticks(plot, readable_log_ticks(min(column), max(column)))
            else:  # words (optimizer names): one tick each
                words = sorted({str(v) for v in column})
                item.getAxis("bottom").setTicks([list(enumerate(words)), []])
                xs = [words.index(str(v)) for v in column]
            brushes = [objective_colour(fraction(r)) for r in scored]
            item.plot(xs, [r.objective(objective) for r in scored], pen=None, symbol="o", symbolSize=10,
                      symbolBrush=brushes, symbolPen=pg.mkPen(colour(7), width=1))

    def _draw_curves(self, results, objective) -> None:
        clear_plot(self.curves)
        item = self.curves.getPlotItem()
        scored, fraction = self._scored(results, objective)
        longest = max((len(r.val_losses) for r in scored), default=0)
        if 0 < longest <= 20:  # whole epochs only
            item.getAxis("bottom").setTicks([[(e, str(e)) for e in range(1, longest + 1)], []])
        for result in sorted(scored, key=fraction):
            epochs = np.arange(1, len(result.val_losses) + 1)
            item.plot(epochs, list(result.val_losses), pen=pen(objective_colour(fraction(result)), width=2),
                      symbol="o", symbolSize=5, symbolBrush=objective_colour(fraction(result)), symbolPen=None)

    # -- acting on a trial --------------------------------------------------------------------
    def selected_trial(self):
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        index = self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        return next((r for r in self._results if r.index == index), None)

    def _update_trial_buttons(self) -> None:
        trial = self.selected_trial()
        self.open_run.setEnabled(bool(trial and trial.run_dir))
        self.use_settings.setEnabled(bool(trial and trial.status != "impossible" and self.plan is not None))

    @Slot()
    def _open_selected_run(self) -> None:
        trial = self.selected_trial()
        if trial is not None and trial.run_dir:
            self.open_run_requested.emit(Path(trial.run_dir))

    @Slot()
    def use_selected_settings(self) -> bool:
        """Put the selected trial's values into the design and its training settings, as one undoable edit."""
        trial = self.selected_trial()
        if trial is None or self.plan is None:
            return False
        current = self.training_settings()
        # The sweep's own epochs and image limit were for quick trials: the design keeps its own.
        settings = self.plan.trial_settings(self.plan.trials[trial.index]).model_copy(
            update={"epochs": current.epochs, "data_limit": current.data_limit})
        try:
            # The trial's layer values on the current design (its name and other edits kept).
            changed = apply_to_design(self.document.design, trial.values)
        except (VariationError, ValueError) as error:
            self.show_message(f"The design changed since the sweep: {error}", error=True)
            return False
        problem = self.document.push_edit(f"Use the settings of sweep {trial.name}",
                                          lambda design: with_training(changed, settings))
        if problem:
            self.show_message(problem, error=True)
            return False
        self.show_message(f"The design now has {trial.name}'s settings: {self._values_text(trial.values)} "
                          "(Edit > Undo puts them back).")
        return True
