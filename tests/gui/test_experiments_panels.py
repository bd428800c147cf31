"""Training > Find learning rate… and Sweep settings…: each runs its core job in the worker process, end to end."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QThread
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from convstudio.core.design import Design
from convstudio.core.training.design_settings import settings_of, with_training
from convstudio.core.training.settings import TrainingSettings
from convstudio.gui.experiments.menu import ExperimentsController

pytestmark = pytest.mark.slow
TIMEOUT_MS = 90_000
SETTINGS = dict(dataset="shapes", data_limit=300, epochs=3, batch_size=32, learning_rate=3e-3, mc_samples=1,
                device="cpu", report_every=2, state_every=50)


def tiny_design() -> Design:
    design = Design.model_validate({
        "name": "tiny experiments test",
        "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
            {"kind": "maxpool2d", "kernel_size": 4},
            {"kind": "flatten"},
            {"kind": "dropout", "p": 0.3},
            {"kind": "linear", "out_features": 10, "activation": "none"},
        ],
    })
    return with_training(design, TrainingSettings(**SETTINGS))


@pytest.fixture
def experiments(make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSTUDIO_RUNS", str(tmp_path / "runs"))
    window = make_window(tiny_design())
    controller = window.findChild(ExperimentsController, "experimentsController")
    yield window, controller
    assert controller.shut_down()
    assert all(thread.isFinished() for thread in window.findChildren(QThread))
    assert not multiprocessing.active_children()


def run_to_end(qtbot, panel) -> None:
    with qtbot.waitSignal(panel.worker.finished, timeout=TIMEOUT_MS):
        assert panel.start(), panel.message.text()
    assert panel.progress.format() == "Done", panel.message.text()


def curves(widget: pg.PlotWidget) -> list[pg.PlotDataItem]:
    return [item for item in widget.getPlotItem().listDataItems()
            if isinstance(item, pg.PlotDataItem) and item.yData is not None and np.isfinite(item.yData).any()]


def column(panel, header: str) -> int:
    """The sweep table's column with this header."""
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    return headers.index(header)


def table_statuses(panel) -> dict[str, str]:
    """Trial name -> status, as the sweep table shows them."""
    return {panel.table.item(row, 0).text(): panel.table.item(row, column(panel, "status")).text()
            for row in range(panel.table.rowCount())}


def test_the_training_menu_has_both_experiments(experiments):
    window, controller = experiments
    menu = window.findChild(QMenu, "menuTraining")
    for key in ("lr_finder", "sweep"):
        action = window.findChild(QAction, f"actionExperiment_{key}")
        assert action in menu.actions() and action.toolTip()
        action.trigger()
        assert controller.docks[key].isVisible() and not controller.panels[key].grab().isNull()
    action.trigger()  # a second time: the same panel
    assert len(controller.panels) == 2


def test_lr_finder_draws_the_curve_and_applies_the_rate_as_one_undoable_edit(qtbot, experiments):
    window, controller = experiments
    panel = controller.open_panel("lr_finder")
    panel.steps.setValue(60)
    panel.start_rate.setCurrentIndex(panel.start_rate.findText("1e-5"))
    run_to_end(qtbot, panel)
    raw, smoothed = curves(panel.plot)[:2]
    assert len(smoothed.xData) == len(panel.result.learning_rates) > 10
    assert panel.plot.getPlotItem().getAxis("bottom").logMode  # the rate on a log axis
    rate = panel.result.suggestion.tenth_of_minimum
    assert panel.use_tenth.isEnabled() and panel.tenth_line.isVisible()
    assert panel.tenth_line.value() == pytest.approx(np.log10(rate))
    before = settings_of(window.design_document.design)[0].learning_rate
    panel.use_tenth.click()
    assert settings_of(window.design_document.design)[0].learning_rate == pytest.approx(float(f"{rate:.2g}"))
    window.design_document.undo_stack.undo()
    assert settings_of(window.design_document.design)[0].learning_rate == before


def test_sweep_trains_trials_fills_table_and_plots_and_uses_a_trials_settings(qtbot, experiments):
    window, controller = experiments
    panel = controller.open_panel("sweep")
    panel.vary.setText("lr=1e-3:3e-2:log, layers.4.p=0.1|0.5, layers.1.kernel_size=3|40")
    panel.trials.setValue(4)
    panel.epochs.setValue(1)
    panel.limit.setValue(300)
    run_to_end(qtbot, panel)
    report = panel.result
    assert panel.table.rowCount() == len(report.results) == 4
    statuses = {panel.table.item(row, column(panel, "status")).text() for row in range(4)}
    assert statuses <= {"finished", "impossible"} and "finished" in statuses
    assert ("impossible" in statuses) == bool(panel.plan.impossible)
    finished = [r for r in report.results if r.status == "finished"]
    assert len(curves(panel.curves)) == len(finished)
    assert len(curves(panel.parallel)) == len(finished)
    # sorting by a column works on numbers
    panel.table.sortItems(1)
    rates = [panel.table.item(row, 1).value for row in range(4)]
    assert rates == sorted(rates)
    row = next(r for r in range(4) if panel.table.item(r, column(panel, "status")).text() == "finished")
    panel.table.selectRow(row)
    assert panel.use_settings.isEnabled() and panel.open_run.isEnabled()
    chosen = panel.selected_trial()
    with qtbot.waitSignal(panel.open_run_requested):
        panel.open_run.click()
    assert panel.use_selected_settings()
    design = window.design_document.design
    assert settings_of(design)[0].learning_rate == chosen.values["learning_rate"]
    assert design.layers[3].p == chosen.values["layers.4.p"]
    assert settings_of(design)[0].epochs == 3  # the design's own epochs, not the sweep's quick ones
    window.design_document.undo_stack.undo()
    assert window.design_document.design.layers[3].p == 0.3


EPOCHS_BEFORE_CANCEL = 20


def test_a_cancelled_sweep_keeps_its_folder_resumable_and_resume_sweep_trains_the_rest(
        qtbot, experiments, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from convstudio.core.experiments.sweep_plan import load_plan
    from convstudio.core.experiments.sweeps import TrialRecord
    from convstudio.core.training.records import EpochRecord
    from convstudio.core.training.run_folder import RunFolder

    window, controller = experiments
    panel = controller.open_panel("sweep")
    # 5 outputs for the dataset's 10 classes: impossible, found before anything trains
    panel.vary.setText("lr=1e-3|3e-3, layers.5.out_features=10|5")
    panel.grid.setChecked(True)
    # Enough epochs that the cancel, which reaches the worker a flush after the first epoch's
    # record, lands while trial-001 still trains.
    panel.epochs.setValue(EPOCHS_BEFORE_CANCEL)
    panel.limit.setValue(300)

    def cancel_after_first_epoch(item):
        if isinstance(item, TrialRecord) and isinstance(item.record, EpochRecord):
            panel.cancel()
    panel.worker.yielded.connect(cancel_after_first_epoch)
    with qtbot.waitSignal(panel.worker.finished, timeout=TIMEOUT_MS):
        assert panel.start(), panel.message.text()
    panel.worker.yielded.disconnect(cancel_after_first_epoch)
    assert panel.progress.format() == "Cancelled"
    assert "Resume sweep" in panel.message.text() and str(panel.folder) in panel.message.text()
    folder, plan = panel.folder, panel.plan
    saved = load_plan(folder)  # sweep.json intact, with the dataset's verdict on the 5-output trials
    assert [t.values for t in saved.trials] == [t.values for t in plan.trials]
    assert [t.name for t in saved.impossible] == ["trial-002", "trial-004"]
    assert "outputs 5 values per image" in saved.impossible[0].problem
    stopped = RunFolder(folder / "trial-001")
    assert stopped.status()["reason"] == "stopped" and stopped.checkpoint_path.is_file()
    assert 1 <= len(stopped.read_lines("metrics.jsonl")) < EPOCHS_BEFORE_CANCEL
    assert not (folder / "trial-003").exists()

    # Resume sweep… opens a folder dialog in the design's runs folder; the table shows the trials at once.
    panel.table.clear()
    panel.table.setRowCount(0)
    asked = {}

    def choose(parent, caption, start):
        asked["start"] = start
        return str(folder)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", choose)
    with qtbot.waitSignal(panel.worker.finished, timeout=TIMEOUT_MS):
        panel.resume_button.click()
        assert table_statuses(panel) == {"trial-001": "stopped", "trial-002": "impossible",
                                         "trial-003": "pending", "trial-004": "impossible"}
        assert "2 to train" in panel.summary.text()
        assert not panel.resume_button.isEnabled()
    assert asked["start"] == str(folder.parent)
    assert panel.progress.format() == "Done", panel.message.text()
    assert table_statuses(panel) == {"trial-001": "finished", "trial-002": "impossible",
                                     "trial-003": "finished", "trial-004": "impossible"}
    assert len(stopped.read_lines("metrics.jsonl")) == EPOCHS_BEFORE_CANCEL  # continued from its checkpoint, not retrained
    impossible_row = next(r for r in range(4) if panel.table.item(r, 0).text() == "trial-002")
    assert "10 classes" in panel.table.item(impossible_row, column(panel, "message")).text()
    assert panel.resume_button.isEnabled()


def test_resume_sweep_of_a_folder_without_sweep_json_says_so(experiments, tmp_path):
    window, controller = experiments
    panel = controller.open_panel("sweep")
    assert not panel.resume_sweep(tmp_path)
    assert "sweep.json: missing" in panel.message.text() and not panel.running
