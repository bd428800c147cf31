"""The training engine end to end on small data: stop, pause, failures, resume, reproducibility."""

from __future__ import annotations

import json
import threading
import time

import pytest
import torch

from convstudio.core.data import load_dataset
from convstudio.core.design import Design
from convstudio.core.presets import load_preset
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.records import EndReason, EpochRecord, RunEnded, RunStarted, StepRecord
from convstudio.core.training.run_folder import RunFolder, load_checkpoint
from convstudio.core.training.settings import TrainingSettings
from convstudio.core.training.setup import TrainingSetupError


@pytest.fixture(scope="module")
def small_shapes():
    """A few hundred images of the built-in dataset, generated once."""
    return load_dataset("shapes", limit=600, seed=0)


def _tiny_design() -> Design:
    return Design.model_validate({
        "name": "tiny",
        "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
            {"kind": "maxpool2d", "kernel_size": 4},
            {"kind": "flatten"},
            {"kind": "dropout", "p": 0.3},
            {"kind": "linear", "out_features": 10, "activation": "none"},
            {"kind": "softmax"},
        ],
    })


def _settings(**overrides) -> TrainingSettings:
    return TrainingSettings(**{"epochs": 2, "batch_size": 64, "learning_rate": 3e-3, "report_every": 2,
                               "state_every": 3, "mc_samples": 4, **overrides})


def _collect(run: TrainingRun, on_record=None) -> list:
    records = []
    for record in run.records():
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records


def test_a_run_reports_every_step_epoch_and_its_end(small_shapes, tmp_path):
    run = TrainingRun(_tiny_design(), _settings(), tmp_path / "run", data=small_shapes)
    records = _collect(run)
    started, *middle, ended = records
    assert isinstance(started, RunStarted) and started.device == "cpu"
    steps = [r for r in middle if isinstance(r, StepRecord)]
    epochs = [r for r in middle if isinstance(r, EpochRecord)]
    assert [s.step for s in steps] == list(range(1, 2 * started.batches_per_epoch + 1))
    assert len(epochs) == 2
    assert isinstance(ended, RunEnded) and ended.reason == EndReason.FINISHED
    with_state = [s for s in steps if s.optimizer_state is not None]
    assert [s.step for s in with_state] == [s for s in range(1, len(steps) + 1) if s % 3 == 0]
    assert {"s", "r", "s_hat", "r_hat"} <= set(with_state[0].optimizer_state[0].values)
    assert [stat.layer for stat in with_state[0].layer_stats] == ["conv1", "fc1"]
    assert ended.test_accuracy is not None and len(ended.confusion) == 10
    assert ended.dropout is not None and ended.dropout.samples == 4
    metrics = RunFolder(tmp_path / "run").read_lines("metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert {"epoch", "train_loss", "val_loss", "val_accuracy"} <= set(metrics[0])
    assert json.loads((tmp_path / "run" / "run.json").read_text())["reason"] == "finished"
    # checkpoints hold tensors and plain data only
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and "conv1.weight" in state["model"]


def test_same_seed_same_losses(small_shapes):
    def losses():
        run = TrainingRun(_tiny_design(), _settings(epochs=1, augmentation={"flip": True, "rotate_degrees": 10}),
                          data=small_shapes)
        return [r.loss for r in _collect(run) if isinstance(r, StepRecord)]

    assert losses() == losses()


def test_stop_takes_effect_within_one_batch(small_shapes):
    run = TrainingRun(_tiny_design(), _settings(report_every=1), data=small_shapes)

    def stop_at_step_3(record):
        if isinstance(record, StepRecord) and record.step == 3:
            run.control.stop()

    records = _collect(run, stop_at_step_3)
    assert max(r.step for r in records if isinstance(r, StepRecord)) == 3
    assert records[-1].reason == EndReason.STOPPED


def test_pause_holds_the_loop_until_resumed(small_shapes):
    run = TrainingRun(_tiny_design(), _settings(report_every=1, epochs=1), data=small_shapes)
    seen = []

    def consume():
        for record in run.records():
            seen.append(record)
            if isinstance(record, StepRecord) and record.step == 2:
                run.control.pause()

    worker = threading.Thread(target=consume)
    worker.start()
    deadline = time.monotonic() + 30
    while not run.control.paused and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)
    steps_while_paused = [r.step for r in seen if isinstance(r, StepRecord)]
    assert steps_while_paused == [1, 2]
    run.control.resume()
    worker.join(60)
    assert not worker.is_alive()
    assert seen[-1].reason == EndReason.FINISHED


def test_non_finite_loss_ends_the_run_with_a_message(small_shapes):
    settings = _settings(optimizer="sgd", learning_rate=10.0, momentum=0.9, epochs=3, report_every=1)
    ended = _collect(TrainingRun(_tiny_design(), settings, data=small_shapes))[-1]
    assert ended.reason == EndReason.NON_FINITE_LOSS
    assert "learning rate" in ended.message


def test_resume_reproduces_the_uninterrupted_loss_sequence(small_shapes, tmp_path):
    settings = _settings(epochs=3, augmentation={"flip": True})
    whole = TrainingRun(_tiny_design(), settings, tmp_path / "whole", data=small_shapes)
    _collect(whole)
    interrupted = TrainingRun(_tiny_design(), settings, tmp_path / "cut", data=small_shapes)

    def stop_in_third_epoch(record):
        if isinstance(record, StepRecord) and record.epoch == 2 and record.batch == 1:
            interrupted.control.stop()

    assert _collect(interrupted, stop_in_third_epoch)[-1].reason == EndReason.STOPPED
    resumed = TrainingRun(None, None, tmp_path / "cut", resume=True, data=small_shapes)
    records = _collect(resumed)
    assert records[0].start_epoch == 2
    assert records[-1].reason == EndReason.FINISHED
    expected = [row["loss"] for row in RunFolder(tmp_path / "whole").read_lines("steps.jsonl")]
    actual = [row["loss"] for row in RunFolder(tmp_path / "cut").read_lines("steps.jsonl")]
    assert actual == expected
    whole_metrics = RunFolder(tmp_path / "whole").read_lines("metrics.jsonl")
    cut_metrics = RunFolder(tmp_path / "cut").read_lines("metrics.jsonl")
    assert [m["val_loss"] for m in cut_metrics] == [m["val_loss"] for m in whole_metrics]


def test_early_stopping_restores_the_best_weights(small_shapes, tmp_path, monkeypatch):
    import convstudio.core.training.engine as engine_module
    from convstudio.core.training.evaluation import Evaluation

    scripted = iter([1.0, 0.5, 0.7, 0.8, 0.9, 0.95])
    monkeypatch.setattr(engine_module, "evaluate",
                        lambda *args, **kwargs: Evaluation(next(scripted, 1.0), 0.5, ((1,),)))
    settings = _settings(epochs=6, early_stopping=True, patience=2)
    run = TrainingRun(_tiny_design(), settings, tmp_path / "run", data=small_shapes)
    records = _collect(run)
    ended = records[-1]
    assert ended.reason == EndReason.EARLY_STOPPING
    assert ended.epochs_completed == 4 and ended.best_epoch == 1
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["epoch"] == 2
    for name, tensor in run.prepared.model.state_dict().items():
        assert torch.equal(tensor, best["model"][name]), name


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad", "rmsprop", "adam", "lbfgs"])
def test_every_optimizer_lowers_the_loss(small_shapes, optimizer):
    lr = {"sgd": 0.05, "adagrad": 0.05, "rmsprop": 1e-3, "adam": 3e-3, "lbfgs": 0.5}[optimizer]
    settings = _settings(optimizer=optimizer, learning_rate=lr, epochs=3, batch_size=128 if optimizer == "lbfgs" else 64)
    records = _collect(TrainingRun(_tiny_design(), settings, data=small_shapes))
    epochs = [r for r in records if isinstance(r, EpochRecord)]
    assert records[-1].reason == EndReason.FINISHED
    assert epochs[-1].train_loss < epochs[0].train_loss


@pytest.mark.parametrize("schedule", ["step", "cosine", "one_cycle"])
def test_schedules_shape_the_learning_rate(small_shapes, schedule):
    settings = _settings(schedule=schedule, epochs=2, step_epochs=1, step_gamma=0.5, report_every=1)
    records = _collect(TrainingRun(_tiny_design(), settings, data=small_shapes))
    rates = [r.learning_rate for r in records if isinstance(r, StepRecord)]
    per_epoch = len(rates) // 2
    if schedule == "step":
        assert set(rates[:per_epoch]) == {3e-3} and set(rates[per_epoch:]) == {1.5e-3}
    elif schedule == "cosine":
        assert rates[0] == pytest.approx(3e-3) and all(a >= b for a, b in zip(rates, rates[1:]))
        assert rates[-1] < 3e-4
    else:
        peak = rates.index(max(rates))
        assert 0 < peak < len(rates) - 1 and rates[0] < max(rates) / 5 and rates[-1] < max(rates) / 5


def test_a_design_that_does_not_fit_the_data_is_refused_with_how_to_fix(small_shapes):
    grey = load_preset("lenet")
    with pytest.raises(TrainingSetupError, match="set the design's input to channels 3, height 32, width 32"):
        list(TrainingRun(grey, _settings(), data=small_shapes).records())
    wrong_classes = _tiny_design().model_copy(deep=True)
    wrong_classes.layers[-2] = wrong_classes.layers[-2].model_copy(update={"out_features": 7})
    with pytest.raises(TrainingSetupError, match="linear layer of 10 outputs"):
        list(TrainingRun(wrong_classes, _settings(), data=small_shapes).records())


def test_the_small_preset_learns_the_builtin_dataset():
    """>= 90% validation accuracy on the built-in dataset in 6 epochs.

    The time it takes is a figure: ``python bench/builtin_dataset_baselines.py``.
    """
    data = load_dataset("shapes", limit=6000, seed=0)
    settings = TrainingSettings(epochs=6, batch_size=64, learning_rate=3e-3, mc_samples=2)
    records = _collect(TrainingRun(load_preset("shapes_small"), settings, data=data))
    best = max(r.val_accuracy for r in records if isinstance(r, EpochRecord))
    assert best >= 0.90, f"best validation accuracy {best:.3f}"
