"""The training dashboard end to end: real runs in a child process on the built-in dataset.

Each run is tiny (a few hundred generated images, a small network) but real:
the engine runs in a spawned process, its records come back through the
queue, and the charts, progress bar and results are checked from the widgets.
"""

from __future__ import annotations

import json
import multiprocessing

import pytest
from PySide6.QtCore import Qt

from convstudio.core.design import Design
from convstudio.core.training.run_folder import RunFolder
from convstudio.core.training.settings import TrainingSettings
from convstudio.core.training.design_settings import with_training

pytestmark = pytest.mark.slow
RUN_TIMEOUT_MS = 90_000


def tiny_design(**training) -> Design:
    """A small network for 3x32x32 images, with a dropout layer, and quick training settings."""
    design = Design.model_validate({
        "name": "tiny dashboard test",
        "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
            {"kind": "batchnorm"},
            {"kind": "maxpool2d", "kernel_size": 2},
            {"kind": "flatten"},
            {"kind": "dropout", "p": 0.2},
            {"kind": "linear", "out_features": 10, "activation": "none"},
        ],
    })
    settings = {"dataset": "shapes", "data_limit": 300, "epochs": 2, "batch_size": 16, "learning_rate": 3e-3,
                "mc_samples": 2, "state_every": 3, "report_every": 2, "device": "cpu", **training}
    return with_training(design, TrainingSettings(**settings))


@pytest.fixture
def train_window(make_window, tmp_path, monkeypatch):
    """A window on the tiny design, runs kept under tmp_path, the training dock in front."""
    monkeypatch.setenv("CONVSTUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CONVSTUDIO_DATA", str(tmp_path / "data"))

    def make(**training):
        window = make_window(tiny_design(**training))
        window.train_dock.raise_()
        return window

    yield make
    assert multiprocessing.active_children() == []  # no training process outlives its test


def wait_for_end(qtbot, panel) -> None:
    qtbot.waitUntil(lambda: not panel.running, timeout=RUN_TIMEOUT_MS)


def settled_step_count(qtbot, panel, quiet_ms: int = 500) -> int:
    """The number of steps received, once none has arrived for ``quiet_ms``."""
    while True:
        count = len(panel.curves.loss)
        qtbot.wait(quiet_ms)
        if len(panel.curves.loss) == count:
            return count


def test_a_short_run_fills_the_charts_and_shows_the_results(qtbot, train_window, tmp_path):
    window = train_window()
    panel = window.train_panel
    assert panel.findChild(type(panel.start_button), "startButton") is panel.start_button
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.running and not panel.start_button.isEnabled() and panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: len(panel.curves.loss) > 0, timeout=RUN_TIMEOUT_MS)
    wait_for_end(qtbot, panel)

    assert not panel.message.isVisible(), panel.message.text()
    assert panel.tabs.currentWidget() is panel.results  # a run with test results shows them
    charts = panel.charts
    panel.tabs.setCurrentWidget(charts)
    qtbot.waitUntil(lambda: charts.loss_chart.point_count("loss") == len(panel.curves.loss))
    charts.draw_all()
    steps = len(panel.curves.loss)
    assert steps == 2 * 17  # 270 training images in batches of 16, two epochs
    assert charts.loss_chart.point_count("smoothed") == steps
    assert charts.loss_chart.point_count("val_loss") == 2
    assert charts.accuracy_chart.point_count("val_accuracy") == 2
    assert charts.rate_chart.point_count("learning_rate") == steps
    assert charts.gradient_chart.has_curve("conv1") and charts.ratio_chart.has_curve("fc1")
    assert all(charts.optimizer_chart.has_curve(name) for name in ("s", "r", "s_hat", "r_hat", "step_mean"))
    assert "Adam" in charts.optimizer_chart.title_label.text()
    assert "finished" in panel.progress.format()
    assert panel.progress.value() == panel.progress.maximum()

    results = panel.results
    assert results.results is not None and results.results.reason == "finished"
    assert len(results.results.confusion) == 10 and "Test accuracy" in results.summary.text()
    examples = results.results.examples
    assert examples is not None and len(examples.labels) == 32
    assert results.mistakes_marked == examples.mistakes
    assert not results.dropout_table.isHidden() and "Monte Carlo, T = 2" in results.dropout_table.verticalHeaderItem(1).text()

    runs = panel.runs.runs
    assert len(runs) == 1 and runs[0].reason == "finished" and runs[0].epochs_done == 2
    assert runs[0].path.parent == tmp_path / "runs" / "tiny-dashboard-test"
    assert (runs[0].path / "results.json").is_file() and (runs[0].path / "examples.npz").is_file()
    assert not window.design_document.modified  # training changes nothing in the design


def test_pause_resume_stop_mid_epoch_and_resume_from_the_runs_list(qtbot, train_window):
    window = train_window(epochs=10)
    panel = window.train_panel
    assert panel.start()
    panel.toggle_pause()  # paused before the first batch: the child starts held
    assert panel.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: panel.progress_model is not None, timeout=RUN_TIMEOUT_MS)
    qtbot.wait(800)
    assert len(panel.curves.loss) == 0 and "Paused" in panel.status.text()

    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)  # resume
    assert panel.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: len(panel.curves.val_loss) >= 1, timeout=RUN_TIMEOUT_MS)  # an epoch is done
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert panel.worker.paused
    held = settled_step_count(qtbot, panel)  # the steps taken before the pause was seen have arrived
    qtbot.wait(700)
    assert len(panel.curves.loss) == held  # nothing trains while paused
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    wait_for_end(qtbot, panel)

    run = panel.runs.runs[0]
    status = RunFolder(run.path).status()
    assert status["reason"] == "stopped" and "batch" in status["message"]
    assert 1 <= run.epochs_done < 10 and run.resumable
    assert panel.results.results.reason == "stopped"  # stopped after an epoch: test results exist

    panel.runs.select(run.path)
    assert panel.runs.buttons["resumeRunButton"].isEnabled()
    qtbot.mouseClick(panel.runs.buttons["resumeRunButton"], Qt.MouseButton.LeftButton)
    assert panel.running
    wait_for_end(qtbot, panel)
    metrics = RunFolder(run.path).read_lines("metrics.jsonl")
    assert [row["epoch"] for row in metrics] == list(range(1, 11))
    assert list(panel.curves.loss.data()[0]) == list(range(1, 10 * 17 + 1))  # the resumed curve continues
    assert RunFolder(run.path).status()["reason"] == "finished"


def test_closing_the_window_during_a_run_stops_it_and_waits(qtbot, train_window):
    window = train_window(epochs=50)
    panel = window.train_panel
    assert panel.start()
    qtbot.waitUntil(lambda: len(panel.curves.loss) > 0, timeout=RUN_TIMEOUT_MS)
    process = panel.worker.process
    assert process.alive
    window.close()
    assert not process.alive and process.exit_code == 0
    assert not panel.running
    status = RunFolder(process.run_dir).status()
    assert status["reason"] == "stopped"  # a clean stop: the run folder says why it ended


def test_a_child_that_outlasts_the_close_timeout_is_ended_and_its_folder_says_so(qtbot, train_window):
    window = train_window(epochs=50)
    panel = window.train_panel
    assert panel.start()
    qtbot.waitUntil(lambda: len(panel.curves.loss) > 0, timeout=RUN_TIMEOUT_MS)
    process = panel.worker.process
    panel.worker.shut_down(timeout=0.0)  # no time to finish: the child is terminated
    assert not process.alive and process.exit_code != 0
    status = RunFolder(process.run_dir).status()
    assert status["status"] == "ended" and status["reason"] == "stopped" and "cut short" in status["message"]
    assert not panel.running and panel.start_button.isEnabled()


def test_a_missing_dataset_is_explained_and_the_app_stays_usable(qtbot, train_window, tmp_path):
    window = train_window(dataset="cifar10")
    panel = window.train_panel
    assert panel.start()
    wait_for_end(qtbot, panel)
    text = panel.message.text()
    assert panel.message.isVisible() and "CIFAR10 is not in" in text and str(tmp_path / "data") in text
    assert "Run failed" in panel.status.text()
    assert panel.start_button.isEnabled() and panel.form.editors["epochs"].isEnabled()
    assert "CIFAR10" in window.statusBar().currentMessage()


def test_an_invalid_design_does_not_start_and_says_why(make_window, monkeypatch, tmp_path):
    monkeypatch.setenv("CONVSTUDIO_RUNS", str(tmp_path / "runs"))
    design = Design.model_validate({"name": "broken", "input": {"channels": 3, "height": 4, "width": 4},
                                    "layers": [{"kind": "conv2d", "out_channels": 2, "kernel_size": 7}]})
    window = make_window(design)
    panel = window.train_panel
    assert not panel.start()
    assert not panel.running
    assert panel.message.text().startswith("Cannot train this design: ")
    assert window.design_document.report.first_error() in panel.message.text()
    assert not (tmp_path / "runs").exists()


def test_a_diverging_run_ends_with_a_message_and_keeps_its_folder(qtbot, train_window):
    window = train_window(optimizer="sgd", learning_rate=10.0, momentum=0.9, epochs=3)
    panel = window.train_panel
    assert panel.start()
    wait_for_end(qtbot, panel)
    assert panel.message.isVisible() and "the loss became" in panel.message.text()
    run_dir = panel.run_dir
    assert str(run_dir) in panel.message.text()
    assert json.loads((run_dir / "run.json").read_text())["reason"] == "non_finite_loss"
    assert panel.start_button.isEnabled()
