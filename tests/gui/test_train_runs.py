"""The Runs tab: list a design's runs, reopen one, overlay two, open the design a run used.

The runs are made once per module by the dashboard's own child code
(``run_in_child``), called directly on the test's thread, so their folders hold
exactly what a run started from the window leaves, results included. (Not on a
second thread: a Qt object left for the garbage collector could then be freed
there, which PySide does not survive.)
"""

from __future__ import annotations

import queue
import threading
import time

import pytest
from PySide6.QtCore import QSettings, Qt

from convstudio.core.design import Design
from convstudio.core.jobs import JobFailed
from convstudio.core.training.run_folder import RunFolder
from convstudio.core.training.run_index import design_runs_folder, list_runs, new_run_dir, read_history
from convstudio.core.training.settings import TrainingSettings
from convstudio.core.training.worker_process import RunRequest, run_in_child
from convstudio.core.training.design_settings import with_training

DESIGN_NAME = "tiny runs test"


def runs_design(**training) -> Design:
    design = Design.model_validate({
        "name": DESIGN_NAME,
        "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
            {"kind": "maxpool2d", "kernel_size": 4},
            {"kind": "flatten"},
            {"kind": "linear", "out_features": 10, "activation": "none"},
        ],
    })
    settings = {"dataset": "shapes", "data_limit": 200, "epochs": 2, "batch_size": 30, "device": "cpu",
                "state_every": 2, "report_every": 2, **training}
    return with_training(design, TrainingSettings(**settings))


def train_here(runs_root, design: Design, stop_at_once: bool = False):
    """One run, as the dashboard's child does it, in this thread; returns its folder.

    ``stop_at_once`` asks it to stop before its first batch.
    """
    run_dir = new_run_dir(runs_root, design.name)
    request = RunRequest(str(run_dir), design.to_json(), TrainingSettings(**design.training).model_dump_json())
    stop = threading.Event()
    if stop_at_once:
        stop.set()
    channel = queue.Queue()
    run_in_child(request, channel, threading.Event(), stop, threading.Event())
    sent = [item for batch in channel.queue for item in batch]
    assert not any(isinstance(item, JobFailed) for item in sent), sent
    return run_dir


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    first = train_here(root, runs_design())
    time.sleep(1.1)  # run folders are named by the second they start
    second = train_here(root, runs_design(optimizer="sgd", learning_rate=0.05, momentum=0.9))
    return root, first, second


@pytest.fixture
def runs_window(make_window, runs_root, monkeypatch, tmp_path):
    root, first, second = runs_root
    monkeypatch.setenv("CONVSTUDIO_RUNS", str(root))
    monkeypatch.setenv("CONVSTUDIO_DATA", str(tmp_path / "data"))
    window = make_window(runs_design())
    window.train_dock.raise_()
    window.train_panel.tabs.setCurrentWidget(window.train_panel.runs)
    return window, first, second


def test_the_runs_list_shows_this_designs_runs_newest_first(runs_window, runs_root):
    window, first, second = runs_window
    view = window.train_panel.runs
    assert view.folder == design_runs_folder(runs_root[0], DESIGN_NAME)
    assert [run.path for run in view.runs] == [second, first]
    assert view.tree.topLevelItemCount() == 2
    item = view.tree.topLevelItem(1)
    assert item.text(0) == first.name and item.text(1) == "finished" and item.text(2) == "2/2"
    assert item.text(5) == "shapes" and view.tree.topLevelItem(0).text(6) == "sgd"
    assert not view.buttons["showRunButton"].isEnabled()
    view.select(first)
    assert view.buttons["showRunButton"].isEnabled() and not view.buttons["resumeRunButton"].isEnabled()


def test_reopening_a_run_shows_its_charts_and_results(qtbot, runs_window):
    window, first, _ = runs_window
    panel = window.train_panel
    panel.runs.select(first)
    qtbot.mouseClick(panel.runs.buttons["showRunButton"], Qt.MouseButton.LeftButton)
    assert panel.tabs.currentWidget() is panel.charts
    history = read_history(first)
    assert len(panel.curves.loss) == len(history.steps) == 2 * 6  # 180 training images in batches of 30
    assert panel.charts.loss_chart.point_count("loss") == len(history.steps)
    assert panel.charts.loss_chart.point_count("val_loss") == 2
    results = panel.results.results
    assert results is not None and results.reason == "finished" and len(results.confusion) == 10
    assert results.examples is not None and len(panel.results.example_cells) == 2 * len(results.examples.labels)
    assert first.name in panel.status.text()


def test_two_runs_overlaid(qtbot, runs_window):
    window, first, second = runs_window
    panel = window.train_panel
    panel.runs.select(first, second)
    assert panel.runs.buttons["overlayRunsButton"].isEnabled()
    qtbot.mouseClick(panel.runs.buttons["overlayRunsButton"], Qt.MouseButton.LeftButton)
    charts = panel.charts
    assert charts.overlay is not None and charts.overlay_label == second.name
    assert charts.loss_chart.point_count("overlay_loss") == len(read_history(second).steps)
    assert charts.accuracy_chart.point_count("overlay_acc") == 2
    assert "SGD" in charts.optimizer_chart.title_label.text() or "Adam" in charts.optimizer_chart.title_label.text()
    panel.show_run(first)
    assert charts.overlay is None and not charts.loss_chart.has_curve("overlay_loss")


def test_opening_the_design_a_run_used(runs_window):
    window, _, second = runs_window
    panel = window.train_panel
    window.train_panel.form.set_setting("epochs", 7)  # an unsaved change: the window asks first
    assert panel.open_run_design(second)
    assert window.dialogs.questions and window.dialogs.questions[-1][0] == "Unsaved changes"
    document = window.design_document
    assert document.design == RunFolder(second).design() and document.path is None and not document.modified
    assert document.design.training["optimizer"] == "sgd"


def test_the_runs_folder_can_be_changed_and_is_remembered(runs_window, tmp_path, monkeypatch):
    window, _, _ = runs_window
    panel = window.train_panel
    monkeypatch.delenv("CONVSTUDIO_RUNS")
    panel.choose_folder = lambda title: str(tmp_path / "elsewhere")
    panel.runs.buttons["runsRootButton"].click()
    assert panel.runs_root == tmp_path / "elsewhere"
    assert panel.runs.folder == design_runs_folder(tmp_path / "elsewhere", DESIGN_NAME) and panel.runs.runs == []
    assert QSettings().value("training/runsRoot") == str(tmp_path / "elsewhere")
    from convstudio.gui.training.panel import default_runs_root

    assert default_runs_root() == tmp_path / "elsewhere"


def test_a_run_stopped_before_its_first_epoch_has_no_results(qtbot, runs_window, tmp_path):
    window, _, _ = runs_window
    panel = window.train_panel
    stopped = train_here(tmp_path / "stopped", runs_design(epochs=3), stop_at_once=True)
    summary = list_runs(stopped.parent)[0]
    assert summary.reason == "stopped" and summary.epochs_done == 0 and not summary.resumable
    panel.show_run(stopped)
    assert "no test results" in panel.results.summary.text()
