"""The training dashboard: settings, start/pause/stop, live charts, results and the design's runs.

:class:`TrainPanel` (object name ``trainPanel``) sits in a dock of the main
window. It trains the document's current design with the settings saved in it;
the engine runs in a child process (:mod:`convstudio.gui.training.worker`), whose records
fill the charts' buffers. Problems (an invalid design, a missing dataset, a
diverged or failed run) are said in the panel's message line; the app stays
usable and the run folder is kept.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget, QFileDialog, QMenu, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget,
)

from convstudio.core.design import DesignFileError
from convstudio.core.paths import default_runs_root as core_runs_root
from convstudio.core.shape_records import DesignReport
from convstudio.core.shapes import infer_shapes
from convstudio.core.training.predictions import load_results
from convstudio.core.training.records import EpochRecord, RunEnded, RunStarted, StepRecord
from convstudio.core.training.run_folder import RunFolder, RunFolderError
from convstudio.core.training.run_index import design_runs_folder, new_run_dir, read_history
from convstudio.core.training.worker_process import RunRequest
from convstudio.gui.training.augmentation_preview import AugmentationPreview
from convstudio.gui.charts.buffers import RunCurves
from convstudio.gui.charts.dashboard_charts import TrainingCharts
from convstudio.gui.training.results_view import ResultsView, results_from_record
from convstudio.gui.training.run_controls import PAUSED, RunControls
from convstudio.gui.training.runs_view import RunsView
from convstudio.gui.training.scale_out import ScaleOutActions
from convstudio.gui.training.progress import RunProgress, decoding_status, decoding_text
from convstudio.gui.training.settings_form import TrainingSettingsForm
from convstudio.gui.training.worker import TrainingWorker

RUNS_ROOT_KEY = "training/runsRoot"  # the folder chosen with *Runs folder...*, remembered in QSettings


def default_runs_root() -> Path:
    """Where runs are kept: core's runs root, with the folder the user chose before (see core.paths)."""
    return core_runs_root(QSettings().value(RUNS_ROOT_KEY) or None)


class TrainPanel(QWidget):
    """Train the document's design and watch it learn.

    ``host`` (a :class:`~convstudio.gui.shell.panel_host.PanelHost`) is what the
    panel may ask of the window: dialogs, the status bar, saving first, its dock.
    """

    def __init__(self, document, host, runs_root: Path | None = None, backend: str = "process",
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainPanel")
        self.host = host
        self.document = document
        self.runs_root = Path(runs_root) if runs_root is not None else default_runs_root()
        self.scale_out = ScaleOutActions(self)
        self.worker = TrainingWorker(self, backend)
        self.curves = RunCurves()
        self.run_dir: Path | None = None
        self._classes: tuple[str, ...] = ()
        self._examples = None
        self._decoding = False  # the run's image folder is being decoded (before its first batch)
        self._unstarted_end: str | None = None  # the bar's words for a run that ended before its first batch

        self.form = TrainingSettingsForm(self.document, self)
        self.preview = AugmentationPreview(self)
        self.form.groups["Augmentation"].layout().addRow(self.preview)
        self.settings_scroll = settings_scroll = QScrollArea(self)
        settings_scroll.setObjectName("trainingSettingsScroll")
        settings_scroll.setWidgetResizable(True)
        settings_scroll.setWidget(self.form)
        settings_scroll.setMinimumWidth(440)

        self.controls = RunControls(self)
        self.start_button, self.pause_button = self.controls.start_button, self.controls.pause_button
        self.stop_button, self.progress = self.controls.stop_button, self.controls.progress
        self.status, self.message = self.controls.status, self.controls.message
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)

        self.charts = TrainingCharts(self)
        self.results = ResultsView(self)
        self.runs = RunsView(self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("trainTabs")
        self.tabs.addTab(self.charts, "Live charts")
        self.tabs.addTab(self.results, "Results")
        self.tabs.addTab(self.runs, "Runs")
        main = QWidget(self)
        main_layout = QVBoxLayout(main)
        main_layout.setContentsMargins(0, 0, 0, 0)
        main_layout.addWidget(self.controls)
        main_layout.addWidget(self.tabs, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(settings_scroll)
        splitter.addWidget(main)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([440, 1000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

        self.actions_ = self._make_actions()
        self.worker.data_progress.connect(self._on_data_progress)
        self.worker.started.connect(self._on_started)
        self.worker.steps.connect(self._on_steps)
        self.worker.epoch.connect(self._on_epoch)
        self.worker.examples.connect(self._on_examples)
        self.worker.compiled.connect(self._on_compiled)
        self.worker.ended.connect(self._on_ended)
        self.worker.failed.connect(self._on_failed)
        self.worker.finished.connect(self._on_finished)
        self.charts.export_requested.connect(self._on_export_requested)
        self.form.settings_changed.connect(self._on_settings_changed)
        self.form.dataset_chooser.downloaded.connect(self.preview.forget)
        self.runs.show_requested.connect(self.show_run)
        self.runs.overlay_requested.connect(self.overlay_runs)
        self.runs.resume_requested.connect(self.resume_run)
        self.runs.open_design_requested.connect(self.open_run_design)
        self.runs.change_root_requested.connect(self._on_change_root)
        self.document.changed.connect(self._on_document_changed)
        self._on_settings_changed(self.form.settings())
        self._on_document_changed()
        self._update_buttons()

    def _make_actions(self) -> dict[str, QAction]:
        actions = {}
        for name, text, shortcut, slot in (
            ("actionTrainStart", "&Start training", "Ctrl+T", self.start),
            ("actionTrainPause", "&Pause / resume", "", self.toggle_pause),
            ("actionTrainStop", "S&top training", "", self.stop),
        ):
            action = QAction(text, self)
            action.setObjectName(name)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            actions[name] = action
        return actions

    def make_menu(self, parent) -> QMenu:
        """The Training menu: start, pause, stop."""
        menu = QMenu("&Training", parent)
        menu.setObjectName("menuTraining")
        for action in self.actions_.values():
            menu.addAction(action)
        self.scale_out.add_to_menu(menu)
        return menu

    # -- hooks tests replace ------------------------------------------------------------
    def choose_folder(self, title: str) -> str:
        return QFileDialog.getExistingDirectory(self, title, str(self.runs_root))

    # -- starting and steering -------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a run goes: in the panel's worker, or under torchrun (multi-GPU mode)."""
        return self.worker.running or self.scale_out.running

    @Slot()
    def start(self) -> bool:
        """Train the current design; False (and a message saying why) when it cannot start."""
        if self.running:
            return False
        report = self.document.report
        if not report.valid:
            self.show_message(f"Cannot train this design: {report.first_error()}", error=True)
            return False
        design = self.document.design
        settings = self.form.settings()
        run_dir = new_run_dir(self.runs_root, design.name)
        request = RunRequest(str(run_dir), design.to_json(), settings.model_dump_json())
        self._begin(request, RunCurves(), settings.optimizer, report, f"Starting: loading {settings.dataset}…")
        return True

    def _begin(self, request: RunRequest, curves: RunCurves, optimizer: str, report: DesignReport,
               status: str) -> None:
        self._show_new_run(Path(request.run_dir), curves, optimizer, report)
        self.worker.start(request)
        self._show_starting(status)

    def begin_external_run(self, run_dir: Path, optimizer: str, report: DesignReport, status: str) -> None:
        """Show a run another process trains (torchrun); its records arrive through :meth:`take_records`."""
        self._show_new_run(Path(run_dir), RunCurves(), optimizer, report)
        self._show_starting(status)

    def take_records(self, records: list) -> None:
        """Records of a run another process trains, in order, as the panel's own worker would send them."""
        steps: list[StepRecord] = []
        for record in records:
            if isinstance(record, StepRecord):
                steps.append(record)
                continue
            if steps:
                self._on_steps(steps)
                steps = []
            if isinstance(record, RunStarted):
                self._on_started(record)
            elif isinstance(record, EpochRecord):
                self._on_epoch(record)
            elif isinstance(record, RunEnded):
                self._on_ended(record)
        if steps:
            self._on_steps(steps)

    def end_external_run(self) -> None:
        """The other process has exited."""
        self._on_finished()

    def _show_new_run(self, run_dir: Path, curves: RunCurves, optimizer: str, report: DesignReport) -> None:
        self.show_message("")
        self.run_dir = run_dir
        self.curves = curves
        self._classes, self._examples = (), None
        self._decoding, self._unstarted_end = False, None
        self.charts.show_curves(curves)
        self.charts.set_optimizer(optimizer)
        self.charts.prepare_layers(report.parameter_layer_names())

    def _show_starting(self, status: str) -> None:
        self.controls.show_starting(status)
        self.tabs.setCurrentWidget(self.charts)
        self.raise_dock()
        self._update_buttons()

    @Slot()
    def toggle_pause(self) -> None:
        if not self.worker.running:
            return
        if self.worker.paused:
            self.worker.resume()
            self.status.setText("Training…")
        else:
            self.worker.pause()
            self.status.setText(PAUSED)
        self._update_buttons()

    @Slot()
    def stop(self) -> None:
        if self.scale_out.running:
            self.scale_out.request_stop()
            self.status.setText("Stopping: torchrun's processes end the run at the same batch and keep the last "
                                "finished epoch…")
            self.stop_button.setEnabled(False)
        elif self.worker.running:
            self.worker.stop()
            self.status.setText("Stopping: cancelling the image folder's decoding; nothing has trained yet…"
                                if self._decoding else
                                "Stopping: the run ends before its next batch, then evaluates on the test set…")
            self.stop_button.setEnabled(False)

    def shut_down(self) -> None:
        """Stop a run, local or under torchrun, and wait for its processes (the window is closing)."""
        self.scale_out.stop()
        self.worker.shut_down()

    # -- records ---------------------------------------------------------------------------
    @property
    def progress_model(self) -> RunProgress | None:
        """The run's step count and time estimate (None before the run reports its size)."""
        return self.controls.model

    @Slot(object)
    def _on_data_progress(self, record) -> None:
        """An image folder's first decoding (a DataProgress): the bar counts images until the run starts."""
        self._decoding = record.done < record.total
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * record.done / max(record.total, 1)))
        self.progress.setFormat(decoding_text(record.done, record.total))
        if self.stop_button.isEnabled():  # after Stop, the status says the run is stopping
            self.status.setText(decoding_status(record.dataset, record.done, record.total))

    @Slot(object)
    def _on_started(self, record: RunStarted) -> None:
        self._decoding = False
        self._classes = record.classes
        progress = self.controls.show_started(record, self.worker.paused)
        self.charts.set_run_length(progress.total_steps)

    @Slot(list)
    def _on_steps(self, records: list) -> None:
        self.curves.add_steps(records)
        self.controls.show_steps(records)

    @Slot(object)
    def _on_epoch(self, record: EpochRecord) -> None:
        self.curves.add_epoch(record)
        self.controls.show_epoch_end()

    @Slot(object)
    def _on_compiled(self, report) -> None:
        """torch.compile's seconds (kept out of the speed), or why the run trains uncompiled, in the status bar."""
        self.host.show_status(report.message, 15_000)

    @Slot(object)
    def _on_examples(self, examples) -> None:
        self._examples = examples

    @Slot(object)
    def _on_ended(self, ended: RunEnded) -> None:
        name = self.run_dir.name if self.run_dir else ""
        # Stopped while its image folder decoded: no RunStarted came, so the bar has no epochs to show.
        unstarted = self.progress_model is None
        self._unstarted_end = f"{ended.reason.label.capitalize()} before training" if unstarted else None
        self.results.show_results(results_from_record(ended, self._classes, self._examples), name)
        self.controls.show_ended(ended)
        if ended.reason.failed:
            self._tell_window(self.message.text())
        elif ended.test_accuracy is not None:
            self.tabs.setCurrentWidget(self.results)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.controls.show_failed(message)
        self._tell_window(self.message.text())

    @Slot()
    def _on_finished(self) -> None:
        self.controls.show_finished()
        if self._unstarted_end:
            self.progress.setFormat(self._unstarted_end)
        self.runs.refresh()
        self._update_buttons()

    def show_message(self, text: str, error: bool = False) -> None:
        """Say something in the panel's message line (empty text hides it)."""
        self.controls.show_message(text, error)
        if text and error:
            self._tell_window(text)

    def _tell_window(self, text: str) -> None:
        self.host.show_status(text.split(". ")[0], 10_000)

    def _update_buttons(self) -> None:
        running = self.running
        self.controls.show_state(running, self.worker.paused)
        self.form.set_editing_enabled(not running)
        for name, action in self.actions_.items():
            action.setEnabled(running != (name == "actionTrainStart"))
        if self.scale_out.running:  # torchrun's processes cannot pause
            self.pause_button.setEnabled(False)
            self.actions_["actionTrainPause"].setEnabled(False)

    def raise_dock(self) -> None:
        """Show the panel's dock in front, at least 55% of the window high (charts need room)."""
        dock = self.parentWidget()
        if isinstance(dock, QDockWidget):
            # The diagram's height is too small for charts: below 55% of the window, take 62%.
            self.host.raise_dock(dock, 0.55, 0.62)

    # -- settings and design ---------------------------------------------------------------
    @Slot(object)
    def _on_settings_changed(self, settings) -> None:
        self.preview.show_settings(settings.dataset, settings.augmentation)
        if not self.worker.running and len(self.curves.loss) == 0:
            self.charts.set_optimizer(settings.optimizer)

    @Slot()
    def _on_document_changed(self) -> None:
        folder = design_runs_folder(self.runs_root, self.document.design.name)
        if folder != self.runs.folder:
            self.runs.set_folder(folder)

    def set_runs_root(self, root: Path, remember: bool = True) -> None:
        """Keep runs under ``root`` from now on."""
        self.runs_root = Path(root)
        if remember:
            QSettings().setValue(RUNS_ROOT_KEY, str(root))
        self.runs.folder = None
        self._on_document_changed()

    @Slot()
    def _on_change_root(self) -> None:
        chosen = self.choose_folder("Folder for training runs")
        if chosen:
            self.set_runs_root(Path(chosen))

    # -- runs ------------------------------------------------------------------------------
    def _curves_of(self, path: Path, completed_epochs_only: bool = False) -> RunCurves:
        curves = RunCurves()
        curves.add_history(read_history(path, completed_epochs_only))
        return curves

    @Slot(object)
    def show_run(self, path: Path) -> None:
        """Show a finished (or stopped) run's charts and results."""
        if self.running:
            self.show_message("A run is in progress: stop it before showing another.", error=True)
            return
        path = Path(path)
        self.tabs.setCurrentWidget(self.charts)
        self.curves = self._curves_of(path)
        self.charts.set_run_length(None)
        self.charts.show_curves(self.curves)
        try:
            self.charts.set_optimizer(RunFolder(path).settings().optimizer)
        except RunFolderError:
            pass
        self.results.show_results(load_results(path), path.name)
        self.status.setText(f"Showing run {path.name} ({path}).")

    @Slot(object, object)
    def overlay_runs(self, shown: Path, overlaid: Path) -> None:
        """Show run ``shown`` with run ``overlaid``'s curves drawn dashed over it."""
        self.show_run(shown)
        if not self.worker.running:
            self.charts.set_overlay(self._curves_of(Path(overlaid)), Path(overlaid).name)
            self.status.setText(f"Showing run {Path(shown).name}; dashed: run {Path(overlaid).name}.")

    @Slot(object)
    def resume_run(self, path: Path) -> bool:
        """Continue a stopped run from its last checkpoint."""
        if self.running:
            return False
        path = Path(path)
        try:
            folder = RunFolder(path)
            optimizer, report = folder.settings().optimizer, infer_shapes(folder.design())
        except (RunFolderError, DesignFileError) as error:
            self.show_message(str(error), error=True)
            return False
        self._begin(RunRequest(str(path), resume=True), self._curves_of(path, completed_epochs_only=True), optimizer,
                    report, f"Resuming run {path.name}…")
        return True

    @Slot(object)
    def open_run_design(self, path: Path) -> bool:
        """Open the design a run trained (after asking about unsaved changes)."""
        if self.running:
            self.show_message("A run is in progress: stop it before opening another design.", error=True)
            return False
        try:
            design = RunFolder(Path(path)).design()
        except Exception as error:  # noqa: BLE001 - DesignFileError and file errors alike
            self.host.warn("Cannot open the run's design", str(error))
            return False
        if not self.host.maybe_save():
            return False
        self.document.reset(design, None)
        return True

    @Slot(object)
    def _on_export_requested(self, chart) -> None:
        name = chart.plot_widget.objectName().removesuffix("Plot")
        path = self.host.choose_save_path(f"{name}.png", "PNG (*.png)")
        if path and not chart.export_png(path):
            self.host.warn("Cannot save chart", f"{path} could not be written.")
