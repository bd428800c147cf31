"""The Lab menu and its five panels, end to end: each runs its core experiment through the real worker.

Everything is tiny (a two-convolution design, a few hundred generated shapes,
one or two epochs) but real: the panel builds the job, the worker runs the
core function (on a thread, or in a child process for the experiments that
train), and the plots and tables are read back from the widgets. No experiment
thread or process outlives its test.
"""

from __future__ import annotations

import multiprocessing

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QThread
from PySide6.QtGui import QAction

from convstudio.core.design import Design
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.run_index import design_runs_folder
from convstudio.core.training.settings import TrainingSettings
from convstudio.gui.lab import LabController, install_lab_menu
from convstudio.gui.lab.datasets import run_data
from convstudio.gui.lab.ensemble_panel import first_free_seed, member_dir
from convstudio.core.training.design_settings import with_training

pytestmark = pytest.mark.slow
TIMEOUT_MS = 60_000
SETTINGS = dict(dataset="shapes", data_limit=300, epochs=1, batch_size=32, learning_rate=3e-3, mc_samples=2,
                device="cpu", report_every=2, state_every=50)


def tiny_design(name: str = "tiny lab test") -> Design:
    """Two small convolutions, batch norm and dropout: every experiment has something to show."""
    design = Design.model_validate({
        "name": name,
        "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1},
            {"kind": "batchnorm"},
            {"kind": "maxpool2d", "kernel_size": 2},
            {"kind": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1, "activation": "tanh"},
            {"kind": "maxpool2d", "kernel_size": 4},
            {"kind": "flatten"},
            {"kind": "dropout", "p": 0.4},
            {"kind": "linear", "out_features": 10, "activation": "none"},
        ],
    })
    return with_training(design, TrainingSettings(**SETTINGS))


@pytest.fixture
def lab(make_window, tmp_path, monkeypatch):
    """A window on the tiny design with the Lab menu installed; runs kept under tmp_path."""
    monkeypatch.setenv("CONVSTUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CONVSTUDIO_DATA", str(tmp_path / "data"))
    window = make_window(tiny_design())
    menu = install_lab_menu(window)
    controller = window.findChild(LabController, "labController")
    controller.menu_ = menu
    yield window, controller
    assert controller.shut_down()
    assert not controller.running
    assert all(thread.isFinished() for thread in window.findChildren(QThread))
    assert not multiprocessing.active_children()


def run_to_end(qtbot, panel) -> None:
    """Press Run and wait until the worker has finished; the panel must not report a failure."""
    with qtbot.waitSignal(panel.worker.finished, timeout=TIMEOUT_MS):
        assert panel.start(), panel.message.text()
        assert panel.running and not panel.run_button.isEnabled() and panel.cancel_button.isEnabled()
    assert panel.progress.format() == "Done", panel.message.text()
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def data_items(widget: pg.PlotWidget) -> list[pg.PlotDataItem]:
    """The curves of a plot that hold at least one finite point."""
    return [item for item in widget.getPlotItem().listDataItems()
            if isinstance(item, pg.PlotDataItem) and item.yData is not None and np.isfinite(item.yData).any()]


def bars(widget: pg.PlotWidget) -> list[pg.BarGraphItem]:
    return [item for item in widget.getPlotItem().items if isinstance(item, pg.BarGraphItem)]


def test_the_lab_menu_opens_one_panel_per_experiment(lab):
    window, controller = lab
    menu = controller.menu_
    assert menu.title() == "&Lab" and menu in [a.menu() for a in window.menuBar().actions() if a.menu()]
    keys = ["gradcheck", "signal", "dropout", "ensemble", "remedies"]
    for key in keys:
        action = window.findChild(QAction, f"actionLab_{key}")
        assert action is not None and action in menu.actions() and action.toolTip()
        action.trigger()
        panel, dock = controller.panels[key], controller.docks[key]
        assert dock.widget() is panel and dock.isVisible() and panel.isVisible()
        assert panel.design_label.text().endswith("tiny lab test")
        assert not panel.grab().isNull()  # painting works (a widget attribute once shadowed QWidget.metric)
    window.findChild(QAction, "actionLab_gradcheck").trigger()  # a second time: the same panel
    assert len(controller.panels) == len(keys) and len(window.findChildren(type(controller.docks["signal"]))) >= 5


def test_gradient_check_fills_the_table_and_the_delta_plot(qtbot, lab):
    _, controller = lab
    panel = controller.open_panel("gradcheck")
    panel.entries.setValue(2)
    run_to_end(qtbot, panel)
    layers = ["conv1", "bn1", "conv2", "fc1"]
    assert [panel.table.item(row, 0).text() for row in range(panel.table.rowCount())] == layers
    assert all(panel.table.item(row, 6).text() == "pass" for row in range(len(layers)))
    assert panel.summary.text().startswith("<b>All layers pass")
    curves = data_items(panel.plot)
    forward, central = curves[0], curves[2]  # each error curve is followed by its best-Delta star
    assert len(forward.xData) == len(central.xData) == 27
    assert min(central.yData) < 1e-6  # the central difference gets very close somewhere
    stars = [item for item in curves if len(item.yData) == 1]
    assert len(stars) == 2 and stars[1].xData[0] == panel.curve.best_central_delta
    # choosing another layer draws the curve of its first parameter
    with qtbot.waitSignal(panel.worker.finished, timeout=TIMEOUT_MS):
        panel.table.selectRow(2)
    assert panel.curve.layer == "conv2" and panel.curve.parameter == "conv2.weight"


def test_signal_propagation_plots_one_curve_per_scheme_and_shows_the_claim(qtbot, lab):
    _, controller = lab
    panel = controller.open_panel("signal")
    panel.set_schemes({"lecture_normal", "he"})
    panel.batch_norm.setCurrentIndex(2)  # both: kept and removed
    panel.inputs.setCurrentIndex(panel.inputs.findData("shapes"))
    run_to_end(qtbot, panel)
    assert len(panel.reports) == 4 and {r.inputs for r in panel.reports} == {"data"}
    assert [(r.scheme, r.batch_norm) for r in panel.reports] == [
        ("lecture_normal", True), ("he", True), ("lecture_normal", False), ("he", False)]
    z_plot, h_plot, mean_plot, grad_plot = panel.plots
    z_layers, h_layers = ["conv1", "conv2", "fc1"], ["conv1", "conv2"]  # fc1 has no activation
    for plot, layers in zip(panel.plots, (z_layers, h_layers, h_layers, z_layers)):
        curves = data_items(plot)
        assert len(curves) == 4 and all(len(c.xData) == len(layers) for c in curves)
        assert [name for _, name in plot.getPlotItem().getAxis("bottom")._tickLevels[0]] == layers
    assert any(isinstance(item, pg.InfiniteLine) and item.value() == 0.0 for item in z_plot.getPlotItem().items)
    assert "He" in panel.legend.text() and "batch norm removed" in panel.legend.text()
    assert panel.table_choice.count() == 4 and "holds in" in panel.table_choice.itemText(0)
    notes = [panel.table.item(row, 7).text() for row in range(panel.table.rowCount())]
    assert len(notes) == len(panel.reports[0].rows) and any(note.startswith("Var[Z] = 1") for note in notes)
    panel.table_choice.setCurrentIndex(3)
    assert panel.table.rowCount() == len(panel.reports[3].rows)


def test_an_invalid_design_is_refused_with_a_message(lab):
    window, controller = lab
    panel = controller.open_panel("gradcheck")
    window.design_document.set_input_field("height", 2)  # the 3x3 convolutions no longer fit
    assert not panel.start()
    assert not panel.running and "problem" in panel.message.text()


@pytest.fixture
def trained_run(tmp_path):
    """A one-epoch run of the tiny design in its runs folder, as the training dashboard would leave it."""
    design = tiny_design()
    settings = TrainingSettings(**SETTINGS)
    run_dir = design_runs_folder(tmp_path / "runs", design.name) / "20250101-120000"
    TrainingRun(design, settings, run_dir, data=run_data(settings)).run()
    return run_dir


def test_dropout_inference_plots_both_rules_and_the_disagreements(qtbot, lab, trained_run):
    _, controller = lab
    panel = controller.open_panel("dropout")
    assert panel.run_dir.text() == str(trained_run)  # the design's newest run is suggested
    panel.samples.setText("1, 3, 6")
    panel.limit.setValue(120)
    run_to_end(qtbot, panel)
    report = panel.result.report
    assert report.has_dropout and report.samples == (1, 3, 6) and report.image_count == 120
    for plot in panel.metric_plots:
        monte_carlo, weight_scaling = data_items(plot)
        assert list(monte_carlo.xData) == [1, 3, 6] and len(set(weight_scaling.yData)) == 1
    assert len(bars(panel.reliability)) == 2 and data_items(panel.reliability)
    cards = [panel.images_grid.itemAt(i).widget() for i in range(panel.images_grid.count())]
    assert len(cards) == len(report.disagreements) == 12
    picture = cards[0].findChildren(type(panel.images_title))[0].pixmap()
    assert not picture.isNull() and picture.width() == 64
    assert "H = " in cards[0].findChildren(type(panel.images_title))[1].text()


def test_a_missing_run_folder_is_a_message(qtbot, lab, tmp_path):
    _, controller = lab
    panel = controller.open_panel("dropout")
    panel.run_dir.setText(str(tmp_path / "nowhere"))
    with qtbot.waitSignal(panel.worker.finished, timeout=TIMEOUT_MS):
        panel.start()
    assert panel.progress.format() == "Failed" and "no such run folder" in panel.message.text()


def test_an_ensemble_trains_its_members_as_runs_and_plots_them(qtbot, lab, tmp_path):
    window, controller = lab
    panel = controller.open_panel("ensemble")
    panel.members.setValue(2)
    panel.epochs.setValue(1)
    panel.limit.setValue(300)
    run_to_end(qtbot, panel)
    report = panel.result
    assert [m.seed for m in report.members] == [0, 1]
    root = design_runs_folder(tmp_path / "runs", "tiny lab test")
    assert all((member_dir(root, i, i) / "best.pt").is_file() for i in range(2))  # listed with the runs
    for plot in panel.plots:
        members, by_size, average = data_items(plot)
        assert len(members.yData) == len(by_size.yData) == 2 and len(set(average.yData)) == 1
        assert by_size.yData[-1] == pytest.approx(getattr(report, "accuracy" if plot is panel.plots[0] else "nll"))
    assert panel.table.rowCount() == 4 and panel.table.item(3, 0).text() == "ensemble of 2"
    assert first_free_seed(root, 2, 0) == 2 and first_free_seed(root, 2, 5) == 5  # never overwrite a member


def test_remedies_overlay_the_curves_with_the_gap(qtbot, lab):
    _, controller = lab
    panel = controller.open_panel("remedies")
    assert panel.chosen_labels()[0] == "baseline" and "as designed" not in panel.chosen_labels()
    panel.set_chosen({"baseline", "dropout"})
    panel.epochs.setValue(2)
    panel.limit.setValue(300)
    run_to_end(qtbot, panel)
    assert [c.label for c in panel.final] == ["baseline", "dropout"]
    curves = data_items(panel.curves_plot)
    assert len(curves) == 4 and all(len(c.xData) == 2 for c in curves)  # train and validation per variant
    fills = [item for item in panel.curves_plot.getPlotItem().items if isinstance(item, pg.FillBetweenItem)]
    assert len(fills) == 2  # the gap, shaded
    gaps = data_items(panel.gap_plot)
    assert len(gaps) == 2 and list(gaps[0].yData) == pytest.approx(panel.final[0].loss_gap)
    panel.metric_choice.setCurrentIndex(1)  # accuracy: the same curves, new data
    assert list(data_items(panel.gap_plot)[0].yData) == pytest.approx(panel.final[0].accuracy_gap)
    assert panel.table.rowCount() == 2 and panel.table.item(1, 0).text() == "dropout"


def test_cancel_stops_a_long_batch_and_closing_waits_for_the_thread(qtbot, lab):
    window, controller = lab
    panel = controller.open_panel("remedies")
    panel.set_chosen({"baseline", "dropout", "batch norm"})
    panel.epochs.setValue(200)
    panel.limit.setValue(300)
    assert panel.start()
    qtbot.waitUntil(lambda: bool(panel.series), timeout=TIMEOUT_MS)  # the first epoch is drawn live
    assert data_items(panel.curves_plot)
    with qtbot.waitSignal(panel.worker.finished, timeout=TIMEOUT_MS):
        panel.cancel_button.click()
    assert panel.progress.format() == "Cancelled" and panel.message.text().startswith("Cancelled")
    assert panel.run_button.isEnabled() and panel.table.rowCount() == 0
    # a second long experiment, then the window closes: the lab cancels it and waits
    ensemble = controller.open_panel("ensemble")
    ensemble.epochs.setValue(200)
    assert ensemble.start()
    assert ensemble.worker.job.backend == "process"  # what trains runs in a child process
    qtbot.waitUntil(lambda: ensemble.progress.value() > 0, timeout=TIMEOUT_MS)
    window.close()
    assert not ensemble.running and not controller.running
