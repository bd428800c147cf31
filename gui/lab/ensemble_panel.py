"""The ensemble panel: train K members of the design with different seeds, compare them with their average.

Runs :func:`core.lab.ensembles.train_ensemble` with the design's saved
training settings (epochs and data limit from the panel), in a child process
(:func:`~core.lab.ensembles.ensemble_job`): members train at the headless speed. Each member is an
ordinary run folder ``member<i>-seed<s>`` in the design's runs folder, so the
training dashboard's runs list shows it; seeds used by earlier members there
are skipped, so no member is overwritten or merely repeated. Plots: each
member's test accuracy and NLL as bars, the ensemble of the first k members as
a line, the member average dashed.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QSpinBox, QTableWidgetItem, QVBoxLayout,
)

from convstudio.core.lab.ensembles import EnsembleReport, ensemble_job
from convstudio.core.training.records import EpochRecord
from convstudio.core.training.run_index import design_runs_folder
from convstudio.gui.lab.panel import LabPanel, fit_rows, results_table
from convstudio.gui.lab.plots import category_ticks, clear_plot, colour, lab_plot, legend_html, pen

COLUMNS = ("Member", "Seed", "Test accuracy", "Test NLL", "Run folder")
# (title, y label, attribute of a member / ensemble size, and of the report)
METRICS = (("Test accuracy", "accuracy", "accuracy"), ("Test NLL (lower is better)", "NLL (nats)", "nll"))


def member_dir(root: Path, index: int, seed: int) -> Path:
    """Where :func:`~core.lab.ensembles.train_ensemble` puts member ``index`` (0-based) with ``seed``."""
    return root / f"member{index + 1}-seed{seed}"


def first_free_seed(root: Path, members: int, seed: int) -> int:
    """The smallest first seed >= ``seed`` such that no member folder under ``root`` used any of the ``members`` seeds.

    Disjoint seeds also mean disjoint folder names, so no earlier member is overwritten, and no new
    member merely repeats an old one (same seed, same settings: the same network).
    """
    used = {int(found.group(1)) for path in (root.iterdir() if root.is_dir() else ())
            if (found := re.fullmatch(r"member\d+-seed(\d+)", path.name))}
    while any(seed + i in used for i in range(members)):
        seed += 1
    return seed


class EnsemblePanel(LabPanel):
    """Train an ensemble of the design and see it against its members."""

    title = "Ensemble"
    object_name = "ensemblePanel"
    run_text = "Train ensemble"
    backend = "process"

    def __init__(self, document, runs_root=None, parent=None):
        super().__init__(document, runs_root, parent)
        self._member = 0
        self._members = 0
        self._settings_seed: int | None = None
        self.members = QSpinBox(self)
        self.members.setRange(1, 50)
        self.members.setValue(3)
        self.members.setToolTip("K: members trained, each from its own seed")
        self.epochs = QSpinBox(self)
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(3)
        self.limit = QSpinBox(self)
        self.limit.setRange(0, 10_000_000)
        self.limit.setSingleStep(500)
        self.limit.setValue(2000)
        self.limit.setSpecialValueText("all")
        self.limit.setToolTip("Use at most this many training images (0: all); the test split is limited alike")
        self.seed = QSpinBox(self)
        self.seed.setRange(0, 1_000_000)
        self.seed.setToolTip("Seed of the first member; the next get +1, +2, ... (seeds used before are skipped)")
        self.dataset_label = QLabel(self)
        self.add_option("Members K", self.members)
        self.add_option("Epochs", self.epochs)
        self.add_option("Training images", self.limit)
        self.add_option("First seed", self.seed)
        self.add_option("Dataset", self.dataset_label)

        self.plots = [lab_plot(title, "member i  /  ensemble of the first k", y_label, object_name=f"ensemble_{key}",
                               legend=None) for title, y_label, key in METRICS]
        self.legend = QLabel(legend_html([(colour(0), "member i alone", "marker"),
                                          (colour(3), "ensemble of the first k members (averaged softmax)", "solid"),
                                          (colour(7), "member average", "dashed")]), self)
        plots_row = QHBoxLayout()
        for plot in self.plots:
            plots_row.addWidget(plot)
        self.summary = QLabel(self)
        self.summary.setObjectName("ensembleSummary")
        self.summary.setWordWrap(True)
        self.table = results_table(self, "ensembleTable", COLUMNS)
        layout = QVBoxLayout(self.results)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.legend)
        layout.addLayout(plots_row, 1)
        layout.addWidget(self.table)
        fit_rows(self.table)
        self.design_changed()

    def design_changed(self) -> None:
        settings = self.training_settings()
        self.dataset_label.setText(settings.dataset)
        if settings.seed != self._settings_seed:  # follow the design's seed, not every edit of the design
            self._settings_seed = settings.seed
            self.seed.setValue(settings.seed)

    # -- running -----------------------------------------------------------------------------
    def make_job(self):
        design = self.valid_design()
        if design is None:
            return None
        root = design_runs_folder(self.runs_root(), design.name)
        members = self.members.value()
        seed = first_free_seed(root, members, self.seed.value())
        message = "" if seed == self.seed.value() else (
            f"Seeds from {self.seed.value()} were trained before in {root}; this ensemble uses seeds "
            f"{seed}–{seed + members - 1}.")
        settings = self.training_settings().model_copy(update={
            "epochs": self.epochs.value(), "data_limit": self.limit.value() or None, "seed": seed})
        self._member, self._members = 0, members
        if message:
            self.show_message(message)
        return functools.partial(ensemble_job, design=design, settings=settings, members=members, runs_root=root)

    @Slot(object)
    def on_posted(self, item) -> None:
        member, record = item
        self._member = member
        if isinstance(record, EpochRecord):
            self.summary.setText(f"Member {member + 1} of {self._members}: epoch {record.epoch + 1}, validation "
                                 f"accuracy {record.val_accuracy:.3f}, loss {record.val_loss:.3f}")

    def progress_text(self, done: int, total: int) -> str:
        return f"member {self._member + 1} of {self._members} — {100 * done / max(total, 1):.0f} %"

    # -- drawing -----------------------------------------------------------------------------
    def show_result(self, report: EnsembleReport) -> None:
        count = len(report.members)
        x = np.arange(1, count + 1, dtype=float)
        for plot, (_, _, key) in zip(self.plots, METRICS):
            clear_plot(plot)
            item = plot.getPlotItem()
            category_ticks(plot, [""] + [str(k) for k in range(1, count + 1)])
            values = [getattr(member, key) for member in report.members]
            # points, not bars: the differences between members are small next to the values themselves
            item.plot(x, values, pen=None, symbol="s", symbolSize=11, symbolBrush=colour(0), symbolPen=None,
                      name="member i alone")
            item.plot(x, [getattr(size, key) for size in report.by_size], pen=pen(colour(3), width=2), symbol="o",
                      symbolSize=8, symbolBrush=colour(3), symbolPen=None, name="ensemble of the first k")
            average = float(np.mean(values))
            item.plot([0.5, count + 0.5], [average, average], pen=pen(colour(7), dashed=True), name="member average")
            item.setXRange(0.4, count + 0.6, padding=0)
        rows = [(str(i + 1), str(m.seed), m.accuracy, m.nll, m.run_dir or "") for i, m in enumerate(report.members)]
        rows += [("average", "", report.mean_member_accuracy, report.mean_member_nll, ""),
                 (f"ensemble of {count}", "", report.accuracy, report.nll, "")]
        self.table.setRowCount(len(rows))
        for number, (name, seed, accuracy, nll, folder) in enumerate(rows):
            for column, text in enumerate((name, seed, f"{accuracy:.4f}", f"{nll:.4f}", folder)):
                cell = QTableWidgetItem(text)
                if column in (2, 3):
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if number == len(rows) - 1:
                    font = cell.font()
                    font.setBold(True)
                    cell.setFont(font)
                self.table.setItem(number, column, cell)
        fit_rows(self.table)
        best = max(m.accuracy for m in report.members)
        self.summary.setText(
            f"Ensemble of {count} on {report.test_size} {report.dataset} test images: accuracy {report.accuracy:.3f} "
            f"(members {report.mean_member_accuracy:.3f} on average, best {best:.3f}); "
            f"NLL {report.nll:.3f} (members {report.mean_member_nll:.3f}). {report.seconds:.1f} s.")
