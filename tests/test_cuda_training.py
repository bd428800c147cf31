"""The CUDA path of the engine: autocast, channels-last, resume, augmentation on the device, no per-step sync,
Monte Carlo dropout and export of a CUDA-trained run.

Every test here needs a GPU: marked ``cuda`` (``pytest -m cuda``; bench/gpu_suite.py runs them)
and skipped where CUDA is absent.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from convstudio.core.data import AugmentationSettings, DeviceBatches, load_dataset
from convstudio.core.training.engine import TrainingRun
from convstudio.core.training.records import EndReason, RunEnded, StepRecord
from convstudio.core.training.settings import TrainingSettings

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

BASE = dict(dataset="shapes", data_limit=1024, epochs=2, batch_size=64, device="cuda", mc_samples=4,
            report_every=4, optimizer="sgd", learning_rate=0.05, precision="fp32", channels_last="off")


def bn_dropout_design():
    """A small net with batch norm and dropout, so every CUDA kernel family of the engine runs."""
    from convstudio.core.design import Design

    return Design.model_validate({
        "name": "cuda_check", "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
            {"kind": "batchnorm"},
            {"kind": "maxpool2d", "kernel_size": 4},
            {"kind": "flatten"},
            {"kind": "dropout", "p": 0.3},
            {"kind": "linear", "out_features": 10, "activation": "none"},
        ],
    })


def train(run_dir=None, design=None, **changes):
    settings = TrainingSettings(**{**BASE, **changes})
    return list(TrainingRun(design or bn_dropout_design(), settings, run_dir).records())


def step_losses(records) -> list[float]:
    return [record.loss for record in records if isinstance(record, StepRecord)]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_trains_and_fp16_uses_the_scaler(precision, monkeypatch):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    scaled = []
    original = torch.amp.GradScaler.scale
    monkeypatch.setattr(torch.amp.GradScaler, "scale", lambda self, loss: scaled.append(1) or original(self, loss))
    records = train(precision=precision)
    assert records[-1].reason == EndReason.FINISHED, records[-1].message
    losses = step_losses(records)
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    assert bool(scaled) == (precision == "fp16")


def test_channels_last_training_keeps_its_memory_format():
    run = TrainingRun(bn_dropout_design(), TrainingSettings(**{**BASE, "channels_last": "on"}))
    records = list(run.records())
    assert records[-1].reason == EndReason.FINISHED
    weight = next(p for p in run.prepared.model.parameters() if p.dim() == 4)  # the convolution's kernel
    assert weight.is_cuda and weight.is_contiguous(memory_format=torch.channels_last)


def test_auto_picks_a_fast_precision_on_the_gpu():
    run = TrainingRun(bn_dropout_design(), TrainingSettings(**{**BASE, "precision": "auto", "channels_last": "auto",
                                                                "epochs": 1}))
    records = list(run.records())
    assert records[-1].reason == EndReason.FINISHED
    assert run.prepared.precision == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    assert "auto:" in records[0].device_reason


def test_resume_on_cuda_repeats_the_uninterrupted_loss_sequence(tmp_path, monkeypatch):
    from convstudio.core.training.run_folder import RunFolder

    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    try:
        changes = dict(epochs=3, augmentation=AugmentationSettings(flip=True, crop_padding=2))
        train(tmp_path / "whole", **changes)
        interrupted = TrainingRun(bn_dropout_design(), TrainingSettings(**{**BASE, **changes}), tmp_path / "cut")
        for record in interrupted.records():
            if isinstance(record, StepRecord) and record.epoch == 1 and record.batch >= 3:
                interrupted.control.stop()
        resumed = list(TrainingRun(None, None, tmp_path / "cut", resume=True).records())
    finally:
        torch.use_deterministic_algorithms(False)
    assert resumed[0].start_epoch >= 1 and resumed[-1].reason == EndReason.FINISHED
    expected = [row["loss"] for row in RunFolder(tmp_path / "whole").read_lines("steps.jsonl")]
    actual = [row["loss"] for row in RunFolder(tmp_path / "cut").read_lines("steps.jsonl")]
    assert actual == expected


def test_augmentation_runs_on_the_device_and_repeats_per_seed():
    data = load_dataset("shapes", limit=256)
    augmentation = AugmentationSettings(flip=True, rotate_degrees=15, crop_scale=0.7, brightness=0.2, contrast=0.2)

    def batches():
        return DeviceBatches(data.train_images, data.train_labels, 32, "cuda", data.mean, data.std, True,
                             augmentation, seed=3)

    first = [images for images, _ in batches().epoch(1)]
    again = [images for images, _ in batches().epoch(1)]
    assert first[0].is_cuda and first[0].dtype == torch.float32
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    plain = DeviceBatches(data.train_images, data.train_labels, 32, "cuda", data.mean, data.std, True, None, seed=3)
    assert not torch.equal(next(iter(plain.epoch(1)))[0], first[0])


def test_training_steps_do_not_wait_for_the_gpu():
    """Between two read-backs (every report_every steps) the loop never synchronises with the device."""
    steps_between = 20
    run = TrainingRun(bn_dropout_design(), TrainingSettings(**{**BASE, "report_every": steps_between,
                                                                "state_every": 100_000, "epochs": 1,
                                                                "data_limit": 64 * 45, "mc_samples": 1}))
    records = run.records()
    next(records)  # RunStarted: setup is done
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            first_read_back = next(records)  # steps 1..20 run, then one read-back
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert isinstance(first_read_back, StepRecord)
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    # One read-back of the losses (a copy to the host) is expected; a sync per step would give 20 or more.
    assert len(syncs) <= 3, [str(w.message) for w in syncs]
    for _ in records:
        pass


def test_monte_carlo_dropout_on_cuda():
    records = train(epochs=1, mc_samples=8)
    ended = records[-1]
    assert isinstance(ended, RunEnded) and ended.dropout is not None
    assert ended.dropout.samples == 8 and 0 <= ended.dropout.monte_carlo_accuracy <= 1


def test_a_cuda_trained_run_exports_and_runs_on_the_cpu(tmp_path):
    from convstudio.core.cli import main

    records = train(tmp_path / "run", epochs=1)
    assert records[-1].reason == EndReason.FINISHED
    for name in ("model.py", "model.pt2"):
        assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / name)]) == 0, name
    program = torch.export.load(str(tmp_path / "model.pt2"))
    logits = program.module()(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10) and logits.device.type == "cpu"
