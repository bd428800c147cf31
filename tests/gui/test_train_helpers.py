"""The dashboard's plain helpers: buffers, progress and time left, run folders, saved results, worker messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convstudio.core.data import load_dataset
from convstudio.core.presets import load_preset
from convstudio.core.training.predictions import ExamplePredictions, load_results, per_class_accuracy, predict_examples, save_results
from convstudio.core.training.records import DropoutComparison, EndReason, RunEnded, RunStarted, StepRecord
from convstudio.core.training.run_index import design_slug, new_run_dir
from convstudio.core.jobs import JobExited, JobFailed
from convstudio.core.training.worker_process import RunRequest, TrainingProcess
from convstudio.gui.charts.buffers import RunCurves, Series
from convstudio.gui.training.progress import RunProgress, format_duration
from convstudio.gui.training.worker import TrainingWorker


def test_series_grow_and_the_loss_is_smoothed():
    series = Series(capacity=2)
    for i in range(10):
        series.append(i, 2 * i)
    x, y = series.data()
    assert list(x) == list(range(10)) and list(y) == [2 * i for i in range(10)] and series.last() == (9.0, 18.0)
    curves = RunCurves()
    records = [StepRecord(s, 0, s - 1, 10, loss, 0.5, 1e-3, 100.0) for s, loss in enumerate([1.0, 3.0, float("nan")], 1)]
    curves.add_steps(records)
    smoothed = curves.smoothed_loss.data()[1]
    assert smoothed[0] == 1.0 and smoothed[1] == pytest.approx(0.9 * 1.0 + 0.1 * 3.0) and smoothed[2] == smoothed[1]
    assert curves.versions["steps"] == 1 and curves.versions["layers"] == 0


def test_progress_counts_steps_and_estimates_the_time_left():
    started = RunStarted(None, "cpu", "CPU", "shapes", 100, 10, 10, 10, 3, 1, 1000, ("a",))
    progress = RunProgress.from_started(started)
    assert progress.step == 10 and progress.fraction == pytest.approx(1 / 3)
    progress.add(StepRecord(11, 1, 0, 10, 1.0, 0.5, 1e-3, 250.0), now=100.0)
    assert progress.seconds_left() is None
    progress.add(StepRecord(15, 1, 4, 10, 1.0, 0.5, 1e-3, 250.0), now=102.0)
    assert progress.seconds_left() == pytest.approx(15 * 2 / 4)
    assert progress.text() == "Epoch 2/3 · batch 5/10 · 250 img/s · 8 s left"
    assert format_duration(3725) == "1:02:05" and format_duration(65) == "1:05"


def test_run_folders_are_named_by_design_and_time(tmp_path):
    assert design_slug("Small and fast (built-in shapes)") == "small-and-fast-built-in-shapes"
    assert design_slug("***") == "design"
    first = new_run_dir(tmp_path, "My net", now=0)
    first.mkdir(parents=True)
    second = new_run_dir(tmp_path, "My net", now=0)
    assert first.parent == second.parent == tmp_path / "my-net" and second.name == first.name + "-2"


def test_predictions_and_results_round_trip_through_the_run_folder(tmp_path):
    data = load_dataset("shapes", limit=20, seed=0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    examples = predict_examples(model, data, "cpu", count=8)
    assert examples.images.shape == (8, 3, 32, 32) and examples.images.dtype == np.uint8
    assert len(examples.predicted) == 8 and all(0 <= p < 10 for p in examples.predicted)
    ended = RunEnded(EndReason.FINISHED, "finished 1 epochs", 1, 0, 2.0, test_loss=2.1, test_accuracy=0.25,
                     confusion=((1, 1), (0, 2)), dropout=DropoutComparison(0.5, 1.0, 0.55, 0.9, 4))
    save_results(tmp_path, ended, ("a", "b"), examples)
    results = load_results(tmp_path)
    assert results.confusion == ((1, 1), (0, 2)) and results.per_class_accuracy == (0.5, 1.0)
    assert results.dropout.samples == 4 and results.classes == ("a", "b")
    assert isinstance(results.examples, ExamplePredictions) and np.array_equal(results.examples.images, examples.images)
    assert results.examples.predicted == examples.predicted
    assert per_class_accuracy(((0, 0), (1, 1))) == (None, 0.5)
    assert load_results(tmp_path / "nothing") is None


@pytest.mark.parametrize(("request_", "words"), [
    (RunRequest("RUN", None, None, resume=True), "run: no such folder; --resume takes the folder of a run"),
    (RunRequest("RUN", load_preset("lenet").to_json(), '{"epochs": 0}'), "the training settings are not valid"),
])
def test_what_cannot_start_comes_back_as_a_message_not_a_crash(tmp_path, request_, words):
    request_ = RunRequest(str(tmp_path / "run"), request_.design_json, request_.settings_json, request_.resume)
    process = TrainingProcess(request_, backend="thread")
    process.start()
    received = process.close(timeout=30)
    failures = [item for item in received if isinstance(item, JobFailed)]
    assert failures and words in failures[0].message and not failures[0].details
    assert isinstance(received[-1], JobExited)


class _DeadProcess:
    run_dir = "/runs/x"
    paused = False


@pytest.mark.parametrize(("code", "words"), [(-9, "signal 9 (the system may have run out of memory"),
                                             (3, "ended unexpectedly (exit status 3)")])
def test_a_child_that_dies_without_a_word_is_reported(qapp, code, words):
    worker = TrainingWorker()
    worker.background.job = _DeadProcess()
    failures, finished = [], []
    worker.failed.connect(failures.append)
    worker.finished.connect(lambda: finished.append(True))
    worker.background._dispatch([JobExited(code)])
    assert words in failures[0] and "/runs/x is kept" in failures[0]
    assert finished == [True] and not worker.running
