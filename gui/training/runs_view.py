"""The runs of the open design: list them, reopen one, overlay two, resume one, open the design a run used.

The list reads the run folders under ``RUNS_ROOT/<design>`` (see
:mod:`core.training.run_index`); the buttons only say what the user asked
for, through signals, and the train panel does it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QLabel, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget,
)

from convstudio.core.training.records import end_reason_label
from convstudio.core.training.run_index import RunSummary, list_runs

COLUMNS = ("Run", "Status", "Epochs", "Best val. acc.", "Test acc.", "Dataset", "Optimizer")


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f} %"


def status_text(run: RunSummary) -> str:
    """What the Status column says."""
    if run.status == "running":
        return "running (or interrupted)"
    if run.status == "interrupted":
        return "killed (resumable)" if run.resumable else "killed"
    return end_reason_label(run.reason)


class RunsView(QWidget):
    """A list of run folders with the actions that apply to the selected ones."""

    show_requested = Signal(object)  # Path of the run to show
    overlay_requested = Signal(object, object)  # Paths: the run shown, the run overlaid
    resume_requested = Signal(object)
    open_design_requested = Signal(object)
    change_root_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("runsView")
        self.folder: Path | None = None
        self.runs: list[RunSummary] = []
        self.folder_label = QLabel(self)
        self.folder_label.setObjectName("runsFolder")
        self.folder_label.setWordWrap(True)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("runsList")
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setAlternatingRowColors(True)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.itemDoubleClicked.connect(lambda *_: self._on_show())
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for name, text, tip, slot in (
            ("showRunButton", "Show", "Show the selected run's charts and results", self._on_show),
            ("overlayRunsButton", "Overlay two", "Select two runs: the first is shown, the second drawn dashed over it",
             self._on_overlay),
            ("resumeRunButton", "Resume", "Continue a stopped run from its last checkpoint", self._on_resume),
            ("openRunDesignButton", "Open design", "Open the design this run trained", self._on_open_design),
            ("refreshRunsButton", "Refresh", "Read the runs folder again", self.refresh),
            ("runsRootButton", "Runs folder…", "Choose where runs are kept", self.change_root_requested.emit),
        ):
            button = QPushButton(text, self)
            button.setObjectName(name)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            row.addWidget(button)
            self.buttons[name] = button
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.tree, 1)
        layout.addLayout(row)
        self._update_buttons()

    def set_folder(self, folder: Path) -> None:
        """List the runs in ``folder`` (the open design's runs folder)."""
        self.folder = Path(folder)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        """Read the runs folder again, keeping the selection where possible."""
        selected = {run.path for run in self.selected_runs()}
        self.runs = list_runs(self.folder) if self.folder is not None else []
        self.folder_label.setText(f"Runs of this design in {self.folder}" if self.folder else "")
        self.tree.clear()
        for run in self.runs:
            epochs = f"{run.epochs_done}/{run.epochs}" if run.epochs else str(run.epochs_done)
            item = QTreeWidgetItem([run.name, status_text(run), epochs, _percent(run.best_val_accuracy),
                                    _percent(run.test_accuracy), run.dataset, run.optimizer])
            item.setData(0, Qt.ItemDataRole.UserRole, str(run.path))
            item.setToolTip(1, run.message)
            self.tree.addTopLevelItem(item)
            item.setSelected(run.path in selected)
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)
        self._update_buttons()

    def select(self, *paths: Path) -> None:
        """Select the runs at ``paths`` (in that order of preference)."""
        wanted = [str(Path(path)) for path in paths]
        self.tree.clearSelection()
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            if item.data(0, Qt.ItemDataRole.UserRole) in wanted:
                item.setSelected(True)
        self._order = wanted

    def selected_runs(self) -> list[RunSummary]:
        """The selected runs, in list order."""
        paths = {Path(item.data(0, Qt.ItemDataRole.UserRole)) for item in self.tree.selectedItems()}
        return [run for run in self.runs if run.path in paths]

    @Slot()
    def _update_buttons(self) -> None:
        selected = self.selected_runs()
        one = len(selected) == 1
        self.buttons["showRunButton"].setEnabled(one)
        self.buttons["overlayRunsButton"].setEnabled(len(selected) == 2)
        self.buttons["resumeRunButton"].setEnabled(one and selected[0].resumable)
        self.buttons["openRunDesignButton"].setEnabled(one)

    def _on_show(self) -> None:
        selected = self.selected_runs()
        if len(selected) == 1:
            self.show_requested.emit(selected[0].path)

    def _on_overlay(self) -> None:
        selected = self.selected_runs()
        if len(selected) == 2:
            order = getattr(self, "_order", [])
            selected.sort(key=lambda run: order.index(str(run.path)) if str(run.path) in order else len(order))
            self.overlay_requested.emit(selected[0].path, selected[1].path)

    def _on_resume(self) -> None:
        selected = self.selected_runs()
        if len(selected) == 1:
            self.resume_requested.emit(selected[0].path)

    def _on_open_design(self) -> None:
        selected = self.selected_runs()
        if len(selected) == 1:
            self.open_design_requested.emit(selected[0].path)
