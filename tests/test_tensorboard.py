"""TensorBoard event files: a run with ``tensorboard`` on writes them, and TensorBoard's own reader reads them back."""

from __future__ import annotations

import pytest

from convstudio.core.cli import main
from convstudio.core.design import save_design
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.settings import TrainingSettings
from design_helpers import tiny_design

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def read_scalars(folder):
    """Every scalar tag in ``folder`` as {tag: [(step, value), ...]}, read by TensorBoard's EventAccumulator."""
    accumulator_module = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    accumulator = accumulator_module.EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
            for tag in accumulator.Tags()["scalars"]}


def test_a_run_writes_events_that_tensorboard_reads_back(tmp_path):
    pytest.importorskip("tensorboard")
    settings = TrainingSettings(dataset="shapes", data_limit=200, batch_size=32, epochs=2, optimizer="adam",
                                state_every=2, tensorboard=True, mc_samples=1)
    run = TrainingRun(tiny_design(), settings, tmp_path / "run")
    ended = run.run()
    assert ended.reason.completed
    scalars = read_scalars(tmp_path / "run" / "tensorboard")
    steps = run.prepared.train_batches.__len__() * 2
    assert [step for step, _ in scalars["train/loss"]] == list(range(1, steps + 1))
    # the step losses are those of steps.jsonl, the epoch metrics those of metrics.jsonl
    logged = run.folder.read_lines("steps.jsonl")
    assert [value for _, value in scalars["train/loss"]] == pytest.approx([row["loss"] for row in logged], rel=1e-6)
    metrics = run.folder.read_lines("metrics.jsonl")
    assert [value for _, value in scalars["epoch/val_accuracy"]] == pytest.approx(
        [row["val_accuracy"] for row in metrics], rel=1e-6)
    assert scalars["train/learning_rate"][0][1] == pytest.approx(1e-3)
    assert any(tag.startswith("gradient_norm/conv1") for tag in scalars)
    assert any(tag.startswith("optimizer/conv1/") for tag in scalars)  # Adam's s, r, s_hat, r_hat
    assert scalars["test/accuracy"][0][1] == pytest.approx(ended.test_accuracy, rel=1e-6)


def test_without_the_setting_no_event_files(tmp_path):
    settings = TrainingSettings(dataset="shapes", data_limit=100, batch_size=32, epochs=1, mc_samples=1)
    TrainingRun(tiny_design(), settings, tmp_path / "run").run()
    assert not (tmp_path / "run" / "tensorboard").exists()


def test_cli_tensorboard_flag(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    design_file = tmp_path / "tiny.json"
    save_design(tiny_design(), design_file)
    status = main(["train", str(design_file), "--epochs", "1", "--limit", "100", "--tensorboard",
                   "--mc-samples", "1", "--out", str(tmp_path / "run")])
    assert status == 0
    assert "epoch/val_loss" in read_scalars(tmp_path / "run" / "tensorboard")


def test_missing_package_is_a_setup_error_saying_how_to_install(tmp_path, monkeypatch):
    from convstudio.core.experiments import tensorboard as board
    from convstudio.core.training.setup import TrainingSetupError

    monkeypatch.setattr(board, "tensorboard_available", lambda: False)
    settings = TrainingSettings(dataset="shapes", data_limit=100, epochs=1, tensorboard=True)
    with pytest.raises(TrainingSetupError, match=r"pip install 'convstudio\[tensorboard\]'"):
        TrainingRun(tiny_design(), settings, tmp_path / "run").run()
