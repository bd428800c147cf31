"""What every lab panel shares: options on the left, Run / Cancel and progress, results on the right.

A panel subclass fills :attr:`LabPanel.options` (a form) and
:attr:`LabPanel.results` (any layout), and implements two methods:
:meth:`~LabPanel.make_job` returns the job the worker runs (or None with a
message, when the inputs are not usable) and :meth:`~LabPanel.show_result`
draws what it returned. Everything else (the worker, the buttons, the progress
bar, messages, cancelling, shutting down) is here. Experiments that train set
:attr:`LabPanel.backend` to "process": they run in a child process, at the
headless engine's speed; the others run on a thread (see :mod:`gui.background`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
    QScrollArea, QSplitter, QTableWidget, QVBoxLayout, QWidget,
)

from convstudio.core.design import Design
from convstudio.core.jobs import Backend, JobContext, JobFailed
from convstudio.core.training.settings import TrainingSettings
from convstudio.gui import theme
from convstudio.gui.background import Worker


def results_table(parent, object_name: str, columns) -> QTableWidget:
    """A read-only table of results: one header per column, columns sized to their contents."""
    table = QTableWidget(0, len(columns), parent)
    table.setObjectName(object_name)
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def fit_rows(table: QTableWidget, minimum_rows: int = 3) -> None:
    """Make ``table`` just tall enough for its rows (at least ``minimum_rows``), leaving the rest to the plots.

    Rows are one line each: long cells (run folders) are elided at the left, where paths are alike.
    """
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideLeft)
    rows = max(table.rowCount(), minimum_rows)
    height = table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth() + 2
    height += rows * table.verticalHeader().defaultSectionSize()
    table.setFixedHeight(height)


class LabPanel(QWidget):
    """One experiment of the lab on the window's current design."""

    title = "Lab"
    object_name = "labPanel"
    run_text = "Run"
    backend: Backend = "thread"  # "process" for experiments that train

    def __init__(self, document, runs_root: Callable[[], Path] | None = None, parent: QWidget | None = None):
        """``document`` holds the design the experiment runs on; ``runs_root`` says where the
        training dashboard keeps runs now (lab runs go there too, so the Runs tab lists them)."""
        super().__init__(parent)
        self.setObjectName(self.object_name)
        self.document = document
        self._runs_root = runs_root
        self.worker = Worker(self, self.backend, what="lab experiment")
        self.result: Any = None

        self.options = QFormLayout()
        self.options.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.design_label = QLabel(self)
        self.design_label.setObjectName(f"{self.object_name}Design")
        self.design_label.setWordWrap(True)
        self.run_button = QPushButton(self.run_text, self)
        self.run_button.setObjectName(f"{self.object_name}Run")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName(f"{self.object_name}Cancel")
        self.cancel_button.setToolTip("Stop at the next step; nothing half-done is shown")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar(self)
        self.progress.setObjectName(f"{self.object_name}Progress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("Not started")
        self.progress.setTextVisible(True)
        self.message = QLabel(self)
        self.message.setObjectName(f"{self.object_name}Message")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(4, 4, 4, 4)
        side_layout.addWidget(self.design_label)
        side_layout.addLayout(self.options)
        side_layout.addLayout(buttons)
        side_layout.addWidget(self.progress)
        side_layout.addWidget(self.message)
        side_layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(side)
        scroll.setMinimumWidth(270)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.results = QWidget(self)
        self.results.setObjectName(f"{self.object_name}Results")
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(scroll)
        splitter.addWidget(self.results)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([290, 1000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)

        self.worker.progressed.connect(self._on_progressed)
        self.worker.yielded.connect(self.on_posted)
        self.worker.returned.connect(self._on_succeeded)
        self.worker.errored.connect(self._on_failed)
        self.worker.aborted.connect(self._on_cancelled)
        self.worker.finished.connect(self._on_finished)
        self.document.changed.connect(self._on_document_changed)
        self.design_label.setText(f"<b>Design:</b> {self.document.design.name}")
        self._update_buttons()

    def add_option(self, label: str, widget: QWidget) -> None:
        """Add a labelled option; combo boxes are kept narrow (the side column is ~270 pixels wide)."""
        if isinstance(widget, QComboBox):
            widget.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            widget.setMinimumContentsLength(8)
        self.options.addRow(label, widget)

    # -- what subclasses provide -----------------------------------------------------------
    def make_job(self) -> Callable[[JobContext], Any] | None:
        """The job, ``function(job)``, or None (after :meth:`show_message`) when it cannot run.

        With the "process" backend it must pickle: a ``functools.partial`` of a
        core job function, with plain arguments.
        """
        raise NotImplementedError

    def show_result(self, result: Any) -> None:
        """Draw the plots and tables of a finished experiment (on the GUI thread)."""
        raise NotImplementedError

    @Slot(object)
    def on_posted(self, item: object) -> None:
        """Something the experiment emitted while running (an epoch record, say); ignored by default."""

    def design_changed(self) -> None:
        """The window's design changed (a subclass refreshes what depends on it)."""

    # -- the design and its settings ------------------------------------------------------------
    @property
    def design(self) -> Design:
        return self.document.design

    def valid_design(self) -> Design | None:
        """The current design, or None (with a message) when its shapes do not work out."""
        report = self.document.report
        if not report.valid:
            self.show_message(f"The design has a problem: {report.first_error()}", error=True)
            return None
        return self.document.design

    def training_settings(self) -> TrainingSettings:
        """The training settings saved with the design (defaults where it says nothing)."""
        from convstudio.core.training.design_settings import settings_of

        return settings_of(self.document.design)[0]

    def runs_root(self) -> Path:
        """Where the training dashboard keeps runs (lab runs go there too, so they are listed)."""
        if self._runs_root is not None:
            return Path(self._runs_root())
        from convstudio.core.paths import default_runs_root

        return default_runs_root()

    # -- running -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.worker.running

    @Slot()
    def start(self) -> bool:
        """Start the experiment with the options shown; False (with a message) when it cannot start."""
        if self.worker.running:
            return False
        self.show_message("")  # make_job may say something: a problem, or a note on what it chose
        job = self.make_job()
        if job is None:
            return False
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self.worker.start(job)
        self._update_buttons()
        return True

    @Slot()
    def cancel(self) -> None:
        if self.worker.running:
            self.worker.quit()
            self.progress.setFormat("Cancelling…")
            self.cancel_button.setEnabled(False)

    def shut_down(self) -> bool:
        """Cancel a running experiment and wait for its thread or process (the window is closing)."""
        return self.worker.shut_down()

    def show_message(self, text: str, error: bool = False) -> None:
        colour = theme.hex_color(theme.error_color()) if error else ""
        self.message.setStyleSheet(f"color: {colour};" if colour else "")
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def progress_text(self, done: int, total: int) -> str:
        """What the bar says at ``done`` of ``total`` (subclasses name their steps)."""
        return f"{done} of {total}"

    # -- worker signals ---------------------------------------------------------------------------
    @Slot(int, int)
    def _on_progressed(self, done: int, total: int) -> None:
        self.progress.setValue(int(1000 * done / total) if total else 0)
        self.progress.setFormat(self.progress_text(done, total))

    @Slot(object)
    def _on_succeeded(self, result: Any) -> None:
        self.result = result
        self.progress.setValue(1000)
        self.progress.setFormat("Done")
        self.show_result(result)

    @Slot(object)
    def _on_failed(self, failure: JobFailed) -> None:
        self.progress.setFormat("Failed")
        self.show_message(failure.message, error=True)

    @Slot(str)
    def _on_cancelled(self, message: str) -> None:
        self.progress.setFormat("Cancelled")
        self.show_message(f"Cancelled ({message}).")

    @Slot()
    def _on_finished(self) -> None:
        self._update_buttons()

    @Slot()
    def _on_document_changed(self) -> None:
        self.design_label.setText(f"<b>Design:</b> {self.document.design.name}")
        self.design_changed()

    def _update_buttons(self) -> None:
        running = self.worker.running
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
